package io.amirror.standby;

import io.amirror.transport.ReplicaManifest;

import io.amirror.delta.DeltaFiles;
import io.amirror.delta.DeltaFormatException;
import io.amirror.delta.DeltaHeader;
import io.amirror.delta.DeltaReader;
import io.amirror.delta.ReplicaHashMap;
import io.amirror.image.DiskImage;
import io.amirror.standby.StandbyLayout.DiskFiles;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.util.FileDigest;
import io.amirror.util.PrivateFiles;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;

/**
 * One disk's replica on the standby: a qcow2 image, a journal of the point it holds, and the deltas
 * on their way in. Directory {@code <replicas>/<domain uuid>/<disk>/} ({@link StandbyLayout.DiskFiles}).
 *
 * <p>The journal ({@link ApplyJournal}, {@code state.json}) goes "at k" → "pending k+1 (delta D)"
 * → "at k+1", each step written atomically and synced. Applying a delta is idempotent (frames say
 * "these bytes here"), so a crash during apply is repaired by applying the same delta again:
 * {@link #recover()} does that on start. The replica is therefore always either at k or, once
 * recovered, at k+1; never between. After each apply a recovery point is kept as a qcow2 internal
 * snapshot {@code amirror-<k>} ({@link RecoveryPoints}).
 *
 * <p>Callers hold the domain's lock ({@link ReplicaDomain#lock()}) around every change.
 */
public final class ReplicaDisk {
    /**
     * The journal. {@code pending} is 0 when no apply is in progress. {@code appliedSha256} is the
     * digest of the delta that brought the replica to {@code point}, to recognise a re-offer after
     * a lost ACK.
     */
    public record State(int point, int pending, String pendingDelta, long virtualSize, String appliedSha256,
                        String pendingSha256) {
    }

    /** A recovery point: a snapshot of the replica after point {@code point} was applied. */
    public record Point(int point, String snapshot, String date) {
    }

    private final DiskFiles files;
    private final UUID domain;
    private final String disk;
    private final DiskImage.Tools tools;
    private final Retention retention;
    private final ApplyJournal journal;
    private final RecoveryPoints recoveryPoints;

    /**
     * Which recovery points to keep: at most {@code count}, none older than {@code maxAge}; the
     * newest is always kept.
     */
    public record Retention(int count, Duration maxAge) {
        /** The retention a primary's manifest asks for. */
        public static Retention requestedBy(ReplicaManifest m) {
            return new Retention(m.keepPoints(), Duration.ofSeconds(m.keepSeconds()));
        }

        public Retention {
            if (count < 1) {
                throw new IllegalArgumentException("keep at least one recovery point");
            }
        }

        public static Retention count(int n) {
            return new Retention(n, Duration.ofDays(36500));
        }
    }

    public ReplicaDisk(Path root, UUID domain, String disk, DiskImage.Tools tools, int keepPoints) {
        this(root, domain, disk, tools, Retention.count(keepPoints));
    }

    /**
     * The replica of {@code disk} of {@code domain} under {@code root}, the standby's replicas
     * directory ({@link StandbyLayout#replicas()}).
     */
    public ReplicaDisk(Path root, UUID domain, String disk, DiskImage.Tools tools, Retention retention) {
        this.files = StandbyLayout.disk(root, domain, disk);
        this.domain = domain;
        this.disk = disk;
        this.tools = tools;
        this.retention = retention;
        this.journal = new ApplyJournal(files.journal());
        this.recoveryPoints = new RecoveryPoints(files.image(), tools);
    }

    public Path image() {
        return files.image();
    }

    /** The journal: the point the replica holds, and the apply in progress if there is one. */
    public State state() throws IOException {
        return journal.read();
    }

    private void save(State s) throws IOException {
        journal.write(s);
    }

    /** Finishes an apply that a crash interrupted. Call before accepting anything. */
    public void recover() throws IOException {
        State s = state();
        if (s.pending() != 0) {
            apply(Path.of(s.pendingDelta()), true);
        }
    }

    /**
     * Where the bytes of an offered delta go, and how many of them are already there and good (the
     * sender resumes from that offset). Refuses a delta that does not start at the replica's point
     * or would not fit on disk, before anything is written.
     */
    public Path prepareIncoming(int basePoint, int newPoint, long size, byte[] sha256) throws IOException {
        State s = state();
        if (s.pending() != 0) {
            recover();
            s = state();
        }
        if (alreadyApplied(newPoint, sha256)) {
            return null;
        }
        if (basePoint != s.point() && s.point() == newPoint && basePoint < newPoint
                && points().stream().anyMatch(p -> p.point() == basePoint)) {
            // The primary redoes a point it never acknowledged as a whole: another disk's delta of it was
            // refused (COPY sources that drifted) after this one had applied. Back to the base, kept here.
            rollTo(basePoint);
            recoveryPoints.dropIfPresent(newPoint);
            s = state();
        }
        if (basePoint != s.point()) {
            throw new StandbyRefusal(Refuse.BASE_MISMATCH, "replica of " + domain + " "
                    + disk + " is at point " + s.point() + ", the delta starts at " + basePoint);
        }
        Path in = files.partial(sha256);
        reachable();
        PrivateFiles.createDirectories(in.getParent());
        long have = Files.exists(in) ? Files.size(in) : 0;
        long need = size - have + (s.point() == 0 ? 0 : size); // the delta, and room for the image to grow
        long free = Files.getFileStore(in.getParent()).getUsableSpace();
        if (need > free) {
            throw new StandbyRefusal(Refuse.NO_SPACE, "delta " + basePoint + "->"
                    + newPoint + " of " + size + " bytes does not fit: " + free + " bytes free on the standby");
        }
        return in;
    }

