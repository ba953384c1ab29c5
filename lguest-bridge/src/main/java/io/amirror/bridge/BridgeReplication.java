package io.amirror.bridge;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.capture.CaptureResult;
import io.amirror.capture.ExportReader;
import io.amirror.delta.DeltaEncoder;
import io.amirror.delta.RepairRanges;
import io.amirror.delta.XzBlockCodec;
import io.amirror.libvirt.DiskInfo;
import io.amirror.nbd.NbdAddress;
import io.amirror.nbd.NbdConstants;
import io.amirror.spool.Spool;
import io.amirror.standby.ReplicaDisk;
import io.amirror.standby.ReplicaManifest;
import io.amirror.transport.Sender;
import io.amirror.util.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;

/**
 * Replicates one bridge guest with the core's pipeline: a point cut by the bridge is read through
 * its NBD point export by {@link ExportReader} (exactly as a libvirt pull backup is), refined
 * against the replica hash map and encoded by {@link DeltaEncoder} into the spool, shipped by
 * {@link Sender}; the standby applies it like any delta. Only the point source differs.
 *
 * <p>The chain rule is the libvirt one: a point is deleted on the bridge only after the standby
 * acknowledged a later one. State on this side lives in {@code maps/<uuid>/} of the primary state
 * directory: the replica hash map, {@code pending.json} (a point in the spool, not yet
 * acknowledged) and {@code acknowledged.json}.
 *
 * <p>When the bridge holds no point of the standby's point (its state directory was lost or
 * reset), the capture reads the whole disk and the hash map keeps the delta to the blocks that
 * differ from the replica: a repair, not a resend.
 */
