package io.amirror.primary;

import io.amirror.capture.CaptureResult;
import io.amirror.capture.CaptureSink;
import io.amirror.capture.DomainCapture;
import io.amirror.config.Policy;
import io.amirror.delta.DeltaEncoder;
import io.amirror.delta.RepairRanges;
import io.amirror.delta.ReplicaHashMap;
import io.amirror.delta.XzBlockCodec;
import io.amirror.spool.Spool;
import io.amirror.transport.ReplicaManifest;
import io.amirror.state.StateFile;
import io.amirror.transport.Sender;
import io.amirror.util.AtomicFiles;
import io.amirror.util.PrivateFiles;
import org.libvirt.Domain;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.function.UnaryOperator;

/**
 * The primary's side of one guest's replication, for any {@link PointSource}: capture the changes
 * since the acknowledged point, refine and encode them into the spool ({@link #capture}); once the
 * standby acknowledges, record the point, let the source retire older points and commit the replica
 * hash maps ({@link #acknowledged}). State lives under {@code maps/<uuid>/} of the state directory,
 * so a new instance after a restart continues where the last one stopped.
 *
 * <p><b>The acknowledged point</b> is stored once, here: {@code acknowledged.json} (the point, its
 * disks, when it was cut). Everything else is brought in line with it: the hash maps finish an
 * interrupted commit of it ({@link DeltaEncoder#recover}), and the source is told to retire to it
 * (a libvirt chain keeps its own copy only to know which checkpoints it may delete). State written
 * before this file was the owner is adopted from the source's record when the file is behind.
 *
 * <p><b>A spooled point</b> is one captured and not yet acknowledged, recorded in
 * {@code spooled.json} once every disk's delta is in the spool (not to be confused with the
 * standby's <em>pending</em> apply). After a restart {@link #spooled()} returns it, so it is shipped,
 * not captured again; a capture that a crash cut short has no record, and {@link #spooled()}
 * discards what it left in the source (its writes merge back, so no write is forgotten). A point is
 * acknowledged only when every one of its disks is.
 *
 * <p>A failed capture leaves nothing behind: the new point is dropped by the source, and the
 * partial deltas and map journals by this class. Callers run one method at a time per guest.
 */
public final class Replication {
    private static final Logger log = LoggerFactory.getLogger(Replication.class);

    /**
     * A point whose deltas are in the spool, or the last one the standby acknowledged.
     *
     * @param cutAt when the point was cut (the time its data is from), epoch milliseconds; 0 when unknown
     */
    public record SpooledPoint(int basePoint, int newPoint, List<String> disks, long cutAt, String consistency) {
    }

    /** A point captured and spooled, waiting for the standby; {@code full} when it was read in full. */
    public record Captured(CaptureResult capture, List<DeltaEncoder.DiskDelta> deltas, SpooledPoint spooled,
                           boolean full) {
    }

    /** A verify's outcome, kept so a restart does not verify again before it is due. */
    public record Verified(long at, int point, boolean identical, String summary) {
    }

    /** Format 0: {@code pending.json}/{@code acknowledged.json} before formats; the bridge's lacked the disks. */
    private static final StateFile<SpooledPoint> POINT_FILE = StateFile.of("replication point", SpooledPoint.class, 1)
            .migrating(0, UnaryOperator.identity());
    private static final StateFile<Verified> VERIFIED_FILE = StateFile.of("verify outcome", Verified.class, 1)
            .migrating(0, UnaryOperator.identity());
    static final String SPOOLED = "spooled.json";
    static final String ACKNOWLEDGED = "acknowledged.json";
    private static final String LEGACY_PENDING = "pending.json";

    private final PointSource source;
    private final Spool spool;
    private final Path maps;
    private final ExecutorService pool;
    private final int threads;

    public Replication(PointSource source, Path stateDir, Spool spool, ExecutorService pool, int threads) {
        this.source = source;
        this.spool = spool;
        this.maps = mapDirectory(stateDir, source.uuid());
        this.pool = pool;
        this.threads = threads;
    }

    /** A libvirt domain's replication: its checkpoint chain is the point source. */
    public static Replication ofDomain(Domain domain, Path stateDir, DomainCapture capture, Spool spool,
                                       ExecutorService pool, int threads) {
        return new Replication(new LibvirtPointSource(domain, stateDir, capture), stateDir, spool, pool, threads);
    }

    public UUID uuid() {
        return source.uuid();
    }

    public PointSource source() {
        return source;
    }

    private static Path mapDirectory(Path stateDir, UUID uuid) {
        return stateDir.resolve("maps").resolve(uuid.toString());
    }

    /** Where the replica hash maps of this guest's disks live ({@code <disk>.map}). */
    public Path mapDirectory() {
        return maps;
    }

