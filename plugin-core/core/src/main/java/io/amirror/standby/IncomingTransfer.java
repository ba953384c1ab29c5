package io.amirror.standby;

import io.amirror.delta.DeltaFiles.StaleSourceException;
import io.amirror.state.StateFormatException;
import io.amirror.transport.Peer;
import io.amirror.transport.WireMessage;
import io.amirror.transport.WireMessage.Ack;
import io.amirror.transport.WireMessage.Offer;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.transport.WireMessage.Resume;
import io.amirror.transport.WireMessage.Stale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One offered delta, from the OFFER to its answer after COMMIT: the bytes go into the disk's
 * partial file as they come ({@link PartialDelta}); at COMMIT the delta is verified whole and
 * staged ({@link ReplicaDisk#stage}), and when it was the point's last disk the point is applied
 * to all of them ({@link PointApply}), before it is acknowledged.
 *
 * <p>Both of the domain's locks are held from the offer to the end: this process's, so a second
 * connection for the same domain waits its turn, and the file lock ({@link ReplicaDomain#lock}),
 * so no hook or CLI changes the replica under the receive, the verify or the apply. A start of the
 * replica that waits for it ({@link Promotion#prepare}) is seen at the next DATA (at most once per
 * {@link #START_CHECK_NANOS}): the transfer ends there, what came stays for a resume, and the
 * failover goes first. A peer gone silent holds it at most the receiver's idle timeout.
 */
final class IncomingTransfer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(IncomingTransfer.class);

    private final Offer offer;
    private final ReplicaDomain domain;
    private final ReplicaDisk disk;
    private final Path file;
    private final PartialDelta partial;
    private final ReentrantLock inProcess;
    private final PointApply points;
    private final AutoCloseable reservation;
    private final ReplicaDomain.Lock lock;
    private long lastStartCheck = System.nanoTime();
    private boolean closed;

    /** How often, at most, a transfer looks whether a start of its replica waits. */
    static final long START_CHECK_NANOS = 1_000_000_000L;

    private IncomingTransfer(Offer offer, ReplicaDomain domain, ReplicaDisk disk, Path file, PartialDelta partial,
                             ReentrantLock inProcess, PointApply points, AutoCloseable reservation,
                             ReplicaDomain.Lock lock) {
        this.lock = lock;
        this.points = points;
        this.reservation = reservation;
        this.offer = offer;
        this.domain = domain;
        this.disk = disk;
        this.file = file;
        this.partial = partial;
        this.inProcess = inProcess;
    }

    /** The standby's answer to an offer, and the transfer when that answer is RESUME. */
    record Admission(WireMessage answer, IncomingTransfer transfer) {
    }

    /**
     * Answers {@code o} from {@code peer}: ACK when this very delta was applied or staged before
     * (its ACK was lost), REFUSE when the peer may not touch the replica or the replica cannot take
     * it, else RESUME at the bytes already held, with the transfer open.
     */
    static Admission admit(Offer o, Peer peer, Replicas replicas) throws IOException {
        ReentrantLock inProcess = replicas.inProcessLock(o.domain());
        inProcess.lock();
        boolean admitted = false;
        try {
            ReplicaDomain rd = replicas.domain(o.domain());
            ReplicaDomain.Lock lock = rd.lock("standby daemon: receiving " + o.disk() + " " + o.basePoint() + "->"
                    + o.newPoint() + " from " + peer.shortName());
            try {
                replicas.tenancy().check(rd, peer, "offer of " + o.disk());
                Promotion.refuseDeltas(rd);
                PointApply points = replicas.points(rd);
                ReplicaDisk disk = replicas.disk(rd, o.disk());
                finishEarlierApplies(points, disk, () -> replicas.makeRoom(rd));
                if (disk.alreadyApplied(o.newPoint(), o.sha256())) {
                    // applied before, but the ACK never arrived: acknowledge again, send nothing
                    return new Admission(new Ack(o.domain(), o.disk(), o.newPoint()), null);
                }
                if (disk.holdsStaged(o.basePoint(), o.newPoint(), o.sha256())) {
                    // staged before (the ACK was lost, or the point's other disks had not come): the
                    // point may be complete now
                    points.applyIfComplete(o.newPoint(), o.pointDisks(), null);
                    return new Admission(new Ack(o.domain(), o.disk(), o.newPoint()), null);
                }
                Path file;
                try {
                    file = disk.prepareIncoming(o.basePoint(), o.newPoint(), o.size(), o.sha256(), o.virtualSize(),
                            replicas.maxDiskBytes(), replicas.free(disk));
                } catch (StandbyRefusal r) {
                    if (r.code() != Refuse.NO_SPACE) {
                        throw r;
                    }
                    replicas.makeRoom(rd); // within the standby's floor; a second refusal goes to the primary
                    file = disk.prepareIncoming(o.basePoint(), o.newPoint(), o.size(), o.sha256(), o.virtualSize(),
                            replicas.maxDiskBytes(), replicas.free(disk));
                }
                replicas.tenancy().claim(rd, peer);
                AutoCloseable reservation = replicas.reserve(disk.spaceNeeded(o.size(), file));
                PartialDelta partial;
                try {
                    partial = PartialDelta.open(file);
                } catch (IOException e) {
                    release(reservation);
                    throw e;
                }
                IncomingTransfer t = new IncomingTransfer(o, rd, disk, file, partial, inProcess, points, reservation, lock);
                admitted = true;
                return new Admission(new Resume(partial.held()), t);
            } catch (StandbyRefusal r) {
                return new Admission(new Refuse(r.code(), r.getMessage()), null);
            } catch (StateFormatException e) {
                // a state file this standby cannot read (a newer amirror wrote it): say so, touch nothing
                log.error("{} {}: {}", o.domain(), o.disk(), e.getMessage());
                return new Admission(new Refuse(Refuse.INTERNAL, e.getMessage()), null);
            } finally {
                if (!admitted) {
                    lock.close();
                }
            }
        } finally {
            if (!admitted) {
                inProcess.unlock();
            }
        }
    }

    /**
     * Finishes a point or an apply that a crash (or a full disk) interrupted, before anything new:
     * a failure is a refusal the primary shows, not a dropped connection.
     */
    private static void finishEarlierApplies(PointApply points, ReplicaDisk disk, PointApply.RoomMaker room)
            throws IOException {
        for (int attempt = 0; ; attempt++) {
            try {
                points.recover();
                disk.recover();
                return;
            } catch (StandbyRefusal | StateFormatException e) {
                throw e;
            } catch (IOException | RuntimeException e) {
                String why = String.valueOf(e.getMessage());
                boolean full = isFull(e);
                if (full && attempt == 0) {
                    room.makeRoom(); // and once more: the apply is idempotent
                    continue;
                }
                log.error("finishing an interrupted apply failed: {}", why);
                throw new StandbyRefusal(full ? Refuse.NO_SPACE : Refuse.INTERNAL,
                        "an apply interrupted earlier cannot be finished yet, so nothing new is taken: " + why);
            }
        }
    }

    /** Whether {@code e} is the file system's "no space left" (from Java's I/O or from qemu-img's output). */
    static boolean isFull(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (String.valueOf(t.getMessage()).contains("No space left on device")) {
                return true;
            }
        }
        return false;
    }

    private static void release(AutoCloseable reservation) {
        try {
            reservation.close();
        } catch (Exception e) {
            throw new IllegalStateException(e); // the reservation's close only counts
        }
    }

    /** The next bytes; ends the transfer (an exception: the connection ends) when a start of the replica waits. */
    void data(byte[] bytes) throws IOException {
        long now = System.nanoTime();
        if (now - lastStartCheck >= START_CHECK_NANOS) {
            lastStartCheck = now;
            if (domain.startRequested()) {
                log.info("{} {} {}->{}: a start of the replica waits; the transfer stops at {} bytes, to resume later",
                        offer.domain(), offer.disk(), offer.basePoint(), offer.newPoint(), partial.held());
                close();
                throw new IOException("a start of the replica of " + offer.domain() + " waits on the standby");
            }
        }
        partial.append(bytes);
    }

    /**
     * All bytes are there: verify and stage the delta, apply the point if it was its last disk, and
     * say how it went (ACK, STALE or REFUSE). Ends the transfer.
     */
    WireMessage commit() throws IOException {
        partial.close();
        Offer o = offer;
        try {
            Promotion.refuseDeltas(domain); // a failover while the bytes came: they stay unapplied
            ReplicaDisk.Staged staged = disk.stage(file, o.basePoint(), o.newPoint(), o.size(), o.sha256(), o.virtualSize());
            boolean applied = points.applyIfComplete(o.newPoint(), o.pointDisks(), staged);
            if (!applied) {
                log.info("{} {} {}->{}: verified and held until the point's other disks {} arrive", o.domain(), o.disk(),
                        o.basePoint(), o.newPoint(), o.pointDisks());
            }
            return new Ack(o.domain(), o.disk(), o.newPoint());
        } catch (StaleSourceException e) {
            log.warn("{} {} {}->{}: {}", o.domain(), o.disk(), o.basePoint(), o.newPoint(), e.getMessage());
            List<long[]> ranges = e.ranges();
            return new Stale(o.domain(), o.disk(), o.newPoint(), ranges.subList(0, Math.min(ranges.size(), Stale.MAX_RANGES)));
        } catch (StandbyRefusal r) {
            return new Refuse(r.code(), r.getMessage());
        } catch (Exception e) {
            log.error("applying {} {} {}->{} failed", o.domain(), o.disk(), o.basePoint(), o.newPoint(), e);
            // a full disk mid-way leaves the received delta (or the journaled apply) to finish later
            return new Refuse(isFull(e) ? Refuse.NO_SPACE : Refuse.INTERNAL, "apply failed: " + e.getMessage());
        } finally {
            close();
        }
    }

    /** Ends the transfer; what was received stays for a resume. */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try {
            partial.close();
        } finally {
            try {
                release(reservation);
                lock.close();
            } finally {
                inProcess.unlock();
            }
        }
    }
}
