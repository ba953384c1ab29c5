package io.amirror.libvirt;

import io.amirror.nbd.NbdAddress;
import io.amirror.util.PrivateFiles;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A libvirt pull-mode backup job: libvirt creates checkpoint {@code newPoint} atomically with the
 * job and exports each replicated disk over NBD on a unix socket, with the dirty bitmap since
 * {@code basePoint} as the metadata context {@code qemu:dirty-bitmap:backup-<disk>} (none for a
 * full backup). {@link #close()} ends the job.
 *
 * <p>A disk that keeps no persistent bitmap (raw: a raw file or a block device) is in the same job,
 * so its export is consistent with the others', exported in full ({@code backupmode='full'}, which
 * libvirt 9.0 accepts next to incremental disks) and listed in the checkpoint with
 * {@code checkpoint='no'}. A domain of raw disks alone gets checkpoints without bitmaps, which
 * libvirt accepts too: they still mark the chain's points.
 *
 * <p>The socket and the scratch files live in a job directory that QEMU (user libvirt-qemu) can
 * write; the caller provides it and removes it afterwards.
 */
public final class PullBackup implements AutoCloseable {

    private final Domain domain;
    private final Path socket;
    private boolean ended;

    private PullBackup(Domain domain, Path socket) {
        this.domain = domain;
        this.socket = socket;
    }

    /**
     * @param disks     the disks to export (target names); all others get {@code backup='no'} and no bitmap
     * @param basePoint the checkpoint the dirty bitmap starts from, or 0 for a full backup
     */
    public static PullBackup begin(Domain domain, List<DiskInfo> allDisks, List<String> disks, int basePoint,
                                   int newPoint, Path jobDir) {
        Path socket = jobDir.resolve("nbd.sock");
        prepareJobDir(jobDir);
        String backupXml = backupXml(allDisks, disks, basePoint, socket, jobDir);
        String checkpointXml = checkpointXml(allDisks, disks, newPoint);
        // the same request libvirt gets, for a refusal to be diagnosed from the log
        org.slf4j.LoggerFactory.getLogger(PullBackup.class).debug("backup XML:\n{}checkpoint XML:\n{}", backupXml, checkpointXml);
        try {
            domain.backupBegin(backupXml, checkpointXml, 0);
        } catch (LibvirtException e) {
            throw classify(e, basePoint, newPoint);
        }
        return new PullBackup(domain, socket);
    }

    /**
     * The NBD socket of the pull backup job running on {@code domain}, whoever started it; empty
     * when none runs. libvirt keeps a pull job until someone ends it, also when the process that
     * began it is gone.
     */
    public static Optional<Path> runningJobSocket(Domain domain) {
        String xml;
        try {
            xml = domain.getBackupXMLDesc(0);
        } catch (LibvirtException noJob) {
            return Optional.empty();
        }
        Matcher m = Pattern.compile("<server[^>]*\\ssocket='([^']*)'").matcher(xml);
        return m.find() ? Optional.of(Path.of(m.group(1).replace("&apos;", "'").replace("&lt;", "<")
                .replace("&gt;", ">").replace("&amp;", "&"))) : Optional.empty();
    }

    /** Ends whatever job runs on {@code domain} (a pull backup left by a dead process). */
    public static void abortRunningJob(Domain domain) {
        try {
            domain.abortJob();
        } catch (LibvirtException e) {
            throw new ChainException("cannot end the backup job left on the domain: " + e.getMessage(), e);
        }
    }

    /** The NBD address of one disk's export. */
    public NbdAddress export(String disk) {
        return NbdAddress.unix(socket, disk);
    }

    public static String dirtyBitmapContext(String disk) {
        return "qemu:dirty-bitmap:backup-" + disk;
    }

