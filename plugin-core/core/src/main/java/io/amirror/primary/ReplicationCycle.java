package io.amirror.primary;

import io.amirror.capture.CaptureReading;
import io.amirror.capture.CaptureResult;
import io.amirror.capture.CaptureSink;
import io.amirror.capture.ScratchOverflowException;
import io.amirror.config.Policy;
import io.amirror.delta.XzBlockCodec;
import io.amirror.spool.Spool;
import io.amirror.spool.SpoolFullException;
import io.amirror.transport.ReplicaManifest;
import io.amirror.transport.Sender;
import io.amirror.util.PrivateFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.function.UnaryOperator;

/**
 * One replication cycle of one guest, whatever its {@link PointSource}: the daemon's scheduled and
 * requested cycles and {@code amirror bridge sync} all run this.
 *
 * <ol>
 *   <li>a point left in the spool by an earlier cycle or process is shipped first (the standby
 *       resumes it to the byte) and acknowledged;</li>
 *   <li>before a guest's first point, the standby is asked for the hashes of a seed it holds;</li>
 *   <li>a new point is captured: compression fixed by the policy or chosen by the link's
 *       {@link AutoCompression}; when the source lost track of the writes (self-heal) it is reset
 *       and the point read in full, refined against the replica's hashes, so the repair sends only
 *       what differs;</li>
 *   <li>its deltas are shipped disk by disk, and on the standby's ACK of every disk the point is
 *       acknowledged; a STALE refusal abandons it, and the next cycle repairs the drifted ranges;</li>
 *   <li>the standby gets the guest's description when it changed.</li>
 * </ol>
 * Every step reports to the guest's {@link DomainStatus}. A failure anywhere leaves a state the
 * next cycle continues from. The caller holds the guest's lock: one cycle or verify at a time.
 */
public final class ReplicationCycle {
    private static final Logger log = LoggerFactory.getLogger(ReplicationCycle.class);

    /**
     * What a cycle did: the point it captured and the standby acknowledged, its delta's size and
     * the bytes sent for it (a point left in the spool and shipped first is not counted).
     *
     * @param full     the point was read in full (a first point, or a repair by hashes)
     * @param repaired the source had lost track of the writes and was reset first
     * @param captured what the capture read; null when the guest is shut off and nothing changed
     *                 since its last point, so no point was cut ({@link #unchanged()})
     */
    public record Outcome(int basePoint, int newPoint, boolean full, boolean repaired, CaptureResult captured,
                          long deltaBytes, long sentBytes) {
        /** No point: the shut-off guest wrote nothing since the standby's point. */
        public boolean unchanged() {
            return captured == null;
        }
    }

    private final Replication replication;
    private final Policy policy;
    private final StandbyLink link;
    private final Spool spool;
    private final DomainStatus status;
    private long sentBytes;

    public ReplicationCycle(Replication replication, Policy policy, StandbyLink link, Spool spool, DomainStatus status) {
        this.replication = replication;
        this.policy = policy;
        this.link = link;
        this.spool = spool;
        this.status = status;
    }

    /**
     * Runs the cycle, holding {@code maps/<uuid>/cycle.lock} so that two processes (the daemon and
     * a {@code bridge sync} by hand) never run cycles of one guest at once.
     */
    public Outcome run() throws IOException {
        PrivateFiles.createDirectories(replication.mapDirectory());
        try (FileChannel f = PrivateFiles.open(replication.mapDirectory().resolve("cycle.lock"), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE); FileLock lock = tryLock(f)) {
            return runLocked();
        } catch (RuntimeException | IOException e) {
            SpoolFullException full = spoolFull(e);
            if (full == null || replication.acknowledgedPoint() != 0) {
                throw e;
            }
            // a first copy larger than the whole spool stops at the same bound every cycle: say what gets past it
            throw new SpoolFullException.FirstPointTooLarge(replication.source().name() + ": the first copy does not "
                    + "fit the spool (" + full.getMessage() + "), so every cycle would stop at the same bound. Raise "
                    + "\"spoolLimit\" in the primary's configuration above the disks' allocated size, or seed the "
                    + "replica (amirror seed export and import, or seed adopt) so that the first point sends only what "
                    + "differs", full);
        }
    }

