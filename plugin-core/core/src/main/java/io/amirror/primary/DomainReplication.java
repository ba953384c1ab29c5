package io.amirror.primary;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.capture.CaptureResult;
import io.amirror.capture.CaptureSink;
import io.amirror.capture.DomainCapture;
import io.amirror.delta.DeltaEncoder;
import io.amirror.delta.RepairRanges;
import io.amirror.delta.XzBlockCodec;
import io.amirror.libvirt.CheckpointChain;
import io.amirror.libvirt.FileChainStore;
import io.amirror.spool.Spool;
import io.amirror.util.AtomicFiles;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.function.UnaryOperator;

/**
 * The primary's side of one domain's replication, as one cycle after another: capture the changes
 * since the last acknowledged point, refine and encode them into the spool ({@link #capture}); once
 * the standby acknowledges, retire the old checkpoint and commit the replica hash maps
 * ({@link #acknowledged}). State (chain, maps, spool) lives under the state directory, so a new
 * instance after a restart continues where the last one stopped.
 *
 * <p>A captured point that is not yet acknowledged is <em>pending</em>, recorded in
 * {@code maps/<uuid>/pending.json} once every disk's delta is in the spool. After a restart
 * {@link #pending()} returns it, so it is shipped, not captured again; a capture that a crash cut
 * short has no record, and {@link #pending()} discards what it left (its checkpoint merges back
 * into its parent, so no write is forgotten). A point is acknowledged only when every one of its
 * disks is: a domain never has disks at different points on the standby for long.
 *
 * <p>A failed capture leaves nothing behind: the new checkpoint is discarded by the capture, and
 * the partial deltas and map journals by this class.
 */