public final class BridgeReplication {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(BridgeReplication.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A point in the spool waiting for the standby. */
    public record Pending(int basePoint, int newPoint, long cutAt, boolean repair) {
    }

    /** What one cycle did. */
    public record Cycle(int basePoint, int newPoint, boolean repair, CaptureResult.DiskStats captured,
                        long deltaBytes, long sentBytes) {
    }

    private final BridgeClient bridge;
    private final Path nbdSocket;
    private final Spool spool;
    private final Path stateDir;
    private final ExecutorService pool;
    private final int threads;
    private final Duration timeout;

    public BridgeReplication(BridgeClient bridge, Path nbdSocket, Path primaryState, Spool spool, ExecutorService pool,
                             int threads, Duration timeout) {
        this.bridge = bridge;
        this.nbdSocket = nbdSocket;
        this.stateDir = primaryState;
        this.spool = spool;
        this.pool = pool;
        this.threads = threads;
        this.timeout = timeout;
    }

    private Path maps(BridgeState s) {
        return stateDir.resolve("maps").resolve(s.uuid().toString());
    }

    /** The standby's point for this guest, 0 before the first acknowledgement. */
    public int acknowledged(BridgeState s) throws IOException {
        Path f = maps(s).resolve("acknowledged.json");
        return Files.exists(f) ? JSON.readValue(f.toFile(), Pending.class).newPoint() : 0;
    }

    /** One cycle with the default retention (see {@link #cycle(Sender, XzBlockCodec.Preset, ReplicaDisk.Retention)}). */
    public Cycle cycle(Sender standby, XzBlockCodec.Preset preset) throws IOException {
        return cycle(standby, preset, DEFAULT_RETENTION);
    }

    /** The standby keeps 24 points for 30 days unless a policy says otherwise. */
    public static final ReplicaDisk.Retention DEFAULT_RETENTION = new ReplicaDisk.Retention(24, Duration.ofDays(30));

    /**
     * One cycle: ship what is pending, or capture a new point and ship it; then retire old points,
     * and describe the guest to the standby (name, launcher, {@code retention}) when that changed.
     */
    public Cycle cycle(Sender standby, XzBlockCodec.Preset preset, ReplicaDisk.Retention retention) throws IOException {
        BridgeState s = bridge.state();
        Path maps = maps(s);
        int base = acknowledged(s);
        DeltaEncoder.recover(maps, base);
        Optional<Pending> pending = pending(s, base);
        CaptureResult.DiskStats captured = null;
        Pending p;
        if (pending.isPresent()) {
            p = pending.get();
            log.info("shipping pending point {} of {}", p.newPoint(), s.name());
        } else {
            discardUnrecorded(s, base);
            s = bridge.state();
            boolean repair = base != 0 && !s.points().contains(base);
            if (repair) {
                log.warn("the bridge of {} holds no point {} (its points: {}): reading the disk in full and sending only "
                        + "the blocks whose hash differs from the replica", s.name(), base, s.points());
            }
            long cutAt = System.currentTimeMillis();
            int n = bridge.cut(base + 1);
            DeltaEncoder enc = new DeltaEncoder(spool, maps, s.uuid(), base, n, preset, pool, threads);
            try {
                List<String> contexts = new ArrayList<>();
                if (base != 0 && !repair) {
                    for (int q : s.points()) {
                        if (q >= base) {
                            contexts.add(NbdConstants.CONTEXT_DIRTY_BITMAP_PREFIX + BridgeVolume.pointName(q));
                        }
                    }
                }
                DiskInfo disk = new DiskInfo(s.disk(), nbdSocket, "raw", false, "disk");
                captured = ExportReader.read(NbdAddress.unix(nbdSocket, BridgeExport.POINT_PREFIX + n), disk, contexts,
                        RepairRanges.of(maps, s.disk()), enc, timeout);
            } catch (IOException | RuntimeException e) {
                enc.abort();
                releaseQuietly(n, e);
                try {
                    bridge.delete(n); // its writes merge back: nothing is forgotten
                } catch (IOException d) {
                    e.addSuppressed(d);
                }
                throw e;
            }
            bridge.release(n);
            p = new Pending(base, n, cutAt, repair);
            AtomicFiles.write(maps.resolve("pending.json"), JSON.writeValueAsBytes(p));
        }
        Spool.Entry e = entry(s, p).orElseThrow(() -> new IOException("the spool lost the delta of point " + p.newPoint()));
        spool.markShipping(e);
        Sender.Shipped shipped;
        try {
            shipped = standby.ship(e);
        } catch (Sender.StaleSourcesException stale) {
            sourcesStale(s, p, e, stale.stale().ranges());
            throw stale;
        } finally {
            spool.unmarkShipping(e);
        }
        DeltaEncoder.acknowledged(spool, maps, s.uuid(), List.of(s.disk()), p.newPoint());
        AtomicFiles.write(maps.resolve("acknowledged.json"), JSON.writeValueAsBytes(p));
        Files.deleteIfExists(maps.resolve("pending.json"));
        RepairRanges.done(maps, s.disk()); // that point read them again
        retireOlderThan(p.newPoint());
        describe(standby, s, p.newPoint(), retention);
        return new Cycle(p.basePoint(), p.newPoint(), p.repair(), captured, e.size(), shipped.sentBytes());
    }

    /**
     * Sends the standby what it keeps of the guest besides its disk: a manifest without domain XML
     * (nothing to define in libvirt) carrying the launcher, and the retention. Only when changed.
     */
    private void describe(Sender standby, BridgeState s, int point, ReplicaDisk.Retention retention) throws IOException {
        ReplicaManifest m = new ReplicaManifest(s.uuid(), s.name(), point, null, Map.of(), Map.of(), retention.count(),
                retention.maxAge().toSeconds(), s.launcher());
        Path f = maps(s).resolve("described.sha256");
        if (m.newerThan(f)) {
            standby.describe(s.uuid(), point, m.toXz());
            m.stored(f);
        }
    }

    /**
     * The standby refused the point: COPY sources on its replica drifted. As the libvirt path does:
     * the point goes (its map merges back on the bridge), the drifted ranges are forgotten in the
     * hash map and read again by the next capture, which sends them as data.
     */
    private void sourcesStale(BridgeState s, Pending p, Spool.Entry e, List<long[]> ranges) throws IOException {
        Path maps = maps(s);
        RepairRanges.schedule(maps, s.disk(), ranges);
        spool.discard(e);
        Files.deleteIfExists(maps.resolve("pending.json"));
        if (bridge.state().points().contains(p.newPoint())) {
            bridge.delete(p.newPoint());
        }
        log.warn("the standby's replica of {} drifted under {} COPY source range(s); point {} is captured again",
                s.name(), ranges.size(), p.newPoint());
    }

    private Optional<Pending> pending(BridgeState s, int base) throws IOException {
        Path f = maps(s).resolve("pending.json");
        if (!Files.exists(f)) {
            return Optional.empty();
        }
        Pending p = JSON.readValue(f.toFile(), Pending.class);
        if (p.basePoint() == base && entry(s, p).isPresent()) {
            return Optional.of(p);
        }
        Files.delete(f); // acknowledged before the record went, or its delta is gone: capture again
        return Optional.empty();
    }

    private Optional<Spool.Entry> entry(BridgeState s, Pending p) throws IOException {
        return spool.entries(s.uuid(), s.disk()).stream()
                .filter(e -> e.basePoint() == p.basePoint() && e.newPoint() == p.newPoint()).findFirst();
    }

    /** Points after the standby's with no pending record came from a capture cut short: merge them back. */
    private void discardUnrecorded(BridgeState s, int base) throws IOException {
        List<Integer> newer = new ArrayList<>(s.points().stream().filter(q -> q > base).toList());
        java.util.Collections.reverse(newer);
        for (int q : newer) {
            log.warn("deleting point {} of {}: its capture did not finish", q, s.name());
            bridge.delete(q);
        }
    }

    /** The standby holds {@code point}: earlier points are no longer a base anyone needs. */
    private void retireOlderThan(int point) throws IOException {
        for (int q : bridge.state().points()) {
            if (q < point) {
                bridge.delete(q);
            }
        }
    }

    private void releaseQuietly(int n, Exception cause) {
        try {
            bridge.release(n);
        } catch (IOException e) {
            cause.addSuppressed(e);
        }
    }
}
