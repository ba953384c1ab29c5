package io.amirror.bridge;

import io.amirror.capture.CaptureResult;
import io.amirror.capture.CaptureSink;
import io.amirror.capture.ExportReader;
import io.amirror.config.Policy;
import io.amirror.libvirt.DiskInfo;
import io.amirror.nbd.NbdAddress;
import io.amirror.nbd.NbdConstants;
import io.amirror.primary.PointSource;
import io.amirror.transport.ReplicaManifest;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * The points of a guest on a running bridge ({@code amirror bridge serve}): the bridge cuts a point
 * on request ({@link BridgeClient#cut}) and exports it over NBD with the same contexts a libvirt
 * pull backup has ({@code base:allocation}, one dirty map per point), so {@link ExportReader} reads
 * it exactly as it reads a domain's disk. The chain rule is the libvirt one: the bridge deletes a
 * point only when told to retire it, after the standby acknowledged a later one.
 *
 * <p>A bridge whose state was lost or reset holds no point of the standby's: {@link #tracks} says
 * so, and the replication reads the disk in full and keeps the delta to the blocks whose hash
 * differs from the replica (a repair, not a resend). The bridge's dirty maps are crash-safe, so it
 * never loses track of writes while it runs: {@link #reset} has nothing to do.
 */
public final class BridgePointSource implements PointSource {
    private final BridgeClient bridge;
    private final Path stateDir;
    private final Path nbdSocket;
    private final Duration timeout;
    private final UUID uuid;

    /**
     * @param stateDir  the bridge's state directory (its {@code bridge.json} and control socket)
     * @param nbdSocket the bridge's NBD socket, where it exports the points
     * @param timeout   how long one read of the point export may stall
     */
    public BridgePointSource(Path stateDir, Path nbdSocket, Duration timeout) throws IOException {
        this.bridge = new BridgeClient(stateDir);
        this.stateDir = stateDir;
        this.nbdSocket = nbdSocket;
        this.timeout = timeout;
        this.uuid = BridgeState.read(stateDir).uuid();
    }

    /** The guest as the bridge last wrote it down; readable while the bridge is down. */
    private BridgeState recorded() throws IOException {
        return BridgeState.read(stateDir);
    }

    @Override
    public UUID uuid() {
        return uuid;
    }

    @Override
    public String name() {
        try {
            return recorded().name();
        } catch (IOException e) {
            return uuid.toString();
        }
    }

    @Override
    public List<Disk> disks() throws IOException {
        BridgeState s = recorded();
        return List.of(new Disk(s.disk(), s.size()));
    }

    @Override
    public boolean tracks(int point) throws IOException {
        return bridge.state().points().contains(point);
    }

    @Override
    public int nextPoint(int acknowledged) throws IOException {
        return Math.max(acknowledged, bridge.state().latest()) + 1;
    }

    @Override
    public CaptureResult cut(int since, int newPoint, CaptureSink sink, boolean quiesce,
                             Map<String, List<long[]>> alsoRead) throws IOException {
        BridgeState s = bridge.state();
        List<String> contexts = new ArrayList<>();
        if (since != 0) { // the dirty maps of every point from the base on: their union is what changed since it
            for (int q : s.points()) {
                if (q >= since) {
                    contexts.add(NbdConstants.CONTEXT_DIRTY_BITMAP_PREFIX + BridgeVolume.pointName(q));
                }
            }
        }
        int n = bridge.cut(newPoint);
        CaptureResult.DiskStats stats;
        try {
            if (n != newPoint) {
                throw new IllegalStateException("the bridge of " + s.name() + " cut point " + n + ", expected "
                        + newPoint + ": another process is replicating this guest");
            }
            DiskInfo disk = new DiskInfo(s.disk(), nbdSocket, "raw", false, "disk");
            stats = ExportReader.read(NbdAddress.unix(nbdSocket, BridgeExport.POINT_PREFIX + n), disk, contexts,
                    alsoRead.getOrDefault(s.disk(), List.of()), sink, timeout);
        } catch (IOException | RuntimeException e) {
            try {
                bridge.release(n);
                bridge.delete(n); // its writes merge back: nothing is forgotten
            } catch (IOException d) {
                e.addSuppressed(d);
            }
            throw e;
        }
        bridge.release(n);
        // quiesce: the bridge has no guest agent to ask; its points are crash-consistent
        return new CaptureResult(s.name(), since, n, false, List.of(stats), CaptureResult.Consistency.CRASH);
    }

    @Override
    public void discardNewerThan(int acknowledged) throws IOException {
        List<Integer> newer = new ArrayList<>(bridge.state().points().stream().filter(q -> q > acknowledged).toList());
        Collections.reverse(newer); // newest first: each merges into the one before
        for (int q : newer) {
            bridge.delete(q);
        }
    }

    @Override
    public void abandon(int point) throws IOException {
        if (bridge.state().points().contains(point)) {
            bridge.delete(point);
        }
    }

    @Override
    public void retire(int point) throws IOException {
        for (int q : bridge.state().points()) {
            if (q < point) {
                bridge.delete(q);
            }
        }
    }

    /** The bridge keeps no record of the standby's point: the replication's is the only one. */
    @Override
    public int retiredTo() {
        return 0;
    }

    @Override
    public void reset() {
        // the dirty maps survive crashes; a lost state directory shows as a missing base point instead
    }

    /**
     * A manifest without domain XML (nothing to define in libvirt) carrying the guest's launcher,
     * so a failover can start the replica the same way, and the policy's retention.
     */
    @Override
    public ReplicaManifest manifest(int point, Policy policy) throws IOException {
        BridgeState s = recorded();
        return new ReplicaManifest(uuid, s.name(), point, null, Map.of(), Map.of(), policy.keepPoints(),
                policy.keepAge().toSeconds(), s.launcher());
    }
}
