package io.amirror.capture;

import io.amirror.libvirt.ChainBrokenException;
import io.amirror.libvirt.ChainException;
import io.amirror.libvirt.CheckpointChain;
import io.amirror.libvirt.DiskBitmaps;
import io.amirror.libvirt.DiskInfo;
import io.amirror.libvirt.DomainXmlReader;
import io.amirror.libvirt.GuestFreeze;
import io.amirror.libvirt.PullBackup;
import io.amirror.libvirt.ShutoffReason;
import io.amirror.nbd.NbdAddress;
import io.amirror.nbd.NbdClient;
import io.amirror.nbd.NbdConstants;
import io.amirror.nbd.NbdException;
import io.amirror.nbd.NbdMessages.Extent;
import io.amirror.nbd.QemuNbd;
import io.amirror.util.Exec;
import io.amirror.util.FileTrees;
import io.amirror.util.PrivateFiles;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns "what changed in domain D since point k" into extents with data, for a running or a shut-off
 * domain, and advances the domain's checkpoint chain by one point.
 *
 * <p>Running domain: one libvirt pull backup creates checkpoint N+1 atomically with an NBD export of
 * each disk whose dirty bitmap covers k..N+1; {@link ExtentPlanner} intersects it with
 * {@code base:allocation}; DATA ranges are read (pipelined), ZERO ranges never are; the job ends. If
 * anything fails after the checkpoint was created, it is discarded (its bitmap merges into its
 * parent), so the chain is as before and no write is lost.
 *
 * <p>Shut-off domain: libvirt cannot create checkpoints then. The images are read through
 * {@code qemu-nbd --read-only} with the bitmaps of every point from k on (their union is what changed
 * since k), then point N+1 is made the way libvirt would: a new enabled bitmap, the previous one
 * disabled ({@code qemu-img bitmap}), and the checkpoint redefined in libvirt.
 *
 * <p>A qcow2 disk is captured incrementally from its dirty bitmap. A raw disk (a raw file, or a
 * block device such as an LVM volume) keeps no persistent bitmap in libvirt 9.0: it is read whole at
 * every point, in the same pull backup as the qcow2 disks (so the point stays consistent across
 * disks), at the sink's bounded {@linkplain CaptureReading#wholeReadRate() read rate}, and the
 * refinement against the replica's block hashes keeps the delta to the blocks that differ. A disk
 * that cannot be read this way (a network or volume disk, another format) stops the capture naming
 * it and the fix, rather than being skipped. Read-only disks and cdroms are not replicated.
 */
public final class DomainCapture {
    private static final Logger log = LoggerFactory.getLogger(DomainCapture.class);

    /**
     * Host tools, where job directories (NBD socket, scratch files) go (QEMU must reach it), and
     * how far a running domain's scratch files may grow while a point is read.
     */
    public record Options(Path qemuNbd, Path qemuImg, Path jobRoot, Duration nbdTimeout, ScratchBudget scratch) {
        public Options(Path qemuNbd, Path qemuImg, Path jobRoot, Duration nbdTimeout) {
            this(qemuNbd, qemuImg, jobRoot, nbdTimeout, ScratchBudget.DEFAULT);
        }
    }

    private final Options options;
    private final DiskBitmaps bitmaps;

    public DomainCapture(Options options) {
        this.options = options;
        this.bitmaps = new DiskBitmaps(options.qemuImg());
    }

    /** Captures the changes since the chain's base (its last acknowledged point) into a new point. */
    public CaptureResult capture(Domain domain, CheckpointChain chain, CaptureSink sink) {
        return capture(domain, chain, chain.base(), sink);
    }

    /** Captures the changes since {@code basePoint} (0: everything) into a new point. */
    public CaptureResult capture(Domain domain, CheckpointChain chain, int basePoint, CaptureSink sink) {
        return capture(domain, chain, basePoint, sink, false);
    }

    /**
     * Captures the changes since {@code basePoint} into a new point; with {@code quiesce}, a running
     * guest's filesystems are frozen through its agent while the point is cut ({@link GuestFreeze}).
     */
    public CaptureResult capture(Domain domain, CheckpointChain chain, int basePoint, CaptureSink sink, boolean quiesce) {
        return capture(domain, chain, basePoint, sink, quiesce, Map.of());
    }

