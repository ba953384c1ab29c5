package io.amirror.standby;

import io.amirror.transport.ReplicaManifest;

import io.amirror.delta.DeltaFormat;
import io.amirror.image.DiskImage;
import io.amirror.standby.StandbyLayout.DomainFiles;
import io.amirror.state.StateFile;
import io.amirror.util.AtomicFiles;
import io.amirror.util.PrivateFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * One replicated domain on the standby: directory {@code <replicas>/<primary uuid>/}, with one
 * {@link ReplicaDisk} per disk, the {@link ReplicaManifest} it was last described with, and the
 * failover journal:
 * <ul>
 *   <li>{@code failover.json}: the point an admin chose with {@code amirror failover --point K},
 *       to be rolled to at the next start;</li>
 *   <li>{@code starting.json}: the replica was prepared for a start (libvirt's {@code prepare}
 *       hook) that has not been seen running yet; the standby takes no delta meanwhile. The
 *       {@code started} hook turns it into {@code promoted.json}; a start that failed removes it,
 *       and the replica is a replica again;</li>
 *   <li>{@code promoted.json}: the replica was started as the domain (failed over) at this point;
 *       from then on it is the live disk and the standby refuses deltas for it.</li>
 * </ul>
 * The receiver, the libvirt hook and the CLI are separate processes; each change of a replica's
 * images or journal happens under {@link #lock()}, an exclusive lock on {@code lock} in the
 * directory ({@link DomainLock}), which the receiver holds for a whole transfer. A start waits for
 * it a bounded time after asking for it ({@code start-requested}), and a transfer lets go as soon
 * as it sees that request. Whoever holds the lock must not call libvirt: the hook that waits for
 * it runs inside a libvirt start.
 *
 * <p>This class is the one writer of the domain directory's JSON files (each a {@link StateFile}
 * kind of format 1; the files of format 0, written before formats existed, hold the same fields):
 * the manifest, the definition record, the owner record, and the failover journal.
 */
public final class ReplicaDomain {
    /** The replica was promoted: started as the domain, at {@code point}. */
    /**
     * {@code committed}: the admin said the point is final ({@code amirror failover --commit});
     * until then, with the domain shut down, another kept point may be tried, the guest's writes
     * since its start then being discarded.
     */
    public record Promoted(int point, String at, boolean committed) {
    }

    /**
     * The replica was prepared for a start at {@code point}, at {@code at}; it becomes
     * {@link Promoted} when the domain is seen running, and a replica again when the start failed.
     */
    public record Starting(int point, String at, boolean trial) {
    }

    /** The replica domain as last defined in the standby's libvirt. */
    record Defined(String name, String xml) {
    }

    /** The point an admin chose for the next start. */
    record FailoverChoice(int point) {
    }

    /**
     * Whom the replica belongs to: the tenant (a configured tenant's name, or for a peer bound to
     * no tenant its fingerprint), and the peer that first sent for it, since when.
     */
    public record Owner(String tenant, String fingerprint, String subject, String since) {
    }

    /** Drill {@code id} boots point {@code point} since {@code since}: pruning keeps that point until it ends. */
    public record DrillPin(String id, int point, String since) {
    }

    static final StateFile<ReplicaManifest> MANIFEST = StateFile.of("replica manifest", ReplicaManifest.class, 1)
            .migrating(0, unchanged -> unchanged);
    static final StateFile<Defined> DEFINED = StateFile.of("replica definition record", Defined.class, 1)
            .migrating(0, unchanged -> unchanged);
    static final StateFile<Promoted> PROMOTED = StateFile.of("promotion record", Promoted.class, 2)
            .migrating(0, unchanged -> unchanged)
            .migrating(1, older -> older.put("committed", true)); // made before trials existed: final
    static final StateFile<Starting> STARTING = StateFile.of("start record", Starting.class, 2)
            .migrating(1, older -> older.put("trial", false));
    static final StateFile<Owner> OWNER = StateFile.of("replica owner", Owner.class, 1);
    static final StateFile<DrillPin> DRILL_PIN = StateFile.of("drill pin", DrillPin.class, 1);
    static final StateFile<DrillReport> LAST_DRILL = StateFile.of("drill report", DrillReport.class, 1);
    static final StateFile<FailoverChoice> FAILOVER = StateFile.of("failover choice", FailoverChoice.class, 1)
            .migrating(0, unchanged -> unchanged);

    /** The domain's lock, held until closed. */
    public interface Lock extends AutoCloseable {
        @Override
        void close() throws IOException;
    }

    private final Path replicas;
    private final UUID uuid;
    private final DomainFiles files;
    private final DiskImage.Tools tools;