    /** The spool's refusal among {@code e}'s causes, if that is what ended the cycle. */
    private static SpoolFullException spoolFull(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof SpoolFullException s) {
                return s;
            }
        }
        return null;
    }

    private FileLock tryLock(FileChannel f) throws IOException {
        FileLock lock;
        try {
            lock = f.tryLock();
        } catch (OverlappingFileLockException sameProcess) {
            lock = null;
        }
        if (lock == null) {
            throw new IllegalStateException(replication.source().name() + " is being replicated by another cycle "
                    + "(the daemon's, or a bridge sync): one at a time");
        }
        return lock;
    }

    private Outcome runLocked() throws IOException {
        String name = replication.source().name();
        status.uuid(replication.uuid().toString());
        Optional<Replication.SpooledPoint> left = replication.spooled();
        if (left.isPresent()) {
            log.info("{}: shipping point {} left in the spool by an earlier cycle", name, left.get().newPoint());
            ship(left.get());
            describe(left.get().newPoint());
        }
        CaptureMeter meter = new CaptureMeter();
        status.capturing(meter);
        if (replication.acknowledgedPoint() == 0) {
            replication.seedFromStandby(link.sender()).forEach((disk, bytes) -> log.info("{} {}: the standby holds a "
                    + "seed; its block hashes ({} bytes on the link) make the first point send only what differs", name,
                    disk, bytes));
        }
        boolean firstPoint = replication.acknowledgedPoint() == 0;
        XzBlockCodec.Preset preset = policy.compression() != null ? XzBlockCodec.Preset.parse(policy.compression())
                : link.compression().next(name, firstPoint, policy.rpo().pointBudget());
        long t0 = System.nanoTime();
        Replication.Captured c;
        String lost = null;
        try {
            c = replication.capture(preset, policy.quiesce(), reading(meter));
        } catch (ScratchOverflowException e) {
            // the guest wrote faster than the point was read: the next attempt reads faster
            link.compression().readTooSlow(name, preset);
            log.warn("{}: {}; the next attempt uses the fastest compression", name, e.getMessage());
            throw e;
        } catch (PointSource.NothingNewException e) {
            log.info("{}: {}", name, e.getMessage());
            int at = replication.acknowledgedPoint();
            return new Outcome(at, at, false, false, null, 0, 0);
        } catch (PointSource.TrackingLostException e) {
            lost = e.getMessage();
            log.warn("{}: the chain of points broke ({}); starting a new chain and repairing the replica by hashes",
                    name, lost);
            replication.resetTracking();
            meter = new CaptureMeter();
            status.capturing(meter);
            c = replication.capture(preset, policy.quiesce(), reading(meter));
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        long stored = c.deltas().stream().mapToLong(d -> d.entry().size()).sum();
        CaptureResult captured = c.capture();
        if (policy.compression() == null) {
            link.compression().observe(preset, c.full(), captured.dataBytes(), stored, seconds, link.bytesPerSecondNow());
        }
        status.captured(captured.bytesRead(), captured.readWhole());
        log.info("{}: point {} captured ({} bytes read{}, {} bytes of delta at {}, {}, {} s)", name, captured.newPoint(),
                captured.bytesRead(), captured.readWhole().isEmpty() ? "" : ", read whole: " + captured.readWhole(), stored,
                preset, captured.consistency(), String.format("%.1f", seconds));
        if (policy.quiesce() && captured.consistency() == CaptureResult.Consistency.CRASH) {
            log.warn("{}: the policy asks for quiesced points but the guest agent did not answer; point {} is "
                    + "crash-consistent", name, captured.newPoint());
        }
        if (c.full() && c.spooled().basePoint() != 0 && lost == null) {
            log.warn("{}: the point source holds no point {}: point {} was read in full and sends only the blocks "
                    + "whose hash differs from the replica", name, c.spooled().basePoint(), captured.newPoint());
        }
        sentBytes = 0; // the new point's only
        ship(c.spooled());
        if (lost != null || (c.full() && c.spooled().basePoint() != 0)) {
            String what = (lost != null ? "chain broken (" + lost + ")" : "the source holds no point "
                    + c.spooled().basePoint()) + "; new chain from point " + captured.newPoint() + ": "
                    + captured.dataBytes() + " bytes read, " + stored + " bytes of delta sent to repair the replica";
            status.repaired(what);
            log.info("{}: repaired: {}", name, what);
        }
        describe(captured.newPoint());
        return new Outcome(c.spooled().basePoint(), captured.newPoint(), c.full(), lost != null, captured, stored,
                sentBytes);
    }

    /**
     * How the capture reads for this cycle: disks read whole (raw, no dirty bitmap) at the policy's
     * {@code fullReadRate}, its progress into {@code meter} (status shows it while the phase is capturing).
     */
    private UnaryOperator<CaptureSink> reading(CaptureMeter meter) {
        CaptureReading r = new CaptureReading(policy.fullReadRate(), meter);
        return sink -> CaptureSink.reading(sink, r);
    }

    /** Ships every disk's delta of {@code p}; on the last ACK the point is acknowledged. Returns its bytes. */
    private long ship(Replication.SpooledPoint p) throws IOException {
        List<Spool.Entry> entries = replication.entries(p);
        List<String> disks = p.disks(); // the standby applies the point once it holds all of them
        long total = entries.stream().mapToLong(Spool.Entry::size).sum();
        status.shipping(total);
        long before = 0;
        for (Spool.Entry e : entries) {
            final long base = before;
            boolean[] first = {true};
            spool.markShipping(e);
            try {
                Sender.Shipped s;
                try {
                    s = link.sender().ship(e, disks, held -> {
                        if (first[0]) { // the standby's RESUME: what it had already
                            first[0] = false;
                            status.resumed(held);
                        }
                        status.shipped(base + held);
                    }, !replication.awaitingSeedImport());
                } catch (Sender.StaleSourcesException stale) {
                    replication.sourcesStale(p, e.disk(), stale.stale().ranges());
                    String what = "the standby's replica of " + e.disk() + " drifted under "
                            + stale.stale().ranges().size() + " COPY source range(s); point " + p.newPoint()
                            + " is captured again with them repaired";
                    status.repaired(what);
                    log.warn("{}: {}", replication.source().name(), what);
                    throw stale;
                }
                status.sent(s.sentBytes());
                sentBytes += s.sentBytes();
                log.info("{} {}: standby at point {} ({} bytes sent, resumed at {})", replication.source().name(),
                        e.disk(), s.ack().point(), s.sentBytes(), s.resumedAt());
            } finally {
                spool.unmarkShipping(e);
            }
            before += e.size();
        }
        replication.acknowledged(p);
        status.acknowledged(p.newPoint(), Instant.ofEpochMilli(p.cutAt()), Instant.now(), p.consistency(), total);
        return total;
    }

    /** Sends the standby the guest's description when it changed, once the point is acknowledged. */
    private void describe(int point) throws IOException {
        Optional<ReplicaManifest> m = replication.manifestToSend(point, policy);
        if (m.isPresent()) {
            byte[] xz = m.get().toXz();
            link.sender().describe(replication.uuid(), point, xz);
            replication.described(m.get());
            log.info("{}: standby has the replica definition as of point {} ({} bytes)", m.get().name(), point,
                    xz.length);
        }
    }
}