    /**
     * The replica image open for writing at {@code size} bytes. The primary's disk grew (virsh
     * blockresize): the replica grows with it before the delta of the new size is applied; the new
     * blocks read as zero, as they do on the primary until written, and the points before keep
     * their own size. A disk that shrank is refused: the replica would lose the blocks its older
     * points need, and a shrink is an admin's deliberate act to redo.
     */
    private DiskImage openAtSize(long size) throws IOException {
        DiskImage img = DiskImage.open(image(), true, tools);
        long now = img.size();
        if (now == size) {
            return img;
        }
        img.close();
        if (now > size) {
            throw new IOException("the primary's disk shrank from " + now + " to " + size + " bytes; the replica does "
                    + "not follow a shrink: start a new replica of it (move " + files.dir() + " away on the standby)");
        }
        RecoveryPoints.qemuImg(tools, "resize", "-q", "-f", "qcow2", image().toString(), Long.toString(size));
        img = DiskImage.open(image(), true, tools);
        if (img.size() != size) {
            long got = img.size();
            img.close();
            throw new IOException("replica has " + got + " bytes, the delta is for " + size);
        }
        return img;
    }

    /** Whether this very delta (same digest) already brought the replica to {@code newPoint}: its ACK was lost. */
    public boolean alreadyApplied(int newPoint, byte[] sha256) throws IOException {
        State s = state();
        return s.pending() == 0 && s.point() == newPoint && HexFormat.of().formatHex(sha256).equals(s.appliedSha256());
    }