    public ReplicaDomain(Path replicas, UUID uuid, DiskImage.Tools tools) {
        this.replicas = replicas;
        this.uuid = uuid;
        this.files = StandbyLayout.domain(replicas, uuid);
        this.tools = tools;
    }

    /**
     * Finds a replicated domain by the primary's UUID, the primary's name, or the replica domain's
     * name as the standby defined it.
     */
    public static Optional<ReplicaDomain> find(Path replicas, String nameOrUuid, DiskImage.Tools tools) throws IOException {
        for (ReplicaDomain d : all(replicas, tools)) {
            if (d.uuid.toString().equalsIgnoreCase(nameOrUuid)) {
                return Optional.of(d);
            }
            Optional<ReplicaManifest> m = d.manifest();
            Optional<String> defined = d.definedName();
            if ((m.isPresent() && m.get().name().equals(nameOrUuid)) || defined.filter(nameOrUuid::equals).isPresent()) {
                return Optional.of(d);
            }
        }
        return Optional.empty();
    }

    public static List<ReplicaDomain> all(Path replicas, DiskImage.Tools tools) throws IOException {
        List<ReplicaDomain> out = new ArrayList<>();
        if (!Files.isDirectory(replicas)) {
            return out;
        }
        try (Stream<Path> s = Files.list(replicas)) {
            for (Path p : s.sorted().toList()) {
                try {
                    UUID u = UUID.fromString(p.getFileName().toString());
                    out.add(new ReplicaDomain(replicas, u, tools));
                } catch (IllegalArgumentException notADomain) {
                    // not ours
                }
            }
        }
        return out;
    }

    public UUID uuid() {
        return uuid;
    }

    DiskImage.Tools tools() {
        return tools;
    }

    public Path directory() {
        return files.dir();
    }

    StandbyLayout.DomainFiles files() {
        return files;
    }