    /**
     * As above; {@code alsoRead} names ranges per disk ({@code [offset, length]}) to capture as if
     * dirty: blocks a verify found different on the standby, so the next point repairs them.
     */
    public CaptureResult capture(Domain domain, CheckpointChain chain, int basePoint, CaptureSink sink, boolean quiesce,
                                 Map<String, List<long[]>> alsoRead) {
        clearLeftoverJob(domain);
        chain.reconcile();
        if (basePoint != 0 && !chain.state().points().contains(basePoint)) {
            throw new CaptureException("cannot capture from " + CheckpointChain.name(basePoint) + ": not in the chain "
                    + chain.state().points());
        }
        String name;
        String xml;
        boolean active;
        try {
            name = domain.getName();
            active = domain.isActive() == 1;
            xml = domain.getXMLDesc(0);
        } catch (LibvirtException e) {
            throw new CaptureException("cannot read domain: " + e.getMessage(), e);
        }
        List<DiskInfo> all = DomainXmlReader.disks(xml);
        List<DiskInfo> disks = replicatedDisks(name, all);
        checkBitmaps(domain, name, chain, tracked(disks), basePoint);
        sink.reading().progress().starting(disks.size());
        int newPoint = chain.nextPoint();
        return active ? captureRunning(domain, name, chain, all, disks, basePoint, newPoint, sink, quiesce, alsoRead)
                : captureShutOff(domain, name, chain, disks, basePoint, newPoint, sink, alsoRead);
    }

    /**
     * The bitmaps in the images must match the chain: every point from the base on has a consistent
     * bitmap on every disk, and no amirror bitmap exists that the chain does not know (one left by a
     * chain whose metadata was lost would otherwise keep recording, unseen, forever).
     */
    private void checkBitmaps(Domain domain, String name, CheckpointChain chain, List<DiskInfo> disks, int base) {
        List<Integer> points = chain.state().points();
        for (var e : bitmaps.list(domain, disks).entrySet()) {
            List<String> stale = new ArrayList<>();
            Map<String, DiskBitmaps.Bitmap> byName = new HashMap<>();
            for (DiskBitmaps.Bitmap b : e.getValue()) {
                byName.put(b.name(), b);
                var p = CheckpointChain.parse(b.name());
                if (p.isPresent() && !points.contains(p.getAsInt())) {
                    stale.add(b.name());
                }
            }
            if (!stale.isEmpty()) {
                throw new ChainBrokenException("disk " + e.getKey() + " of " + name + " holds amirror bitmaps " + stale
                        + " that no checkpoint of the chain " + points + " owns: their chain's metadata was lost; "
                        + "reset the chain to remove them and start a new one (the primary daemon does so itself and repairs the replica by hashes)", null);
            }
            for (int p : points) {
                if (base == 0 || p < base) {
                    continue;
                }
                DiskBitmaps.Bitmap b = byName.get(CheckpointChain.name(p));
                if (b == null || b.inconsistent()) {
                    throw new ChainBrokenException("the bitmap of " + CheckpointChain.name(p) + " on disk " + e.getKey()
                            + " of " + name + " is " + (b == null ? "missing (QEMU or the host crashed before saving it, or "
                            + "someone removed it)" : "inconsistent (QEMU or the host crashed while it was in use)")
                            + ", so the changes since it are unknown; reset the chain to start "
                            + "a new one", null);
                }
            }
        }
    }

    /**
     * Starts a new chain after it broke: forgets amirror's checkpoints in libvirt and the state
     * directory and removes every amirror bitmap from the domain's images. The next capture is full.
     */
    public void resetChain(Domain domain, CheckpointChain chain) {
        List<DiskInfo> disks;
        try {
            disks = replicatedDisks(domain.getName(), DomainXmlReader.disks(domain.getXMLDesc(0)));
        } catch (LibvirtException e) {
            throw new CaptureException("cannot read domain: " + e.getMessage(), e);
        }
        chain.reset();
        disks = tracked(disks);
        for (var e : bitmaps.list(domain, disks).entrySet()) {
            DiskInfo disk = disks.stream().filter(d -> d.target().equals(e.getKey())).findFirst().orElseThrow();
            for (DiskBitmaps.Bitmap b : e.getValue()) {
                if (CheckpointChain.parse(b.name()).isPresent()) {
                    bitmaps.remove(domain, disk, b.name());
                }
            }
        }
    }