    private Optional<SpooledPoint> readPoint(String file) throws IOException {
        Optional<SpooledPoint> p = POINT_FILE.read(maps.resolve(file));
        if (p.isPresent() && p.get().disks() == null) { // a bridge's format 0: its one disk
            SpooledPoint q = p.get();
            return Optional.of(new SpooledPoint(q.basePoint(), q.newPoint(), diskNames(), q.cutAt(), q.consistency()));
        }
        return p;
    }

    private List<String> diskNames() throws IOException {
        return source.disks().stream().map(PointSource.Disk::name).toList();
    }

    /** The point the standby holds on every disk, 0 before the first. */
    public int acknowledgedPoint() throws IOException {
        return lastAcknowledged().map(SpooledPoint::newPoint).orElse(0);
    }

    /**
     * The last point the standby acknowledged, with its disks, if any. A source whose own record is
     * ahead (state written before this file was the owner) gives the point; its cut time is then
     * known only if its spooled record is still there.
     */
    public Optional<SpooledPoint> lastAcknowledged() throws IOException {
        Optional<SpooledPoint> recorded = readPoint(ACKNOWLEDGED);
        int retired = source.retiredTo();
        if (retired > recorded.map(SpooledPoint::newPoint).orElse(0)) {
            Optional<SpooledPoint> spooled = readSpooledRecord().filter(p -> p.newPoint() == retired);
            return Optional.of(spooled.orElse(new SpooledPoint(0, retired, diskNames(), 0, null)));
        }
        return recorded;
    }

    /** When the last acknowledged point was cut, if known. */
    public Optional<Instant> lastAcknowledgedCut() throws IOException {
        return lastAcknowledged().filter(p -> p.cutAt() > 0).map(p -> Instant.ofEpochMilli(p.cutAt()));
    }

    /**
     * Brings the files and the source in line with the acknowledged point: adopts a point only the
     * source recorded, finishes a retire a crash cut short, and moves a {@code pending.json} of
     * older versions to {@code spooled.json}.
     */
    private int settle() throws IOException {
        Path legacy = maps.resolve(LEGACY_PENDING);
        if (Files.exists(legacy)) {
            Optional<SpooledPoint> p = readPoint(LEGACY_PENDING);
            if (p.isPresent() && !Files.exists(maps.resolve(SPOOLED))) {
                POINT_FILE.write(maps.resolve(SPOOLED), p.get());
            }
            Files.delete(legacy);
        }
        Optional<SpooledPoint> recorded = readPoint(ACKNOWLEDGED);
        Optional<SpooledPoint> acked = lastAcknowledged();
        if (acked.isEmpty()) {
            DeltaEncoder.recover(maps, 0); // journals of a first point cut short
            return 0;
        }
        if (!acked.equals(recorded)) {
            PrivateFiles.createDirectories(maps);
            POINT_FILE.write(maps.resolve(ACKNOWLEDGED), acked.get());
            log.info("{}: acknowledged point {} adopted from the point source's record", source.name(),
                    acked.get().newPoint());
        }
        int point = acked.get().newPoint();
        if (source.retiredTo() < point) {
            try {
                source.retire(point);
            } catch (RuntimeException e) {
                // the next capture reads in full if the source lost the point; its retire comes with the next ack
                log.warn("{}: cannot retire to acknowledged point {}: {}", source.name(), point, e.getMessage());
            }
        }
        DeltaEncoder.recover(maps, point);
        return point;
    }