public final class DomainReplication {
    private static final Logger log = LoggerFactory.getLogger(DomainReplication.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A point captured and spooled, waiting for the standby. */
    public record Captured(CaptureResult capture, List<DeltaEncoder.DiskDelta> deltas, Pending pending) {
    }

    /**
     * A point whose deltas are all in the spool and not yet acknowledged.
     *
     * @param cutAt when the point was cut (the time its data is from), epoch milliseconds
     */
    public record Pending(int basePoint, int newPoint, List<String> disks, long cutAt, String consistency) {
    }

    private final Domain domain;
    private final UUID uuid;
    private final CheckpointChain chain;
    private final DomainCapture capture;
    private final Spool spool;
    private final Path maps;
    private final ExecutorService pool;
    private final int threads;

    public DomainReplication(Domain domain, Path stateDir, DomainCapture capture, Spool spool, ExecutorService pool,
                             int threads) {
        this.domain = domain;
        try {
            this.uuid = UUID.fromString(domain.getUUIDString());
        } catch (LibvirtException e) {
            throw new IllegalStateException("cannot read the domain's UUID: " + e.getMessage(), e);
        }
        this.chain = new CheckpointChain(domain, new FileChainStore(stateDir));
        this.capture = capture;
        this.spool = spool;
        this.maps = mapDirectory(stateDir, uuid);
        this.pool = pool;
        this.threads = threads;
    }

    public UUID uuid() {
        return uuid;
    }

    public CheckpointChain chain() {
        return chain;
    }

    private static Path mapDirectory(Path stateDir, UUID uuid) {
        return stateDir.resolve("maps").resolve(uuid.toString());
    }

    /** Where the replica hash maps of this domain's disks live ({@code <disk>.map}). */
    public Path mapDirectory() {
        return maps;
    }

    private Path pendingFile() {
        return maps.resolve("pending.json");
    }

    /**
     * Captures everything since the last acknowledged point into the spool.
     *
     * @param quiesce freeze the guest's filesystems through its agent for the instant of the point
     * @param wrap    lets a caller observe the captured extents on their way to the encoder (benchmarks)
     */
    public Captured capture(XzBlockCodec.Preset preset, boolean quiesce, UnaryOperator<CaptureSink> wrap)
            throws IOException {
        if (Files.exists(pendingFile())) {
            throw new IllegalStateException("point " + JSON.readValue(pendingFile().toFile(), Pending.class).newPoint()
                    + " is still pending: ship and acknowledge it before capturing another");
        }
        int base = chain.base();
        // a chain reset after a break holds no checkpoint of the standby's point: capture in full; the
        // refinement against the replica's hashes still sends only what differs
        int bitmapBase = chain.holds(base) ? base : 0;
        DeltaEncoder.recover(maps, base);
        DeltaEncoder enc = new DeltaEncoder(spool, maps, uuid, base, chain.nextPoint(), preset, pool, threads);
        long cutAt = System.currentTimeMillis();
        CaptureResult r;
        try {
            r = capture.capture(domain, chain, bitmapBase, wrap.apply(enc), quiesce, repairs());
        } catch (RuntimeException e) {
            enc.abort();
            throw e;
        }
        Pending p = new Pending(base, r.newPoint(),
                r.disks().stream().map(CaptureResult.DiskStats::target).toList(), cutAt, r.consistency().name());
        Files.createDirectories(maps);
        AtomicFiles.write(pendingFile(), JSON.writeValueAsBytes(p));
        return new Captured(r, enc.deltas(), p);
    }

    public Captured capture(XzBlockCodec.Preset preset, UnaryOperator<CaptureSink> wrap) throws IOException {
        return capture(preset, false, wrap);
    }

    public Captured capture(XzBlockCodec.Preset preset) throws IOException {
        return capture(preset, false, UnaryOperator.identity());
    }

    /**
     * The point captured but not yet acknowledged, if its deltas are all in the spool. Leftovers of a
     * capture that did not finish (a crash between its checkpoint and its record) are discarded.
     */
    public Optional<Pending> pending() throws IOException {
        Path f = pendingFile();
        if (Files.exists(f)) {
            Pending p = JSON.readValue(f.toFile(), Pending.class);
            if (p.basePoint() == chain.base() && entries(p).size() == p.disks().size()) {
                return Optional.of(p);
            }
            if (p.newPoint() <= chain.base()) {
                Files.delete(f); // acknowledged; the crash came before the record went
                return Optional.empty();
            }
            log.warn("pending point {} of {} lost deltas from the spool; capturing again", p.newPoint(), uuid);
            Files.delete(f);
        }
        discardUnrecorded();
        return Optional.empty();
    }

    /** Checkpoints newer than the acknowledged point with no pending record came from a cut-short capture. */
    private void discardUnrecorded() {
        for (int point : new ArrayList<>(chain.state().points())) {
            if (point > chain.base()) {
                log.warn("discarding checkpoint {} of {}: its capture did not finish", CheckpointChain.name(point), uuid);
                chain.discard(point);
            }
        }
    }

    /** The spooled deltas of a pending point, one per disk that has one. */
    public List<Spool.Entry> entries(Pending p) throws IOException {
        List<Spool.Entry> out = new ArrayList<>();
        for (String disk : p.disks()) {
            for (Spool.Entry e : spool.entries(uuid, disk)) {
                if (e.newPoint() == p.newPoint() && e.basePoint() == p.basePoint()) {
                    out.add(e);
                }
            }
        }
        return out;
    }

    /** The standby holds the captured point durably: retire older checkpoints, commit the maps, free the spool. */
    public void acknowledged(Captured c) throws IOException {
        acknowledged(c.pending());
    }

    /**
     * Ranges of {@code disk} that a verify found different on the standby: its hash map forgets
     * them, and the next capture reads them as if dirty, so that point repairs the replica.
     */
    public void scheduleRepair(String disk, List<long[]> ranges) throws IOException {
        RepairRanges.schedule(maps, disk, ranges);
    }

    /** The ranges to repair per disk, scheduled by a verify and not yet acknowledged. */
    public java.util.Map<String, List<long[]>> repairs() throws IOException {
        return RepairRanges.all(maps);
    }

    private Path seedMarker() {
        return seedMarker(maps);
    }

    private static Path seedMarker(Path mapDir) {
        return mapDir.resolve("seed-exported.json");
    }

    /** Whether the pending point went to removable media: it is not sent over the link, only asked for. */
    public boolean awaitingSeedImport() {
        return Files.exists(seedMarker());
    }

    /**
     * Captures the domain's first point into the spool for a seed on removable media and marks it
     * so: until the standby has imported it, cycles only ask the standby for it. Refused for a
     * domain that already replicates.
     */
    public Captured captureSeed(XzBlockCodec.Preset preset) throws IOException {
        if (chain.base() != 0 || pending().isPresent()) {
            throw new IllegalStateException(uuid + " already replicates (standby at point " + chain.base()
                    + (chain.base() == 0 ? ", a point pending" : "") + "): a seed is for a domain's first point");
        }
        Captured c = capture(preset);
        AtomicFiles.write(seedMarker(), JSON.writeValueAsBytes(c.pending()));
        return c;
    }

    /**
     * Gives up waiting for the seed import of domain {@code uuid} replicated from {@code stateDir}:
     * its pending point will be sent over the link. False when no seed was waiting.
     */
    public static boolean cancelSeed(Path stateDir, UUID uuid) throws IOException {
        return Files.deleteIfExists(seedMarker(mapDirectory(stateDir, uuid)));
    }

    /**
     * The standby refused a disk's delta of {@code p}: COPY sources on its replica drifted. The point
     * is abandoned (its deltas go, its checkpoint merges back, so the next capture reads its changes
     * again under the same number) and the drifted ranges are forgotten in the hash map and read
     * again as if dirty, so the next point repairs them and never copies from them.
     */
    public void sourcesStale(Pending p, String disk, List<long[]> ranges) throws IOException {
        scheduleRepair(disk, ranges);
        for (Spool.Entry e : entries(p)) {
            spool.discard(e);
        }
        Files.deleteIfExists(pendingFile());
        if (chain.state().points().contains(p.newPoint())) {
            chain.discard(p.newPoint());
        }
    }

    /** The standby holds {@code p} on every disk. */
    public void acknowledged(Pending p) throws IOException {
        Files.deleteIfExists(seedMarker());
        chain.acknowledge(p.newPoint());
        DeltaEncoder.acknowledged(spool, maps, uuid, p.disks(), p.newPoint());
        for (String disk : p.disks()) {
            RepairRanges.done(maps, disk); // that point read them again
        }
        AtomicFiles.write(maps.resolve("acknowledged.json"), JSON.writeValueAsBytes(p));
        Files.deleteIfExists(pendingFile());
    }

    /**
     * The replica manifest of this domain as of {@code point}, with the policy's network map and
     * retention, and whether the standby still needs it: it goes only when something but the point
     * changed since the standby last stored one.
     */
    public Optional<io.amirror.standby.ReplicaManifest> manifestToSend(int point, io.amirror.config.Policy policy)
            throws IOException {
        String xml;
        String name;
        try {
            xml = domain.getXMLDesc(3); // VIR_DOMAIN_XML_SECURE | VIR_DOMAIN_XML_INACTIVE: the definition, not the run
            name = domain.getName();
        } catch (org.libvirt.LibvirtException e) {
            throw new IOException("cannot read the definition of " + uuid + ": " + e.getMessage(), e);
        }
        var m = new io.amirror.standby.ReplicaManifest(uuid, name, point, xml, policy.replica().networks(),
                policy.replica().bridges(), policy.keepPoints(), policy.keepAge().toSeconds(), null);
        return m.newerThan(maps.resolve("described.sha256")) ? Optional.of(m) : Optional.empty();
    }

    /** The standby stored {@code m}. */
    public void described(io.amirror.standby.ReplicaManifest m) throws IOException {
        m.stored(maps.resolve("described.sha256"));
    }

    /**
     * Before the first point of a chain: for each disk without a hash map, asks the standby for the
     * hashes of a seed it holds (an older copy adopted there), so the first capture sends only the
     * blocks that differ from it. Returns the bytes of hashes received per seeded disk.
     */
    public java.util.Map<String, Long> seedFromStandby(io.amirror.transport.Sender standby) throws IOException {
        java.util.Map<String, Long> seeded = new java.util.TreeMap<>();
        if (chain.base() != 0) {
            return seeded;
        }
        List<io.amirror.libvirt.DiskInfo> disks;
        try {
            disks = io.amirror.capture.DomainCapture.replicatedDisks(domain.getName(),
                    io.amirror.libvirt.DomainXmlReader.disks(domain.getXMLDesc(0)));
        } catch (org.libvirt.LibvirtException e) {
            throw new IOException("cannot read the disks of " + uuid + ": " + e.getMessage(), e);
        }
        Files.createDirectories(maps);
        for (io.amirror.libvirt.DiskInfo d : disks) {
            Path map = maps.resolve(d.target() + ".map");
            if (Files.exists(map)) {
                continue; // what the primary already knows of the replica is better than a seed
            }
            long size;
            try {
                size = domain.blockInfo(d.target()).getCapacity();
            } catch (org.libvirt.LibvirtException e) {
                throw new IOException("cannot read the size of " + d.target() + ": " + e.getMessage(), e);
            }
            Path partial = maps.resolve(d.target() + ".map.seeding");
            Files.deleteIfExists(partial);
            long got;
            try (io.amirror.delta.ReplicaHashMap m = io.amirror.delta.ReplicaHashMap.open(partial, size)) {
                got = standby.seed(uuid, d.target(), m);
            }
            if (got < 0) {
                Files.delete(partial);
            } else {
                Files.move(partial, map, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                seeded.put(d.target(), got);
            }
        }
        return seeded;
    }

    /**
     * The chain broke (bitmaps lost or inconsistent, metadata gone): forget it and its bitmaps; the
     * next capture reads the disks in full and sends only the blocks whose hash differs from the
     * replica's, as the next point after the standby's.
     */
    public void resetChain() {
        capture.resetChain(domain, chain);
    }

    /** A verify's outcome, kept so a restart does not verify again before it is due. */
    public record Verified(long at, int point, boolean identical, String summary) {
    }

    public void verified(Verified v) throws IOException {
        Files.createDirectories(maps);
        AtomicFiles.write(maps.resolve("verified.json"), JSON.writeValueAsBytes(v));
    }

    public Optional<Verified> lastVerified() throws IOException {
        Path f = maps.resolve("verified.json");
        return Files.exists(f) ? Optional.of(JSON.readValue(f.toFile(), Verified.class)) : Optional.empty();
    }

    /** The last point the standby acknowledged, with its disks, if any was recorded. */
    public Optional<Pending> lastAcknowledged() throws IOException {
        Path f = maps.resolve("acknowledged.json");
        if (!Files.exists(f)) {
            return Optional.empty();
        }
        Pending p = JSON.readValue(f.toFile(), Pending.class);
        return p.newPoint() == chain.base() ? Optional.of(p) : Optional.empty();
    }

    /** When the last acknowledged point was cut, if this instance or an earlier one recorded it. */
    public Optional<Instant> lastAcknowledgedCut() throws IOException {
        return lastAcknowledged().map(p -> Instant.ofEpochMilli(p.cutAt()));
    }
}
