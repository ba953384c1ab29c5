package io.amirror.standby;

import io.amirror.image.DiskImage;
import io.amirror.transport.Peer;
import io.amirror.transport.WireMessage;
import io.amirror.transport.WireMessage.Refuse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The replicas a running standby serves, and the order in which it touches them. A domain has two
 * locks: this process's (one connection at a time works on a domain, for the whole of a transfer)
 * and the file lock of {@link ReplicaDomain#lock()}, shared with the libvirt hook and the CLI, held
 * for a whole transfer too; a start that waits for it asks the transfer to let go.
 */
final class Replicas {
    private static final Logger log = LoggerFactory.getLogger(Replicas.class);

    private final Path root;
    private final DiskImage.Tools tools;
    private final ReplicaDisk.Retention floor;
    private final Tenancy tenancy;
    private final long maxDiskBytes;
    private final ConcurrentHashMap<UUID, ReentrantLock> inProcess = new ConcurrentHashMap<>();
    /** Bytes promised to transfers in progress: each counts the others' before it is admitted. */
    private final AtomicLong reserved = new AtomicLong();

    /**
     * {@code floor} is the standby's retention, which a primary's request may raise but never
     * lower; {@code tenancy} says which peer may touch which replica; no replica's disk may be
     * larger than {@code maxDiskBytes}.
     */
    Replicas(Path root, DiskImage.Tools tools, ReplicaDisk.Retention floor, Tenancy tenancy, long maxDiskBytes) {
        this.root = root;
        this.tools = tools;
        this.floor = floor;
        this.tenancy = tenancy;
        this.maxDiskBytes = maxDiskBytes;
    }

    Tenancy tenancy() {
        return tenancy;
    }

    long maxDiskBytes() {
        return maxDiskBytes;
    }

    List<ReplicaDomain> all() throws IOException {
        return ReplicaDomain.all(root, tools);
    }

    ReplicaDomain domain(UUID uuid) {
        return new ReplicaDomain(root, uuid, tools);
    }

    DiskImage.Tools tools() {
        return tools;
    }

    /** The disk with the standby's retention, raised by what its primary's policy asked for. */
    ReplicaDisk disk(ReplicaDomain rd, String disk) throws IOException {
        return rd.disk(disk, floor.withRequest(rd.manifest()));
    }

    /** The disk with the standby's own retention (requests that apply nothing). */
    ReplicaDisk diskAsConfigured(ReplicaDomain rd, String disk) {
        return rd.disk(disk, floor);
    }

    /**
     * The domain's point journal, its disks with the retention of {@link #disk}; short of space,
     * it may {@link #makeRoom} in the domain.
     */
    PointApply points(ReplicaDomain rd) throws IOException {
        ReplicaDisk.Retention r = floor.withRequest(rd.manifest());
        return new PointApply(rd, name -> rd.disk(name, r), () -> makeRoom(rd));
    }

    /**
     * Frees space in {@code rd} within the standby's floor: the points its primary asked to keep
     * beyond the standby's own retention go first (never the newest, never an immutable one).
     */
    void makeRoom(ReplicaDomain rd) throws IOException {
        for (String name : rd.diskNames()) {
            rd.disk(name, floor).pruneTo(floor);
        }
    }

    /** The bytes free for {@code disk}, less what transfers in progress were promised. */
    long free(ReplicaDisk disk) throws IOException {
        return disk.usableSpace() - reserved.get();
    }

    /** Promises {@code bytes} to a transfer until the returned reservation is closed. */
    AutoCloseable reserve(long bytes) {
        reserved.addAndGet(bytes);
        boolean[] done = {false};
        return () -> {
            if (!done[0]) {
                done[0] = true;
                reserved.addAndGet(-bytes);
            }
        };
    }

    /** This process's lock of {@code uuid}: one transfer or request per domain at a time. */
    ReentrantLock inProcessLock(UUID uuid) {
        return inProcess.computeIfAbsent(uuid, k -> new ReentrantLock());
    }

    /** What a request does to a replica under both its locks. */
    interface LockedCall {
        WireMessage call(ReplicaDomain rd) throws Exception;
    }

    /**
     * Runs {@code call} for {@code peer} holding the domain's locks (this process's, then the file
     * lock), after refusing another tenant's replica and a promoted one, and finishing a point a
     * crash interrupted; a refusal or a failure becomes a REFUSE.
     */
    WireMessage locked(Peer peer, UUID uuid, String what, LockedCall call) {
        ReplicaDomain rd = domain(uuid);
        ReentrantLock mine = inProcessLock(uuid);
        mine.lock();
        try (ReplicaDomain.Lock lock = rd.lock("standby daemon: " + what + " for " + peer.shortName())) {
            tenancy.check(rd, peer, what);
            Promotion.refuseDeltas(rd);
            points(rd).recover();
            return call.call(rd);
        } catch (StandbyRefusal r) {
            return new Refuse(r.code(), r.getMessage());
        } catch (Exception e) {
            log.error("{} of {} failed", what, uuid, e);
            return new Refuse(Refuse.INTERNAL, what + " failed: " + e.getMessage());
        } finally {
            mine.unlock();
        }
    }
}