    /**
     * A delta has arrived completely: checks it against the offer (digest, domain, disk, points),
     * verifies it whole, and applies it. Returns the point the replica is now at, durably.
     */
    public int complete(Path received, int basePoint, int newPoint, long size, byte[] sha256) throws IOException {
        if (Files.size(received) != size || !MessageDigest.isEqual(FileDigest.sha256(received), sha256)) {
            Files.deleteIfExists(received);
            throw new StandbyRefusal(Refuse.BAD_DELTA,
                    "the received delta does not match its offer (size or SHA-256); it was discarded");
        }
        DeltaHeader h;
        try (InputStream in = new BufferedInputStream(Files.newInputStream(received))) {
            h = DeltaReader.readHeader(in);
        } catch (DeltaFormatException e) {
            Files.deleteIfExists(received);
            throw new StandbyRefusal(Refuse.BAD_DELTA, "invalid delta: " + e.getMessage());
        }
        if (!h.domain().equals(domain) || !h.disk().equals(disk) || h.basePoint() != basePoint
                || h.newPoint() != newPoint) {
            Files.deleteIfExists(received);
            throw new StandbyRefusal(Refuse.BAD_DELTA, "the delta is for " + h.domain()
                    + " " + h.disk() + " " + h.basePoint() + "->" + h.newPoint() + ", not what was offered");
        }
        // the delta is verified whole and its COPY sources checked before it is journaled: a replica that
        // drifted refuses the delta (StaleSourceException names the ranges), keeps nothing, stays at its point
        DeltaFiles.Sources sources;
        try {
            sources = sources(received, h);
        } catch (DeltaFormatException e) {
            Files.deleteIfExists(received);
            throw new StandbyRefusal(Refuse.BAD_DELTA, "invalid delta: " + e.getMessage());
        } catch (DeltaFiles.StaleSourceException e) {
            Files.deleteIfExists(received);
            throw e;
        }
        Path ready = files.pendingDelta(basePoint, newPoint);
        Files.move(received, ready, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        State s = state();
        save(new State(s.point(), newPoint, ready.toString(), h.virtualSize(), s.appliedSha256(),
                HexFormat.of().formatHex(sha256)));
        apply(ready, h, sources, false);
        return state().point();
    }

    /**
     * Pass one of an apply ({@link DeltaFiles#gatherSources}): the delta verified whole, its COPY
     * sources read from the base point's snapshot, which is opened only if there are any.
     */
    private DeltaFiles.Sources sources(Path delta, DeltaHeader h) throws IOException {
        return DeltaFiles.gatherSources(delta, () -> DiskImage.openSnapshot(image(), RecoveryPoints.snapshotName(h.basePoint()), tools),
                true);
    }

    /** Re-applies the journaled delta: a delta damaged on disk since it arrived must not touch the image. */
    private void apply(Path delta, boolean again) throws IOException {
        DeltaHeader h;
        try (InputStream in = new BufferedInputStream(Files.newInputStream(delta))) {
            h = DeltaReader.readHeader(in);
        }
        DeltaFiles.Sources sources;
        try {
            sources = sources(delta, h);
        } catch (DeltaFormatException e) {
            throw new IOException("the pending delta " + delta.getFileName() + " is damaged: " + e.getMessage());
        }
        apply(delta, h, sources, again);
    }

    private void apply(Path delta, DeltaHeader h, DeltaFiles.Sources sources, boolean again) throws IOException {
        State s = state();
        if (!Files.exists(image())) {
            if (h.basePoint() != 0) {
                throw new IOException("replica image " + image() + " is missing but the delta needs point " + h.basePoint());
            }
            reachable();
            Path made = PrivateFiles.createEmpty(files.creatingImage()); // qemu-img keeps the mode of the file it fills
            RecoveryPoints.qemuImg(tools, "create", "-q", "-f", "qcow2", "-o", "compat=1.1", made.toString(),
                    Long.toString(h.virtualSize()));
            Files.move(made, image(), StandardCopyOption.ATOMIC_MOVE);
        }
        try (DiskImage img = openAtSize(h.virtualSize())) {
            DeltaFiles.apply(delta, img, sources);
        }
        if (again) {
            recoveryPoints.dropIfPresent(h.newPoint()); // the interrupted apply may or may not have taken it
        }
        recoveryPoints.take(h.newPoint());
        save(new State(h.newPoint(), 0, null, h.virtualSize(), s.pendingSha256(), null));
        Files.deleteIfExists(delta);
        Files.deleteIfExists(seedMap()); // the replica moved on from the seed
        recoveryPoints.prune(retention);
    }

    /**
     * The disk's directory made (if missing) and, with the domain's directory and the replicas
     * directory above it, traversable by QEMU ({@link PrivateFiles#makeTraversable}): libvirt gives
     * QEMU the image file when the replica domain starts, not the directories on the way to it.
     * Everything else here stays 0600 and 0700.
     */
    private void reachable() throws IOException {
        PrivateFiles.createTraversable(files.dir());
        Path d = files.dir();
        for (int level = 0; level < 3 && d != null; level++, d = d.getParent()) {
            PrivateFiles.makeTraversable(d);
        }
    }

    /** The hashes of an adopted seed, until the first point is applied on top of it. */
    public Path seedMap() {
        return files.seedMap();
    }

    /**
     * Makes an existing copy of the disk (an old backup, the old primary's image after a failover)
     * the start of this replica: copied locally into the replica image, and hashed by 4 KiB blocks
     * into {@link #seedMap()}. The primary fetches those hashes before its first point and then
     * sends only the blocks that differ. Only for a replica that holds nothing yet.
     */
    public void adopt(Path source) throws IOException {
        State s = state();
        if (Files.exists(image()) || s.point() != 0 || s.pending() != 0) {
            throw new IOException("the replica of " + domain + " " + disk + " already holds point " + s.point()
                    + "; a seed can only start a replica that holds nothing");
        }
        reachable();
        Path copy = files.adoptingImage();
        Path map = files.adoptingSeedMap();
        PrivateFiles.createEmpty(copy); // qemu-img keeps the mode of the file it fills
        Files.deleteIfExists(map);
        RecoveryPoints.qemuImg(tools, "convert", "-U", "-O", "qcow2", "-o", "compat=1.1", source.toString(), copy.toString());
        long size;
        try (DiskImage img = DiskImage.open(copy, false, tools);
             ReplicaHashMap m = ReplicaHashMap.open(map, img.size())) {
            size = img.size();
            m.rebuild(new BufferedInputStream(img.stream(), 1 << 20), 0);
        }
        Files.move(map, seedMap(), StandardCopyOption.ATOMIC_MOVE);
        Files.move(copy, image(), StandardCopyOption.ATOMIC_MOVE);
        save(new State(0, 0, null, size, null, null));
    }

    /** The recovery points kept, oldest first. */
    public List<Point> points() throws IOException {
        return summary().points();
    }

    /** The recovery points kept (oldest first), and what the image takes on the host's disk. */
    public record Summary(List<Point> points, long allocatedBytes) {
    }

    /** One look at the image ({@code qemu-img info}, sharing it with a running apply or guest). */
    public Summary summary() throws IOException {
        return recoveryPoints.summary();
    }

    /**
     * Rolls the replica back to a kept recovery point (for a failover to an earlier state). The
     * image must not be in use. Later points stay, so the replica can be rolled forward again; the
     * primary must then resend from the point the replica is at. An unfinished apply is discarded:
     * the snapshot restores the point exactly, whatever the interrupted apply had written.
     */
    public void rollTo(int point) throws IOException {
        State s = state();
        if (points().stream().noneMatch(p -> p.point() == point)) {
            throw new IOException("no recovery point " + point + " is kept for " + domain + " " + disk + "; kept: "
                    + points().stream().map(Point::point).toList());
        }
        recoveryPoints.restore(point);
        save(new State(point, 0, null, s.virtualSize(), null, null));
        if (s.pendingDelta() != null) {
            Files.deleteIfExists(Path.of(s.pendingDelta()));
        }
    }

}
