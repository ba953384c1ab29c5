package io.amirror.standby;

import io.amirror.transport.ReplicaManifest;

import io.amirror.config.StandbyConfig;
import io.amirror.delta.DeltaFiles;
import io.amirror.delta.DeltaFormat;
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
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Stream;

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
     * a lost ACK. {@code rollingTo} is the kept point a roll back is restoring (0: none): journaled
     * before the image changes, so a crash in between is finished, not mistaken for {@code point}.
     */
    public record State(int point, int pending, String pendingDelta, long virtualSize, String appliedSha256,
                        String pendingSha256, int rollingTo) {
        public State(int point, int pending, String pendingDelta, long virtualSize, String appliedSha256,
                     String pendingSha256) {
            this(point, pending, pendingDelta, virtualSize, appliedSha256, pendingSha256, 0);
        }
    }

    /**
     * A recovery point: a snapshot of the replica after point {@code point} was applied. {@code date}
     * is the snapshot's (the standby's clock when it was taken); {@code cutAt} the primary's cut
     * time of the point as the standby bounded it ({@link PointTimes}), null when unknown.
     */
    public record Point(int point, String snapshot, String date, String cutAt) {
        public Point(int point, String snapshot, String date) {
            this(point, snapshot, date, null);
        }
    }

    private final DiskFiles files;
    private final UUID domain;
    private final String disk;
    private final DiskImage.Tools tools;
    private final Retention retention;
    private final ApplyJournal journal;
    private final RecoveryPoints recoveryPoints;
    private final Path root;

    /**
     * Which recovery points to keep ({@link #toDrop}, applied after every apply): the newest always;
     * beyond it at most {@code count}, none older than {@code maxAge}, except that a point younger
     * than {@code immutable} is never dropped.
     *
     * <p>Ages are never the standby's wall clock against a snapshot's date, so a jump of the
     * standby's clock, either way, prunes nothing more than before ({@link PointTimes}):
     * <ul>
     *   <li>a point's <b>age</b> is the newest point's cut time minus its own, on the primary's cut
     *       time axis (bounded by the standby when recorded); a point whose cut time is unknown
     *       (received as delta format 1 or 2), or whose newest point's is, has no age: it goes by
     *       count alone, never by age;</li>
     *   <li>a point is <b>immutable</b> while the newest point's receipt is less than
     *       {@code immutable} after its own receipt (the standby's receive clock, which a jump of the
     *       wall clock while the daemon runs does not move; the snapshot's date for a point received
     *       before receipt times were recorded), or while its age on the cut axis is less than
     *       {@code immutable} (plus the hour a cut time may be ahead of its receipt): a forged cut time can stretch the one, a standby clock set forward
     *       across a restart the other, and it takes both at once to expose a point;</li>
     *   <li>ages are relative to the newest point, not to "now": a standby that receives nothing
     *       for weeks keeps its points, and so the last clean ones, until new ones arrive.</li>
     * </ul>
     *
     * <p>The standby's configuration gives the floor; a primary's policy (its manifest) may ask to
     * keep more points or keep them longer, never fewer or shorter ({@link #withRequest}): whoever
     * owns the primary must not be able to erase the history the standby promised to keep.
     */
    public record Retention(int count, Duration maxAge, Duration immutable) {
        /** The most points, and the longest age, a primary's request can raise the floor to. */
        static final int MOST_POINTS = 1000;
        static final Duration LONGEST = Duration.ofDays(36500);
        /** Keeps every point: for recovery outside the daemon, which must not prune by a guess. */
        public static final Retention KEEP_ALL = new Retention(Integer.MAX_VALUE, LONGEST, LONGEST);

        public Retention {
            if (count < 1) {
                throw new IllegalArgumentException("keep at least one recovery point");
            }
            if (maxAge.isNegative() || immutable.isNegative()) {
                throw new IllegalArgumentException("ages cannot be negative");
            }
        }

        public Retention(int count, Duration maxAge) {
            this(count, maxAge, Duration.ZERO);
        }

        public static Retention count(int n) {
            return new Retention(n, LONGEST);
        }

        /**
         * This floor raised by what {@code m}'s policy asks for, each figure bounded by what a
         * request may reach; a request below the floor changes nothing.
         */
        public Retention withRequest(Optional<ReplicaManifest> m) {
            if (m.isEmpty()) {
                return this;
            }
            int asked = Math.min(Math.max(m.get().keepPoints(), 1), MOST_POINTS);
            Duration askedAge = Duration.ofSeconds(Math.min(Math.max(m.get().keepSeconds(), 0), LONGEST.toSeconds()));
            return new Retention(Math.max(count, asked), askedAge.compareTo(maxAge) > 0 ? askedAge : maxAge, immutable);
        }

        /**
         * One kept point as retention sees it: {@code cutMillis} its bounded cut time (0 unknown),
         * {@code receivedMillis} its receipt by the standby.
         */
        record Aged(int point, long cutMillis, long receivedMillis) {
        }

        /** The points to drop of {@code points} (oldest first): the rules of the class comment, pure. */
        List<Integer> toDrop(List<Aged> points) {
            List<Integer> out = new ArrayList<>();
            if (points.isEmpty()) {
                return out;
            }
            Aged newest = points.get(points.size() - 1);
            long maxAgeMs = maxAge.toMillis();
            long lockedMs = immutable.toMillis();
            for (int i = 0; i < points.size() - 1; i++) {
                Aged p = points.get(i);
                boolean tooMany = i < points.size() - count;
                boolean aged = p.cutMillis() > 0 && newest.cutMillis() > 0;
                long age = aged ? newest.cutMillis() - p.cutMillis() : 0;
                boolean tooOld = aged && age > maxAgeMs;
                // on the cut axis with the slack a cut time may be ahead of its receipt (PointTimes.AHEAD)
                boolean locked = lockedMs > 0 && (newest.receivedMillis() - p.receivedMillis() < lockedMs
                        || (aged && age < lockedMs + PointTimes.AHEAD));
                if ((tooMany || tooOld) && !locked) {
                    out.add(p.point());
                }
            }
            return out;
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
        this.root = root;
        this.domain = domain;
        this.disk = disk;
        this.tools = tools;
        this.retention = retention;
        this.journal = new ApplyJournal(files.journal());
        this.recoveryPoints = new RecoveryPoints(files.image(), tools,
                new PointTimes(files.times(), PointTimes.RECEIVE_CLOCK));
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

    /** Finishes an apply or a roll back that a crash interrupted. Call before accepting anything. */
    public void recover() throws IOException {
        State s = state();
        if (s.rollingTo() != 0 || s.pending() != 0) {
            refuseIfInUse("finishing the interrupted apply");
        }
        if (s.rollingTo() != 0) {
            rollTo(s.rollingTo());
            return;
        }
        if (s.pending() != 0) {
            apply(Path.of(s.pendingDelta()), true);
        }
    }

    /**
     * Where the bytes of an offered delta go; the sender resumes after the bytes already there.
     * Refuses, before anything is written: a delta that does not start at the replica's point (no
     * offer ever moves a replica back: only an admin's failover does), a disk larger than
     * {@code maxDiskBytes} or far larger than the replica, a disk that shrank, and a delta that
     * would not fit in the {@code free} bytes the caller counts for it ({@link #spaceNeeded}).
     * Partials of other deltas of this disk are dropped: the primary sends one delta per disk at a
     * time, so an offer of another one means those were abandoned (superseded in its spool).
     */
    public Path prepareIncoming(int basePoint, int newPoint, long size, byte[] sha256, long virtualSize,
                                long maxDiskBytes, long free) throws IOException {
        State s = state();
        if (s.pending() != 0) {
            recover();
            s = state();
        }
        if (basePoint != s.point()) {
            throw new StandbyRefusal(Refuse.BASE_MISMATCH, "replica of " + domain + " "
                    + disk + " is at point " + s.point() + ", the delta starts at " + basePoint);
        }
        checkSize(virtualSize, s.point() == 0 ? 0 : s.virtualSize(), maxDiskBytes);
        Path in = files.partial(sha256);
        reachable();
        PrivateFiles.createDirectories(in.getParent());
        dropAbandonedPartials(in);
        long need = spaceNeeded(size, in);
        if (need > free) {
            throw new StandbyRefusal(Refuse.NO_SPACE, "delta " + basePoint + "->" + newPoint + " of " + disk + " ("
                    + size + " bytes) needs " + need + " bytes on the standby, " + Math.max(0, free) + " are free");
        }
        return in;
    }

    /** As above, counting the whole file system's free space. */
    public Path prepareIncoming(int basePoint, int newPoint, long size, byte[] sha256, long virtualSize,
                                long maxDiskBytes) throws IOException {
        PrivateFiles.createDirectories(files.incoming());
        return prepareIncoming(basePoint, newPoint, size, sha256, virtualSize, maxDiskBytes, usableSpace());
    }

    /**
     * What receiving and applying a delta of {@code size} bytes takes on the standby's disk: the
     * bytes still to come into {@code partial}, and as much again for the image to grow by (the
     * apply checks its real need, from the verified delta, before it writes: {@link PointApply}).
     */
    long spaceNeeded(long size, Path partial) throws IOException {
        long have = Files.exists(partial) ? Files.size(partial) : 0;
        return Math.max(0, size - have) + size;
    }

    /** The bytes free for the replica on its file system. */
    long usableSpace() throws IOException {
        Path at = files.dir();
        while (!Files.exists(at)) {
            at = at.getParent();
        }
        return Files.getFileStore(at).getUsableSpace();
    }

    private void dropAbandonedPartials(Path keep) throws IOException {
        try (Stream<Path> s = Files.list(files.incoming())) {
            for (Path p : s.filter(p -> !p.equals(keep)).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /**
     * What applying {@code st} takes on the standby's disk, at most: its DATA bytes and its COPY
     * sources land in the image, plus room for the image's own tables and the recovery point.
     * The DATA count is the trailer's (verified when the delta was staged).
     */
    long applyNeeds(Staged st) throws IOException {
        long data;
        try (FileChannel ch = FileChannel.open(st.file(), StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(8);
            ch.read(b, ch.size() - DeltaFormat.TRAILER_SIZE + 16); // magic, block count, frame count, then DATA bytes
            data = Math.max(0, b.flip().getLong());
        }
        long copies = st.sources() != null && st.sources().file() != null ? Files.size(st.sources().file()) : data;
        return data + copies + (data >> 6) + APPLY_SLACK;
    }

    /** Room for qcow2's tables and a snapshot's, whatever the delta holds. */
    static final long APPLY_SLACK = 8L << 20;

    /** Drops recovery points down to {@code floor} (never the newest, never an immutable one), to make room. */
    void pruneTo(Retention floor) throws IOException {
        recoveryPoints.prune(floor, heldPoints());
    }

    /** A disk may grow this much at one point, beyond which an offer is taken for an attack or a mistake. */
    static final long GROWTH_FACTOR = 4;
    static final long GROWTH_SLACK = 64L << 30;

    /**
     * Refuses a declared disk size beyond the standby's limit, below the replica's (a shrink), or far
     * beyond it: verifying and applying cost in proportion to the declared size, so it is bounded
     * before any work.
     */
    static void checkSize(long declared, long replica, long maxDiskBytes) throws StandbyRefusal {
        if (declared > maxDiskBytes) {
            throw new StandbyRefusal(Refuse.TOO_LARGE, "the offered disk has " + declared + " bytes, more than the "
                    + maxDiskBytes + " this standby takes (limits.maxDiskBytes in its configuration)");
        }
        if (replica > 0 && declared < replica) {
            throw new StandbyRefusal(Refuse.BAD_DELTA, "the primary's disk shrank from " + replica + " to " + declared
                    + " bytes; the replica does not follow a shrink: start a new replica of it");
        }
        if (replica > 0 && declared > replica * GROWTH_FACTOR + GROWTH_SLACK) {
            throw new StandbyRefusal(Refuse.TOO_LARGE, "the offered disk has " + declared + " bytes, the replica "
                    + replica + ": a disk grows by at most " + GROWTH_FACTOR + " times plus " + (GROWTH_SLACK >> 30)
                    + " GiB between two points; start a new replica for a disk made that much larger");
        }
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

    /** Whether this very delta is staged, waiting for the other disks of its point: its ACK was lost. */
    public boolean holdsStaged(int basePoint, int newPoint, byte[] sha256) {
        return Files.exists(files.staged(basePoint, newPoint, sha256));
    }

    /**
     * A delta received whole, verified, and waiting for its point's other disks. {@code sources}
     * are its COPY sources as verification gathered them, when it was just staged (null when found
     * on disk later: the apply gathers them again).
     */
    record Staged(Path file, int basePoint, int newPoint, String sha256, DeltaFiles.Sources sources) {
        /** Drops the gathered sources of a delta that waits (they are gathered again at its apply). */
        void forgetSources() throws IOException {
            if (sources != null && sources.file() != null) {
                Files.deleteIfExists(sources.file());
            }
        }
    }

    /** The staged delta that takes this replica from its point to {@code newPoint}, if there is one. */
    Optional<Staged> stagedFor(int newPoint) throws IOException {
        int at = state().point();
        return staged().stream().filter(st -> st.newPoint() == newPoint && st.basePoint() == at).findFirst();
    }

    private List<Staged> staged() throws IOException {
        if (!Files.isDirectory(files.dir())) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(files.dir())) {
            return s.filter(StandbyLayout.DiskFiles::isStaged).map(p -> {
                String[] f = p.getFileName().toString().replace(".amd", "").split("-");
                return new Staged(p, Integer.parseInt(f[1]), Integer.parseInt(f[2]), f[3], null);
            }).toList();
        }
    }

    /**
     * A delta has arrived completely: checks it against the offer (digest, domain, disk, points,
     * disk size), verifies it whole and checks its COPY sources, and holds it as staged until its
     * point's other disks are there ({@link PointApply}). Nothing of the replica changes here; a
     * staged delta of another point or digest is superseded (the primary redid that point). A delta
     * that fails a check is discarded and refused.
     */
    public Staged stage(Path received, int basePoint, int newPoint, long size, byte[] sha256, long virtualSize)
            throws IOException {
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
                || h.newPoint() != newPoint || h.virtualSize() != virtualSize) {
            Files.deleteIfExists(received);
            throw new StandbyRefusal(Refuse.BAD_DELTA, "the delta is for " + h.domain() + " " + h.disk() + " "
                    + h.basePoint() + "->" + h.newPoint() + " of " + h.virtualSize() + " bytes, not what was offered");
        }
        // verified whole and its COPY sources checked before it is kept: a replica that drifted refuses
        // the delta (StaleSourceException names the ranges), keeps nothing, stays at its point
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
        Path ready = files.staged(basePoint, newPoint, sha256);
        Files.move(received, ready, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        for (Staged other : staged()) {
            if (!other.file().equals(ready)) {
                Files.deleteIfExists(other.file());
            }
        }
        return new Staged(ready, basePoint, newPoint, HexFormat.of().formatHex(sha256), sources);
    }

    /**
     * Applies a staged delta: journaled as pending, applied, a recovery point taken, journaled as
     * at its point. Called by {@link PointApply} with the domain's point journal written, so a crash
     * in between is finished for every disk of the point, not only this one.
     */
    void applyStaged(Staged st) throws IOException {
        DeltaHeader h;
        try (InputStream in = new BufferedInputStream(Files.newInputStream(st.file()))) {
            h = DeltaReader.readHeader(in);
        }
        refuseIfInUse("applying point " + st.newPoint());
        State s = state();
        save(new State(s.point(), st.newPoint(), st.file().toString(), h.virtualSize(), s.appliedSha256(), st.sha256()));
        if (st.sources() != null) {
            apply(st.file(), h, st.sources(), false);
        } else {
            apply(st.file(), false);
        }
    }

    /**
     * Pass one of an apply ({@link DeltaFiles#gatherSources}): the delta verified whole, its COPY
     * sources read from the base point's snapshot, which is opened only if there are any.
     */
    private DeltaFiles.Sources sources(Path delta, DeltaHeader h) throws IOException {
        return DeltaFiles.gatherSources(delta, () -> DiskImage.openSnapshot(image(), RecoveryPoints.snapshotName(h.basePoint()), tools),
                true);
    }

    /** Applies a journaled delta, verified again: a delta damaged on disk since it arrived must not touch the image. */
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
        recoveryPoints.take(h.newPoint(), h.cutMillis());
        save(new State(h.newPoint(), 0, null, h.virtualSize(), s.pendingSha256(), null));
        Files.deleteIfExists(delta);
        Files.deleteIfExists(seedMap()); // the replica moved on from the seed
        recoveryPoints.prune(retention, heldPoints());
    }

    /** The points no pruning may drop now: a drill's under way ({@link ReplicaDomain#pinForDrill}). */
    private Set<Integer> heldPoints() throws IOException {
        return ReplicaDomain.DRILL_PIN.read(StandbyLayout.domain(root, domain).drillPin())
                .map(p -> Set.of(p.point())).orElse(Set.of());
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
     *
     * <p>{@code source} is probed first ({@link SeedSource#probe}, with the standby's default disk
     * limit): nothing is made when it is refused.
     */
    public void adopt(Path source) throws IOException {
        adopt(SeedSource.probe(source, null, StandbyConfig.DEFAULT_MAX_DISK_BYTES, tools));
    }

    /**
     * {@link #adopt(Path)} of a source already probed: it is copied as its probe found it (format
     * and protocol fixed, no backing file opened), and nothing of the replica is made before the
     * replica is found empty.
     */
    public void adopt(SeedSource source) throws IOException {
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
        long size;
        try {
            // a local copy: minutes per 100 GiB, so its deadline follows the size (at least 20 MiB/s)
            RecoveryPoints.qemuImg(tools, Duration.ofMinutes(10).plusSeconds(source.virtualSize() / (20 << 20)),
                    "convert", "-U", source.descriptor(), "-O", "qcow2", "-o", "compat=1.1", copy.toString());
            try (DiskImage img = DiskImage.open(copy, false, tools);
                 ReplicaHashMap m = ReplicaHashMap.open(map, img.size())) {
                size = img.size();
                if (size != source.virtualSize()) {
                    throw new IOException("the copy of " + source.path() + " has " + size + " bytes, the source "
                            + source.virtualSize() + ": it changed while it was copied");
                }
                m.rebuild(new BufferedInputStream(img.stream(), 1 << 20), 0);
            }
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(copy);
            Files.deleteIfExists(map);
            throw e;
        }
        Files.move(map, seedMap(), StandardCopyOption.ATOMIC_MOVE);
        Files.move(copy, image(), StandardCopyOption.ATOMIC_MOVE);
        save(new State(0, 0, null, size, null, null));
    }

    /**
     * QEMU's image locks: every QEMU process (a guest, qemu-img, qemu-nbd) that opens an image
     * holds shared fcntl locks on bytes 100 to 104 (the permissions it uses) and 200 to 204 (those
     * it refuses others). Nobody holds one while no QEMU process has the image open.
     */
    private static final long QEMU_LOCK_BYTES = 100, QEMU_LOCK_SPAN = 105;

    /**
     * Whether another process has the replica image open the way QEMU does (a running guest: the
     * replica domain started by libvirt with or without amirror's hook, or by hand): an exclusive
     * test of QEMU's lock bytes fails then. Taken and dropped at once; the caller holds the
     * domain's lock, so no apply of this standby's own has the image open meanwhile.
     */
    public boolean inUse() throws IOException {
        if (!Files.isRegularFile(image())) {
            return false;
        }
        try (FileChannel ch = FileChannel.open(image(), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            java.nio.channels.FileLock l = ch.tryLock(QEMU_LOCK_BYTES, QEMU_LOCK_SPAN, false);
            if (l == null) {
                return true;
            }
            l.release();
            return false;
        }
    }

    /** Refuses to change an image that a running process holds: the replica may be a live guest's disk. */
    void refuseIfInUse(String doing) throws IOException {
        if (inUse()) {
            throw new StandbyRefusal(Refuse.IN_USE, "the replica image of " + domain + " " + disk + " is open in a "
                    + "running process (the replica domain runs, started without amirror's hook, or a tool holds the "
                    + "image): " + doing + " waits until it is closed, and a replica that ran as the domain is "
                    + "promoted");
        }
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
        refuseIfInUse("rolling it to point " + point);
        State s = state();
        if (points().stream().noneMatch(p -> p.point() == point)) {
            throw new IOException("no recovery point " + point + " is kept for " + domain + " " + disk + "; kept: "
                    + points().stream().map(Point::point).toList());
        }
        // journaled first: once the image starts to change, the journal no longer claims the newer point
        save(new State(s.point(), 0, s.pendingDelta(), s.virtualSize(), null, null, point));
        recoveryPoints.restore(point);
        save(new State(point, 0, null, s.virtualSize(), null, null));
        if (s.pendingDelta() != null) {
            Files.deleteIfExists(Path.of(s.pendingDelta()));
        }
    }

}