    /**
     * The job: {@code disks} exported (incrementally from {@code basePoint} when it is a point and the
     * disk tracks changes, in full otherwise), every other disk device {@code backup='no'}.
     */
    static String backupXml(List<DiskInfo> all, List<String> disks, int basePoint, Path socket, Path jobDir) {
        StringBuilder x = new StringBuilder("<domainbackup mode='pull'>\n");
        boolean anyIncremental = basePoint > 0 && all.stream()
                .anyMatch(d -> disks.contains(d.target()) && d.incrementallyTrackable());
        if (anyIncremental) {
            x.append("  <incremental>").append(CheckpointChain.name(basePoint)).append("</incremental>\n");
        }
        x.append("  <server transport='unix' socket='").append(esc(socket.toString())).append("'/>\n  <disks>\n");
        for (DiskInfo d : all) {
            if (disks.contains(d.target())) {
                // a disk without a bitmap is read whole at every point; the scratch is a file also for a block device
                String mode = anyIncremental && !d.incrementallyTrackable() ? " backupmode='full'" : "";
                x.append("    <disk name='").append(esc(d.target())).append("' backup='yes' type='file'").append(mode).append(">")
                        .append("<scratch file='").append(esc(jobDir.resolve(d.target() + ".scratch").toString()))
                        .append("'/></disk>\n");
            } else if (d.device().equals("disk")) {
                x.append("    <disk name='").append(esc(d.target())).append("' backup='no'/>\n");
            }
        }
        return x.append("  </disks>\n</domainbackup>\n").toString();
    }

    static String checkpointXml(List<DiskInfo> all, List<String> disks, int point) {
        StringBuilder x = new StringBuilder("<domaincheckpoint>\n  <name>").append(CheckpointChain.name(point))
                .append("</name>\n  <description>amirror replication point</description>\n  <disks>\n");
        for (DiskInfo d : all) {
            if (d.device().equals("disk")) {
                x.append("    <disk name='").append(esc(d.target())).append("' checkpoint='")
                        .append(disks.contains(d.target()) && d.incrementallyTrackable() ? "bitmap" : "no").append("'/>\n");
            }
        }
        return x.append("  </disks>\n</domaincheckpoint>\n").toString();
    }

    /** Turns libvirt's errors about bitmaps into a {@link ChainBrokenException} with the way out. */
    static RuntimeException classify(LibvirtException e, int basePoint, int newPoint) {
        String m = e.getMessage() == null ? "" : e.getMessage();
        String lower = m.toLowerCase();
        if (lower.contains("already exists")) {
            return new ChainBrokenException("the image already holds a bitmap named " + CheckpointChain.name(newPoint)
                    + " from a chain whose checkpoint metadata was lost (" + m + "); reset the chain to remove stale "
                    + "amirror bitmaps and start a new chain", e);
        }
        if (lower.contains("inconsistent") || lower.contains("in-use") || lower.contains("missing or broken bitmap")
                || lower.contains("bitmap") && lower.contains("not found")) {
            return new ChainBrokenException("the dirty bitmap of " + CheckpointChain.name(basePoint)
                    + " is missing or inconsistent (" + m + "), e.g. after a host crash; reset the chain to "
                    + "start a new one", e);
        }
        return new ChainException("libvirt refused the backup job from " + (basePoint == 0 ? "scratch"
                : CheckpointChain.name(basePoint)) + " to " + CheckpointChain.name(newPoint) + ": " + m, e);
    }

    /**
     * QEMU must be able to create the socket and scratch files: the directory (0700) is handed to its
     * user, the scratch root above it is traversable (the scratch files hold the guest's data).
     */
    private static void prepareJobDir(Path jobDir) {
        try {
            PrivateFiles.createTraversable(jobDir.getParent());
            PrivateFiles.createDirectories(jobDir);
            UserPrincipalLookupService users = jobDir.getFileSystem().getUserPrincipalLookupService();
            java.nio.file.attribute.UserPrincipal qemu;
            try {
                qemu = users.lookupPrincipalByName(PrivateFiles.QEMU_USER);
            } catch (IOException noSuchUser) {
                // never world-writable instead: the scratch files hold the guest's data
                throw new ChainException("no user " + PrivateFiles.QEMU_USER + " on this host, which QEMU runs as "
                        + "under Debian's libvirt: the backup job directory must be QEMU's own and no one else's, so "
                        + "the point is not cut (install libvirt-daemon-system, or run libvirt's QEMU as that user)",
                        noSuchUser);
            }
            Files.setOwner(jobDir, qemu); // 0700: QEMU's user alone writes the socket and the scratch files
        } catch (IOException e) {
            throw new ChainException("cannot prepare backup job directory " + jobDir + ": " + e.getMessage(), e);
        }
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&apos;");
    }

    /** Ends the job (libvirt removes the scratch files and stops the NBD server). Idempotent. */
    @Override
    public void close() {
        if (ended) {
            return;
        }
        ended = true;
        try {
            domain.abortJob();
        } catch (LibvirtException e) {
            // the job may have ended with the domain; nothing is left to stop then
        }
    }
}