    /**
     * The disks of a domain that amirror replicates: every writable disk, qcow2 (incremental) or raw
     * (read whole at every point). A writable disk it cannot read that way is refused, naming it and
     * the fix, since leaving it out would make a replica that silently lacks it.
     */
    public static List<DiskInfo> replicatedDisks(String domain, List<DiskInfo> all) {
        List<DiskInfo> disks = new ArrayList<>();
        for (DiskInfo d : all) {
            if (!d.writable()) {
                continue;
            }
            if (!d.replicated()) {
                throw new CaptureException("disk " + d.target() + " of " + domain + " is a " + d.type() + " disk"
                        + (d.source() == null ? " with no local file or block device" : "") + ", which amirror cannot "
                        + "read: copy it to a local qcow2 image or block device (qemu-img convert -O qcow2 -o compat=1.1), "
                        + "or mark it read-only (<readonly/>) to leave it out of replication");
            }
            if (!d.incrementallyTrackable() && !d.readWhole()) {
                throw new CaptureException("disk " + d.target() + " of " + domain + " (" + d.source() + ") is "
                        + d.format() + ", which amirror cannot export: convert it to qcow2 v3 (qemu-img convert -O qcow2 "
                        + "-o compat=1.1) or raw, or mark it read-only to leave it out of replication");
            }
            disks.add(d);
        }
        if (disks.isEmpty()) {
            throw new CaptureException(domain + " has no writable file-backed disk to replicate");
        }
        return disks;
    }

    /** The disks whose writes a dirty bitmap tracks (qcow2); the others are read whole. */
    private static List<DiskInfo> tracked(List<DiskInfo> disks) {
        return disks.stream().filter(DiskInfo::incrementallyTrackable).toList();
    }

    private CaptureResult captureRunning(Domain domain, String name, CheckpointChain chain, List<DiskInfo> all,
                                         List<DiskInfo> disks, int base, int newPoint, CaptureSink sink,
                                         boolean quiesce, Map<String, List<long[]>> alsoRead) {
        Path jobDir = jobDir(domain, newPoint);
        List<String> targets = disks.stream().map(DiskInfo::target).toList();
        boolean created = false;
        boolean[] quiesced = {false};
        ScratchWatch watch = null;
        try (PullBackup job = beginPoint(domain, name, quiesce, quiesced, all, targets, base, newPoint, jobDir)) {
            created = true;
            watch = ScratchWatch.start(jobDir, options.scratch(), job::close);
            List<CaptureResult.DiskStats> stats = new ArrayList<>();
            for (DiskInfo d : disks) {
                boolean whole = d.readWhole();
                String dirtyContext = base == 0 || whole ? null : PullBackup.dirtyBitmapContext(d.target());
                stats.add(ExportReader.read(job.export(d.target()), d, dirtyContext == null ? List.of() : List.of(dirtyContext),
                        alsoRead.getOrDefault(d.target(), List.of()), sink, options.nbdTimeout(), whole));
            }
            if (watch.overflow() != null) { // ended just as the last read finished: the job's end is uncertain
                throw new IOException("the backup job was ended");
            }
            job.close();
            chain.recordCreated(newPoint);
            return new CaptureResult(name, base, newPoint, false, stats,
                    quiesced[0] ? CaptureResult.Consistency.QUIESCED : CaptureResult.Consistency.CRASH);
        } catch (IOException | RuntimeException e) {
            if (created) {
                discardQuietly(chain, newPoint, e);
            }
            if (watch != null && watch.overflow() != null) {
                throw new ScratchOverflowException("capture of " + name + " from " + describe(base) + " ended: "
                        + watch.overflow() + "; point " + newPoint + " was discarded, no write was lost", e);
            }
            if (e instanceof ChainException ce) {
                throw ce;
            }
            throw new CaptureException("capture of " + name + " from " + describe(base) + " failed: " + e.getMessage(), e);
        } finally {
            if (watch != null) {
                watch.close();
            }
            deleteJobDir(jobDir);
        }
    }

