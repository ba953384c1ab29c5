package io.amirror.drill;

import io.amirror.image.DeviceState;
import io.amirror.standby.ReplicaDomain;
import io.amirror.standby.StandbyLayout;
import io.amirror.state.StateFile;
import io.amirror.util.FileTrees;
import io.amirror.util.PrivateFiles;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;
import org.libvirt.Network;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * One drill's directory, {@code STATE/drills/ID/}, and its undo record: everything a drill makes
 * outside its directory is named in {@code undo.json} <em>before</em> it is made (the drill domain,
 * its network, the swtpm directory of its UUID, the qemu-nbd processes as they start), so that
 * {@link #undo} can remove it all whether the drill ended, failed, was interrupted, or was killed
 * and is found by {@link #sweep} later. The drilling process holds {@code lock} for as long as it
 * runs: a directory whose lock nobody holds is a leftover.
 *
 * <p>The directory is traversable by QEMU (its overlays and NVRAM copy are handed to the drill
 * domain); everything in it is 0600, the NBD sockets QEMU connects to 0660 with QEMU's group.
 */
final class DrillWorkspace implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DrillWorkspace.class);

    /**
     * What the drill made, or is about to make, outside its directory: the drill domain
     * ({@code domain}, {@code domainUuid}), the network it made (null: none), the primary's UUID
     * whose replica's point it pinned, the qemu-nbd processes it started.
     */
    record Undo(String id, UUID replica, String domain, UUID domainUuid, String network, List<Long> nbdPids) {
        Undo {
            nbdPids = nbdPids == null ? List.of() : List.copyOf(nbdPids);
        }

        Undo withNbd(long pid) {
            List<Long> pids = new ArrayList<>(nbdPids);
            pids.add(pid);
            return new Undo(id, replica, domain, domainUuid, network, pids);
        }
    }

    static final StateFile<Undo> UNDO = StateFile.of("drill undo record", Undo.class, 1);

    private final Path dir;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private Undo undo;

    private DrillWorkspace(Path dir, FileChannel lockChannel, FileLock lock, Undo undo) {
        this.dir = dir;
        this.lockChannel = lockChannel;
        this.lock = lock;
        this.undo = undo;
    }

    /** Makes drill {@code undo.id()}'s directory, locked by this process, with its undo record. */
    static DrillWorkspace create(StandbyLayout layout, Undo undo) throws IOException {
        PrivateFiles.createTraversable(layout.drills());
        Path dir = layout.drills().resolve(undo.id());
        if (Files.exists(dir)) {
            throw new IOException("drill directory " + dir + " exists already");
        }
        PrivateFiles.createTraversable(dir);
        FileChannel ch = FileChannel.open(dir.resolve("lock"), java.util.Set.of(StandardOpenOption.CREATE,
                StandardOpenOption.WRITE), PrivateFiles.fileMode());
        FileLock l = ch.tryLock();
        if (l == null) {
            ch.close();
            throw new IOException("drill directory " + dir + " is locked by another process");
        }
        DrillWorkspace w = new DrillWorkspace(dir, ch, l, undo);
        w.save();
        return w;
    }

    Path dir() {
        return dir;
    }

    Undo record() {
        return undo;
    }

    synchronized void recordNbd(long pid) throws IOException {
        undo = undo.withNbd(pid);
        save();
    }

    private void save() throws IOException {
        UNDO.write(dir.resolve("undo.json"), undo);
    }

    /**
     * Removes what the record names and the directory, each step on its own (one that fails does
     * not keep the others from running); returns what is left, described, or an empty list.
     */
    synchronized List<String> undo(String libvirtUri, Path replicas, Path swtpmRoot) {
        return undo(undo, dir, libvirtUri, replicas, swtpmRoot);
    }

    static List<String> undo(Undo u, Path dir, String libvirtUri, Path replicas, Path swtpmRoot) {
        List<String> left = new ArrayList<>();
        try {
            Connect c = new Connect(libvirtUri);
            try {
                try {
                    Domain d = c.domainLookupByUUID(u.domainUuid());
                    if (d.getName().equals(u.domain())) {
                        if (d.isActive() == 1) {
                            d.destroy();
                        }
                        if (d.isPersistent() == 1) {
                            d.undefine(0x4 /* VIR_DOMAIN_UNDEFINE_NVRAM: the drill's copy */);
                        }
                    }
                } catch (LibvirtException gone) {
                    // never started, or gone already
                }
                if (u.network() != null) {
                    try {
                        Network n = c.networkLookupByName(u.network());
                        if (n.isActive() == 1) {
                            n.destroy();
                        }
                    } catch (LibvirtException gone) {
                        // never made, or gone already
                    }
                }
                stillThere(c, u, left);
            } finally {
                c.close();
            }
        } catch (LibvirtException e) {
            left.add("libvirt at " + libvirtUri + " could not be asked (" + e.getMessage() + "): the drill domain "
                    + u.domain() + (u.network() == null ? "" : " and network " + u.network()) + " may remain");
        }
        for (long pid : u.nbdPids()) {
            stopNbd(pid, dir, left);
        }
        Path tpm = swtpmRoot.resolve(u.domainUuid().toString());
        if (!FileTrees.deleteQuietly(tpm) && Files.exists(tpm)) {
            left.add("the drill's TPM state " + tpm);
        }
        try {
            new ReplicaDomain(replicas, u.replica(), null).unpinDrill(u.id());
        } catch (IOException e) {
            left.add("the pin of the drilled point in " + replicas.resolve(u.replica().toString()) + ": " + e.getMessage());
        }
        if (!FileTrees.deleteQuietly(dir) && Files.exists(dir)) {
            left.add("the drill's directory " + dir);
        }
        if (!left.isEmpty()) {
            log.warn("drill {}: left behind: {}", u.id(), String.join("; ", left));
        }
        return left;
    }

    private static void stillThere(Connect c, Undo u, List<String> left) {
        try {
            Domain d = c.domainLookupByUUID(u.domainUuid());
            left.add("the drill domain " + d.getName());
        } catch (LibvirtException gone) {
            // as it should be
        }
        if (u.network() != null) {
            try {
                c.networkLookupByName(u.network());
                left.add("the drill network " + u.network());
            } catch (LibvirtException gone) {
                // as it should be
            }
        }
    }

    /** Stops qemu-nbd {@code pid} if it is still the one the drill started (its command line names the directory). */
    private static void stopNbd(long pid, Path dir, List<String> left) {
        Optional<ProcessHandle> h = ProcessHandle.of(pid);
        if (h.isEmpty() || !cmdline(pid).contains(dir.toString())) {
            return; // gone, or the pid now belongs to another process
        }
        h.get().destroy();
        try {
            h.get().onExit().get(10, java.util.concurrent.TimeUnit.SECONDS);
        } catch (Exception slow) {
            h.get().destroyForcibly();
        }
        if (h.get().isAlive()) {
            left.add("qemu-nbd process " + pid);
        }
    }

    private static String cmdline(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")), StandardCharsets.UTF_8)
                    .replace('\0', ' ');
        } catch (IOException gone) {
            return "";
        }
    }

    /**
     * Undoes every drill under {@code layout} whose process is gone (its lock free): what a killed
     * drill left. Returns the ids swept.
     */
    static List<String> sweep(StandbyLayout layout, String libvirtUri, Path swtpmRoot) throws IOException {
        List<String> swept = new ArrayList<>();
        if (!Files.isDirectory(layout.drills())) {
            return swept;
        }
        List<Path> dirs;
        try (Stream<Path> s = Files.list(layout.drills())) {
            dirs = s.filter(Files::isDirectory).sorted().toList();
        }
        for (Path dir : dirs) {
            Path lockFile = dir.resolve("lock");
            try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
                FileLock l;
                try {
                    l = ch.tryLock();
                } catch (OverlappingFileLockException ours) {
                    continue; // a drill of this very process
                }
                if (l == null) {
                    continue; // under way
                }
                try {
                    Optional<Undo> u = UNDO.read(dir.resolve("undo.json"));
                    if (u.isPresent()) {
                        undo(u.get(), dir, libvirtUri, layout.replicas(), swtpmRoot);
                    } else {
                        FileTrees.deleteQuietly(dir); // killed before it made anything
                    }
                    swept.add(dir.getFileName().toString());
                    log.info("swept the leftovers of drill {} (its process is gone)", dir.getFileName());
                } finally {
                    if (l.isValid()) {
                        l.release();
                    }
                }
            }
        }
        return swept;
    }

    static Path swtpmRoot() {
        return DeviceState.SWTPM_ROOT;
    }

    @Override
    public void close() throws IOException {
        if (lock.isValid()) {
            lock.release();
        }
        lockChannel.close();
    }
}