    /**
     * Captures everything since the acknowledged point into the spool.
     *
     * @param quiesce freeze the guest's filesystems through its agent for the instant of the point
     * @param wrap    lets a caller observe the captured extents on their way to the encoder (benchmarks)
     * @throws PointSource.TrackingLostException when the source lost track; {@link #resetTracking} and capture again
     */
    public Captured capture(XzBlockCodec.Preset preset, boolean quiesce, UnaryOperator<CaptureSink> wrap)
            throws IOException {
        Optional<SpooledPoint> left = readSpooledRecord();
        if (left.isPresent()) {
            throw new IllegalStateException("point " + left.get().newPoint()
                    + " is still in the spool: ship and acknowledge it before capturing another");
        }
        int base = settle();
        // a source that lost the standby's point (a reset chain, a new bridge) is read in full; the
        // refinement against the replica's hashes still sends only what differs
        boolean full = base == 0 || !source.tracks(base);
        int newPoint = source.nextPoint(base);
        long cutAt = System.currentTimeMillis();
        // a disk added since the standby's point has no replica there yet: its delta starts at 0
        Set<String> added = new TreeSet<>();
        if (base != 0) {
            List<String> held = lastAcknowledged().map(SpooledPoint::disks).orElse(List.of());
            for (PointSource.Disk d : source.disks()) {
                if (!held.isEmpty() && !held.contains(d.name())) {
                    added.add(d.name());
                }
            }
            if (!added.isEmpty()) {
                log.info("{}: disk(s) {} are new since point {}: the standby gets them whole", source.name(), added, base);
                full = true;
            }
        }
        DeltaEncoder enc = new DeltaEncoder(spool, maps, source.uuid(), base, newPoint, preset, pool, threads, cutAt)
                .withNewDisks(added);
        CaptureResult r;
        try {
            // a full read always makes a point; an incremental one of a shut-off guest may find nothing new
            r = source.cut(full ? 0 : base, newPoint, wrap.apply(enc), quiesce, repairs());
        } catch (IOException | RuntimeException e) {
            enc.abort();
            throw e;
        }
        SpooledPoint p = new SpooledPoint(base, r.newPoint(),
                r.disks().stream().map(CaptureResult.DiskStats::target).toList(), cutAt, r.consistency().name());
        PrivateFiles.createDirectories(maps);
        POINT_FILE.write(maps.resolve(SPOOLED), p);
        return new Captured(r, enc.deltas(), p, full);
    }

    public Captured capture(XzBlockCodec.Preset preset, UnaryOperator<CaptureSink> wrap) throws IOException {
        return capture(preset, false, wrap);
    }

    public Captured capture(XzBlockCodec.Preset preset) throws IOException {
        return capture(preset, false, UnaryOperator.identity());
    }

    private Optional<SpooledPoint> readSpooledRecord() throws IOException {
        Optional<SpooledPoint> p = readPoint(SPOOLED);
        return p.isPresent() ? p : readPoint(LEGACY_PENDING);
    }

    /**
     * The point captured but not yet acknowledged, if its deltas are all in the spool. Leftovers of a
     * capture that did not finish (a crash between its cut and its record) are discarded.
     */
    public Optional<SpooledPoint> spooled() throws IOException {
        int base = settle();
        Path f = maps.resolve(SPOOLED);
        Optional<SpooledPoint> recorded = readPoint(SPOOLED);
        if (recorded.isPresent()) {
            SpooledPoint p = recorded.get();
            if (p.basePoint() == base && entries(p).size() == p.disks().size()) {
                return recorded;
            }
            Files.delete(f);
            if (p.newPoint() <= base) {
                return Optional.empty(); // acknowledged; the crash came before the record went
            }
            log.warn("spooled point {} of {} lost deltas from the spool; capturing again", p.newPoint(), source.name());
        }
        source.discardNewerThan(base);
        return Optional.empty();
    }

    /** The spooled deltas of a point, one per disk that has one. */
    public List<Spool.Entry> entries(SpooledPoint p) throws IOException {
        List<Spool.Entry> out = new ArrayList<>();
        for (String disk : p.disks()) {
            for (Spool.Entry e : spool.entries(source.uuid(), disk)) {
                // a disk added since the base starts at 0 ({@link DeltaEncoder#withNewDisks})
                if (e.newPoint() == p.newPoint() && (e.basePoint() == p.basePoint() || e.basePoint() == 0)) {
                    out.add(e);
                }
            }
        }
        return out;
    }

    /** The standby holds the captured point durably. */
    public void acknowledged(Captured c) throws IOException {
        acknowledged(c.spooled());
    }

    /**
     * The standby holds {@code p} on every disk: the point is recorded (the one place it is kept),
     * then the source retires older points, the maps take its hashes and the spool lets it go. A
     * crash after the record is finished by the next {@link #capture} or {@link #spooled}.
     */
    public void acknowledged(SpooledPoint p) throws IOException {
        PrivateFiles.createDirectories(maps);
        POINT_FILE.write(maps.resolve(ACKNOWLEDGED), p);
        Files.deleteIfExists(seedMarker());
        source.retire(p.newPoint());
        DeltaEncoder.acknowledged(spool, maps, source.uuid(), p.disks(), p.newPoint());
        for (String disk : p.disks()) {
            RepairRanges.done(maps, disk); // that point read them again
        }
        Files.deleteIfExists(maps.resolve(SPOOLED));
    }

    /**
     * Ranges of {@code disk} that a verify found different on the standby: its hash map forgets
     * them, and the next capture reads them as if dirty, so that point repairs the replica.
     */
    public void scheduleRepair(String disk, List<long[]> ranges) throws IOException {
        RepairRanges.schedule(maps, disk, ranges);
    }

    /** The ranges to repair per disk, scheduled by a verify and not yet acknowledged. */
    public Map<String, List<long[]>> repairs() throws IOException {
        return RepairRanges.all(maps);
    }