    /** Cuts the point (backup job plus checkpoint), inside a guest freeze when asked and possible. */
    private static PullBackup beginPoint(Domain domain, String name, boolean quiesce, boolean[] quiesced,
                                         List<DiskInfo> all, List<String> targets, int base, int newPoint, Path jobDir) {
        try (GuestFreeze freeze = GuestFreeze.freeze(domain, name, quiesce)) {
            PullBackup job = PullBackup.begin(domain, all, targets, base, newPoint, jobDir);
            quiesced[0] = freeze.heldThroughCut(); // not when the freeze's bound ended it before the cut came back
            return job;
        }
    }

    private CaptureResult captureShutOff(Domain domain, String name, CheckpointChain chain, List<DiskInfo> disks,
                                         int base, int newPoint, CaptureSink sink, Map<String, List<long[]>> alsoRead) {
        List<Integer> since = chain.state().points().stream().filter(p -> p >= base).toList();
        if (base != 0 && since.isEmpty()) {
            throw new CaptureException("no checkpoint from " + describe(base) + " on in " + name);
        }
        Path jobDir = jobDir(domain, newPoint);
        List<CaptureResult.DiskStats> stats = new ArrayList<>();
        try {
            PrivateFiles.createTraversable(jobDir.getParent()); // the scratch root, shared with running domains' jobs
            PrivateFiles.createDirectories(jobDir); // qemu-nbd runs as amirror's child: the job directory is its only
            for (DiskInfo d : disks) {
                boolean whole = d.readWhole();
                List<String> bitmaps = base == 0 || whole ? List.of() : since.stream().map(CheckpointChain::name).toList();
                QemuNbd.Options o = new QemuNbd.Options(d.format(), true, bitmaps, false);
                NbdAddress at = NbdAddress.unix(jobDir.resolve(d.target() + ".sock"), d.target());
                try (QemuNbd server = QemuNbd.start(options.qemuNbd(), d.source(), at, o, options.nbdTimeout())) {
                    List<String> contexts = bitmaps.stream().map(b -> NbdConstants.CONTEXT_DIRTY_BITMAP_PREFIX + b).toList();
                    stats.add(ExportReader.read(server.address(), d, contexts, alsoRead.getOrDefault(d.target(), List.of()), sink,
                            options.nbdTimeout(), whole));
                }
            }
            // Nothing written since the base (a guest shut off since its last point, no repair asked
            // for): no point, so the standby's retention keeps real history, not copies of it. A disk
            // read whole tells nothing by its extents (it has them all): only the sink, which compared
            // its blocks with the replica's, knows whether it changed (it may have been written on the
            // host while the guest was off)
            boolean wholeDisks = disks.stream().anyMatch(DiskInfo::readWhole);
            if (base != 0 && alsoRead.values().stream().allMatch(List::isEmpty)
                    && stats.stream().allMatch(st -> st.readWhole() || st.dataExtents() == 0 && st.zeroExtents() == 0)
                    && (!wholeDisks || !sink.differs())) {
                throw new NothingChangedException(name + " is shut off and nothing was written since "
                        + describe(base) + ": no new point");
            }
            // Point N+1, made as libvirt makes it: a new recording bitmap, the previous one frozen.
            int latest = chain.state().latest();
            for (DiskInfo d : tracked(disks)) {
                qemuImg("bitmap", "--add", d.source().toString(), CheckpointChain.name(newPoint));
                if (latest > 0) {
                    qemuImg("bitmap", "--disable", d.source().toString(), CheckpointChain.name(latest));
                }
            }
            chain.redefineOffline(newPoint, latest, tracked(disks).stream().map(DiskInfo::target).toList(),
                    disks.stream().filter(d -> !d.incrementallyTrackable()).map(DiskInfo::target).toList());
            // a destroyed, crashed or failed guest left its disks as a power cut would: not a clean shutdown's point
            ShutoffReason why = ShutoffReason.of(domain);
            if (!why.clean()) {
                log.warn("{} is off ({}): point {} of its disks is crash-consistent, as after a power cut", name,
                        why.name().toLowerCase(java.util.Locale.ROOT), newPoint);
            }
            return new CaptureResult(name, base, newPoint, true, stats,
                    why.clean() ? CaptureResult.Consistency.SHUT_OFF : CaptureResult.Consistency.CRASH);
        } catch (IOException | RuntimeException e) {
            if (e instanceof ChainException || e instanceof NothingChangedException) {
                throw (RuntimeException) e;
            }
            throw new CaptureException("offline capture of " + name + " from " + describe(base) + " failed: "
                    + e.getMessage(), e);
        } finally {
            deleteJobDir(jobDir);
        }
    }