    /** The disks that have received anything, by target name. */
    public List<String> diskNames() throws IOException {
        if (!Files.isDirectory(files.dir())) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(files.dir())) {
            return s.filter(Files::isDirectory).map(p -> p.getFileName().toString())
                    .filter(DeltaFormat::validDiskName).sorted().toList();
        }
    }

    public ReplicaDisk disk(String name, ReplicaDisk.Retention retention) {
        return new ReplicaDisk(replicas, uuid, name, tools, retention);
    }

    /**
     * The disk, keeping every recovery point: for the hook and the CLI, which finish or roll
     * replicas but leave pruning to the standby daemon and its configured retention.
     */
    public ReplicaDisk disk(String name) {
        return disk(name, ReplicaDisk.Retention.KEEP_ALL);
    }

    /** The tenant the replica belongs to, once a peer sent for it. */
    public Optional<Owner> owner() throws IOException {
        return OWNER.read(files.owner());
    }

    void recordOwner(Owner owner) throws IOException {
        OWNER.write(files.owner(), owner);
    }

    /** Takes the domain's lock, waiting as long as it takes ({@link DomainLock}). */
    public Lock lock() throws IOException {
        return lock("changing the replica");
    }

    /** As {@link #lock()}; {@code what} tells a waiter that gives up what the holder is doing. */
    public Lock lock(String what) throws IOException {
        PrivateFiles.createTraversable(files.dir()); // QEMU passes through to the disks' images (and the NVRAM)
        return DomainLock.acquire(files.lock(), what, null).orElseThrow();
    }

    /** The domain's lock if it comes within {@code wait}; empty otherwise ({@link #lockHolder()} says who has it). */
    public Optional<Lock> tryLock(String what, Duration wait) throws IOException {
        PrivateFiles.createTraversable(files.dir());
        return DomainLock.acquire(files.lock(), what, wait);
    }

    /** What the holder of the domain's lock said it was doing (empty when unknown). */
    public String lockHolder() {
        return DomainLock.holder(files.lock());
    }

    /**
     * Asks whoever holds the domain's lock for a long time (a receive) to let go soon: a start of the
     * replica is waiting. Withdrawn with {@link #withdrawStartRequest()}.
     */
    void requestStart() throws IOException {
        PrivateFiles.createTraversable(files.dir());
        AtomicFiles.writePrivate(files.startRequest(), ("pid " + ProcessHandle.current().pid() + ", " + Instant.now())
                .getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    /** Whether a start of the replica waits for the domain's lock. */
    boolean startRequested() {
        return Files.exists(files.startRequest());
    }

    void withdrawStartRequest() throws IOException {
        AtomicFiles.delete(files.startRequest());
    }

    /** The replica was prepared for a start that has not yet been seen running. */
    public Optional<Starting> starting() throws IOException {
        return STARTING.read(files.starting());
    }

    /** {@code trial}: the start tries another point after a failover not committed, which it stays if the start fails. */
    void recordStarting(int point, boolean trial) throws IOException {
        STARTING.write(files.starting(), new Starting(point, Instant.now().toString(), trial));
    }

    void clearStarting() throws IOException {
        AtomicFiles.delete(files.starting());
    }

    /** The primary's latest description of the domain, checked as when it arrived. */
    public Optional<ReplicaManifest> manifest() throws IOException {
        Optional<ReplicaManifest> m = MANIFEST.read(files.manifest());
        if (m.isPresent()) {
            m.get().check();
        }
        return m;
    }

    public void storeManifest(ReplicaManifest m) throws IOException {
        MANIFEST.write(files.manifest(), m);
    }

    /** The name the replica domain was defined with in the standby's libvirt, once it was. */
    public Optional<String> definedName() throws IOException {
        return DEFINED.read(files.defined()).map(Defined::name);
    }

    /** The replica XML last defined, to skip a define when nothing changed. */
    public Optional<String> definedXml() throws IOException {
        return DEFINED.read(files.defined()).map(Defined::xml);
    }

    public void recordDefined(String name, String xml) throws IOException {
        DEFINED.write(files.defined(), new Defined(name, xml));
    }

    public Optional<Promoted> promoted() throws IOException {
        return PROMOTED.read(files.promoted());
    }

    void recordPromoted(int point) throws IOException {
        PROMOTED.write(files.promoted(), new Promoted(point, Instant.now().toString(), false));
    }

    /** The promotion's point becomes final: no other kept point can be tried from now on. */
    public Promoted commitPromotion() throws IOException {
        try (Lock l = lock("committing the failover")) {
            Promoted p = promoted().orElseThrow(() -> new IllegalStateException("the replica of " + uuid
                    + " was not started as the domain: there is no failover to commit"));
            Promoted done = new Promoted(p.point(), p.at(), true);
            PROMOTED.write(files.promoted(), done);
            return done;
        }
    }

    /** A trial failover is taken back for another point (the caller holds the lock, the domain does not run). */
    void withdrawPromotion() throws IOException {
        AtomicFiles.delete(files.promoted());
    }

    public Optional<Integer> failoverPoint() throws IOException {
        return FAILOVER.read(files.failoverPoint()).map(FailoverChoice::point);
    }

    /** Records the point the next start rolls to; checked against the points kept when the start comes. */
    public void requestFailoverPoint(int point) throws IOException {
        FAILOVER.write(files.failoverPoint(), new FailoverChoice(point));
    }

    void clearFailoverPoint() throws IOException {
        AtomicFiles.delete(files.failoverPoint());
    }

    /** The drill under way, if one holds a point. */
    public Optional<DrillPin> drillPin() throws IOException {
        return DRILL_PIN.read(files.drillPin());
    }

    /**
     * Holds {@code point} for drill {@code id}: refused when another drill holds one, when the
     * replica was promoted, or when a disk does not keep the point. Call under {@link #lock()}, so
     * no prune runs between the check and the pin.
     */
    public void pinForDrill(String id, int point) throws IOException {
        Optional<DrillPin> held = drillPin();
        if (held.isPresent() && !held.get().id().equals(id)) {
            throw new IllegalStateException("drill " + held.get().id() + " of this replica is under way since "
                    + held.get().since() + " (point " + held.get().point() + "); one drill per replica at a time");
        }
        if (promoted().isPresent()) {
            throw new IllegalStateException("the replica was started as the domain at point " + promoted().get().point()
                    + ": there is no replica left to drill");
        }
        for (String disk : diskNames()) {
            if (disk(disk).points().stream().noneMatch(p -> p.point() == point)) {
                throw new IllegalArgumentException("disk " + disk + " keeps no point " + point + " (see amirror points)");
            }
        }
        DRILL_PIN.write(files.drillPin(), new DrillPin(id, point, Instant.now().toString()));
    }

    /** Lets go of drill {@code id}'s point (nothing if another drill, or none, holds one). */
    public void unpinDrill(String id) throws IOException {
        Optional<DrillPin> held = drillPin();
        if (held.isPresent() && held.get().id().equals(id)) {
            AtomicFiles.delete(files.drillPin());
        }
    }

    /** The report of the replica's last drill. */
    public Optional<DrillReport> lastDrill() throws IOException {
        return LAST_DRILL.read(files.lastDrill());
    }

    public void recordDrill(DrillReport d) throws IOException {
        LAST_DRILL.write(files.lastDrill(), d);
    }
}