    private Path seedMarker() {
        return seedMarker(maps);
    }

    private static Path seedMarker(Path mapDir) {
        return mapDir.resolve("seed-exported.json");
    }

    /** Whether the spooled point went to removable media: it is not sent over the link, only asked for. */
    public boolean awaitingSeedImport() {
        return Files.exists(seedMarker());
    }

    /**
     * Captures the guest's first point into the spool for a seed on removable media and marks it
     * so: until the standby has imported it, cycles only ask the standby for it. Refused for a
     * guest that already replicates.
     */
    public Captured captureSeed(XzBlockCodec.Preset preset) throws IOException {
        int base = acknowledgedPoint();
        if (base != 0 || spooled().isPresent()) {
            throw new IllegalStateException(source.uuid() + " already replicates (standby at point " + base
                    + (base == 0 ? ", a point spooled" : "") + "): a seed is for a domain's first point");
        }
        Captured c = capture(preset);
        POINT_FILE.write(seedMarker(), c.spooled());
        return c;
    }

    /**
     * Gives up waiting for the seed import of guest {@code uuid} replicated from {@code stateDir}:
     * its spooled point will be sent over the link. False when no seed was waiting.
     */
    public static boolean cancelSeed(Path stateDir, UUID uuid) throws IOException {
        return Files.deleteIfExists(seedMarker(mapDirectory(stateDir, uuid)));
    }

    /**
     * The standby refused a disk's delta of {@code p}: COPY sources on its replica drifted. The point
     * is abandoned (its deltas go, its writes merge back in the source, so the next capture reads its
     * changes again under the same number) and the drifted ranges are forgotten in the hash map and
     * read again as if dirty, so the next point repairs them and never copies from them.
     */
    public void sourcesStale(SpooledPoint p, String disk, List<long[]> ranges) throws IOException {
        scheduleRepair(disk, ranges);
        for (Spool.Entry e : entries(p)) {
            spool.discard(e);
        }
        Files.deleteIfExists(maps.resolve(SPOOLED));
        source.abandon(p.newPoint());
    }

    /**
     * The replica manifest of this guest as of {@code point}, with the policy's parts, and whether
     * the standby still needs it: it goes only when something but the point changed since the
     * standby last stored one.
     */
    public Optional<ReplicaManifest> manifestToSend(int point, Policy policy) throws IOException {
        ReplicaManifest m = source.manifest(point, policy);
        Path keyFile = maps.resolve("described.sha256");
        boolean stored = Files.exists(keyFile) && Files.readString(keyFile).equals(m.key());
        return stored ? Optional.empty() : Optional.of(m);
    }

    /** The standby stored {@code m}. */
    public void described(ReplicaManifest m) throws IOException {
        PrivateFiles.createDirectories(maps);
        // described.sha256 holds the key of the manifest the standby last stored
        AtomicFiles.writePrivate(maps.resolve("described.sha256"), m.key().getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Before the first point: for each disk without a hash map, asks the standby for the hashes of
     * a seed it holds (an older copy adopted there), so the first capture sends only the blocks that
     * differ from it. Returns the bytes of hashes received per seeded disk.
     */
    public Map<String, Long> seedFromStandby(Sender standby) throws IOException {
        Map<String, Long> seeded = new TreeMap<>();
        if (acknowledgedPoint() != 0) {
            return seeded;
        }
        PrivateFiles.createDirectories(maps);
        for (PointSource.Disk d : source.disks()) {
            Path map = maps.resolve(d.name() + ".map");
            if (Files.exists(map)) {
                continue; // what the primary already knows of the replica is better than a seed
            }
            Path partial = maps.resolve(d.name() + ".map.seeding");
            Files.deleteIfExists(partial);
            long got;
            try (ReplicaHashMap m = ReplicaHashMap.open(partial, d.size())) {
                got = standby.seed(source.uuid(), d.name(), m);
            }
            if (got < 0) {
                Files.delete(partial);
            } else {
                Files.move(partial, map, StandardCopyOption.ATOMIC_MOVE);
                seeded.put(d.name(), got);
            }
        }
        return seeded;
    }

    /**
     * The source lost track of the writes: start it anew; the next capture reads the disks in full
     * and sends only the blocks whose hash differs from the replica, as the next point after the
     * standby's.
     */
    public void resetTracking() throws IOException {
        source.reset();
    }

    public void verified(Verified v) throws IOException {
        PrivateFiles.createDirectories(maps);
        VERIFIED_FILE.write(maps.resolve("verified.json"), v);
    }

    public Optional<Verified> lastVerified() throws IOException {
        return VERIFIED_FILE.read(maps.resolve("verified.json"));
    }
}