    private void qemuImg(String... args) {
        List<String> cmd = new ArrayList<>(List.of(options.qemuImg().toString()));
        cmd.addAll(List.of(args));
        Exec.run(cmd, null, Map.of(), Duration.ofMinutes(2)).orThrow();
    }

    /**
     * A pull backup job that an amirror process began and did not end (it was killed) keeps running
     * in libvirt with no reader, and blocks every later backup of the domain. Its directory names
     * the process ({@link #jobDir}): if that process is gone, the job is ended here; the checkpoint
     * it created is adopted by the chain's reconcile and retired like any unacknowledged point, so
     * no write is lost. A job of a live process, or of another tool, is left alone and named.
     */
    private void clearLeftoverJob(Domain domain) {
        Optional<Path> socket = PullBackup.runningJobSocket(domain);
        if (socket.isEmpty()) {
            return;
        }
        String name = nameOf(domain);
        Path dir = socket.get().getParent();
        Matcher owner = Pattern.compile("job-.*-[0-9]+-([0-9]+)")
                .matcher(dir.getFileName().toString());
        if (!dir.startsWith(options.jobRoot()) || !owner.matches()) {
            throw new CaptureException(name + " is in a backup job that is not amirror's (NBD socket " + socket.get()
                    + "); let it finish, or end it with 'virsh domjobabort', then capture again");
        }
        long pid = Long.parseLong(owner.group(1));
        if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
            throw new CaptureException(name + " is being captured by amirror process " + pid + " (NBD socket "
                    + socket.get() + "); one capture of a domain at a time");
        }
        log.warn("ending the backup job of {} left by amirror process {}, which is gone", name, pid);
        PullBackup.abortRunningJob(domain);
        deleteJobDir(dir);
    }

    private static String nameOf(Domain domain) {
        try {
            return domain.getName();
        } catch (LibvirtException e) {
            throw new CaptureException("cannot read domain: " + e.getMessage(), e);
        }
    }

    /**
     * The job directory of {@code domain}'s point: named by the domain's UUID (names may hold
     * anything, and two names can look alike once made safe for a path), the point, and this
     * process (so a leftover names its owner).
     */
    private Path jobDir(Domain domain, int point) {
        String uuid;
        try {
            uuid = java.util.UUID.fromString(domain.getUUIDString()).toString();
        } catch (LibvirtException | IllegalArgumentException e) {
            throw new CaptureException("cannot read the domain's UUID: " + e.getMessage(), e);
        }
        return options.jobRoot().resolve("job-" + uuid + "-" + point + "-" + ProcessHandle.current().pid());
    }

    private static void deleteJobDir(Path dir) {
        // a leftover holds no data of value; the next capture of the domain uses a new directory
        FileTrees.deleteQuietly(dir);
    }

    private static void discardQuietly(CheckpointChain chain, int point, Exception cause) {
        try {
            if (chain.libvirtPoints().contains(point)) {
                chain.discard(point);
            }
        } catch (RuntimeException e) {
            cause.addSuppressed(e);
        }
    }

    private static String describe(int base) {
        return base == 0 ? "scratch (full)" : CheckpointChain.name(base);
    }
}
