package io.amirror.util;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystem;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Files and directories that only amirror's user may read: guest data, keys, and the state that
 * describes them. Each is made with its mode from its first byte, never through the process's
 * umask (an admin's shell leaves it at 0022): directories 0700, files 0600.
 *
 * <p>The one exception is the way QEMU walks to a disk image it opens: QEMU runs as user
 * {@value #QEMU_USER}, and libvirt hands it the image file (its DAC driver gives the file to that
 * user when the domain starts and back when it stops) but not the directories above it. Those are
 * made {@linkplain #createTraversable traversable}: 0710 with group {@value #QEMU_USER}, or 0711
 * where that group does not exist (or the process may not give a directory to it). Either way no
 * one else may list them, and what is in them keeps its own 0600 or 0700.
 *
 * <p>Only what these methods create gets a mode; a directory that exists is left as it is (the
 * state directory's start-up check, {@code io.amirror.state.StateModes}, tightens amirror's own).
 */
public final class PrivateFiles {
    /** The user QEMU runs as under libvirt, and the group it runs with (the default of Debian's {@code qemu.conf}). */
    public static final String QEMU_USER = "libvirt-qemu";
    public static final Set<PosixFilePermission> FILE = Set.copyOf(PosixFilePermissions.fromString("rw-------"));
    public static final Set<PosixFilePermission> DIRECTORY = Set.copyOf(PosixFilePermissions.fromString("rwx------"));
    /** A traversable directory whose group is QEMU's. */
    public static final Set<PosixFilePermission> TRAVERSE_GROUP = Set.copyOf(PosixFilePermissions.fromString("rwx--x---"));
    /** A traversable directory where QEMU's group cannot be given it. */
    public static final Set<PosixFilePermission> TRAVERSE_ANY = Set.copyOf(PosixFilePermissions.fromString("rwx--x--x"));

    private static final FileAttribute<Set<PosixFilePermission>> FILE_ATTR = PosixFilePermissions.asFileAttribute(FILE);
    private static final FileAttribute<Set<PosixFilePermission>> DIR_ATTR = PosixFilePermissions.asFileAttribute(DIRECTORY);
    private static volatile Optional<GroupPrincipal> qemuGroup;

    private PrivateFiles() {
    }

    /** The mode a new private file is created with (0600), for {@code FileChannel.open} and the like. */
    public static FileAttribute<Set<PosixFilePermission>> fileMode() {
        return FILE_ATTR;
    }

    /**
     * {@code dir} and its missing parents, as {@link Files#createDirectories} makes them, except that
     * each level this call creates is 0700. Levels that exist keep their mode.
     */
    public static Path createDirectories(Path dir) throws IOException {
        return create(dir, false);
    }

    /**
     * As {@link #createDirectories}, each created level traversable by QEMU (0710 with group
     * {@value #QEMU_USER}, else 0711): for the directories on the way to a disk image a domain opens.
     */
    public static Path createTraversable(Path dir) throws IOException {
        return create(dir, true);
    }

    private static Path create(Path dir, boolean traversable) throws IOException {
        if (Files.isDirectory(dir)) {
            return dir;
        }
        Deque<Path> missing = new ArrayDeque<>();
        for (Path p = dir.toAbsolutePath(); p != null && !Files.exists(p); p = p.getParent()) {
            missing.push(p);
        }
        while (!missing.isEmpty()) {
            Path level = missing.pop();
            try {
                Files.createDirectory(level, DIR_ATTR);
            } catch (FileAlreadyExistsException e) {
                if (!Files.isDirectory(level)) {
                    throw e;
                }
                continue; // made meanwhile by another thread or process, with the mode it chose
            }
            if (traversable) {
                makeTraversable(level);
            }
        }
        return dir;
    }

    /**
     * Gives an existing directory the traversable mode exactly (see {@link #createTraversable}).
     * Returns whether its mode or group changed. A symbolic link is left alone.
     */
    public static boolean makeTraversable(Path dir) throws IOException {
        PosixFileAttributeView view = Files.getFileAttributeView(dir, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
        PosixFileAttributes a = view.readAttributes();
        if (a.isSymbolicLink() || !a.isDirectory()) {
            return false;
        }
        boolean changed = false;
        Set<PosixFilePermission> want = TRAVERSE_ANY;
        Optional<GroupPrincipal> g = qemuGroup(dir.getFileSystem());
        if (g.isPresent()) {
            if (a.group().equals(g.get())) {
                want = TRAVERSE_GROUP;
            } else {
                try {
                    view.setGroup(g.get());
                    want = TRAVERSE_GROUP;
                    changed = true;
                } catch (FileSystemException notOursToGive) {
                    // not root nor in the group: other users may traverse it, and still list nothing
                }
            }
        }
        if (!a.permissions().equals(want)) {
            view.setPermissions(want);
            changed = true;
        }
        return changed;
    }

    /** Whether {@code permissions} is one of the traversable modes (group or others may only pass through). */
    public static boolean isTraversable(Set<PosixFilePermission> permissions) {
        return permissions.equals(TRAVERSE_GROUP) || permissions.equals(TRAVERSE_ANY);
    }

    /**
     * The first directory from the root down to {@code dir} (inclusive) that QEMU's user may not
     * pass through, judged by its mode: execute for others, for QEMU's group if it is the
     * directory's, or for its owner if that is QEMU's user. Empty when all let it pass, or when
     * this host has no QEMU group (then nothing is known of QEMU's user).
     */
    public static Optional<Path> closedToQemu(Path dir) throws IOException {
        Optional<GroupPrincipal> g = qemuGroup(dir.getFileSystem());
        if (g.isEmpty()) {
            return Optional.empty();
        }
        List<Path> chain = new ArrayList<>();
        for (Path p = dir.toAbsolutePath(); p != null; p = p.getParent()) {
            chain.add(0, p);
        }
        for (Path p : chain) {
            PosixFileAttributes a = Files.readAttributes(p, PosixFileAttributes.class);
            Set<PosixFilePermission> m = a.permissions();
            boolean passes = m.contains(PosixFilePermission.OTHERS_EXECUTE)
                    || m.contains(PosixFilePermission.GROUP_EXECUTE) && a.group().equals(g.get())
                    || m.contains(PosixFilePermission.OWNER_EXECUTE) && a.owner().getName().equals(QEMU_USER);
            if (!passes) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** QEMU's group on this host, if it has one. */
    public static Optional<GroupPrincipal> qemuGroup(FileSystem fs) {
        Optional<GroupPrincipal> g = qemuGroup;
        if (g == null) {
            try {
                g = Optional.of(fs.getUserPrincipalLookupService().lookupPrincipalByGroupName(QEMU_USER));
            } catch (UserPrincipalNotFoundException none) {
                g = Optional.empty();
            } catch (IOException | UnsupportedOperationException e) {
                g = Optional.empty();
            }
            qemuGroup = g;
        }
        return g;
    }

    /**
     * Opens {@code file} with {@code options}; if they create it, it is created 0600. A file that
     * exists keeps its mode: callers that must not inherit a looser one delete it first, or use
     * {@link #createEmpty}.
     */
    public static FileChannel open(Path file, OpenOption... options) throws IOException {
        return FileChannel.open(file, Set.of(options), FILE_ATTR);
    }

    /** A new file written from its first byte by the stream: any file at {@code file} is replaced, mode 0600. */
    public static OutputStream newOutputStream(Path file) throws IOException {
        Files.deleteIfExists(file);
        return Channels.newOutputStream(open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE));
    }

    /**
     * Replaces whatever is at {@code file} with an empty file of mode 0600, for a tool that writes
     * into it: {@code qemu-img create} and {@code convert} truncate an existing output file and keep
     * its mode, where a file they create themselves would get the umask's 0644.
     */
    public static Path createEmpty(Path file) throws IOException {
        Files.deleteIfExists(file);
        try (FileChannel ignored = open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            return file;
        }
    }

    /** Copies {@code from} to a new 0600 file {@code to} (replaced if it exists), forced to disk. */
    public static void copy(Path from, Path to) throws IOException {
        Files.deleteIfExists(to);
        try (FileChannel in = FileChannel.open(from, StandardOpenOption.READ);
             FileChannel out = open(to, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            long size = in.size();
            for (long pos = 0; pos < size; ) {
                long n = in.transferTo(pos, size - pos, out);
                if (n <= 0 && in.size() <= pos) {
                    break; // the source shrank meanwhile
                }
                pos += n;
            }
            out.force(true);
        }
    }

    /**
     * Takes group and other bits off {@code path} (a regular file or directory, never followed
     * through a symbolic link), keeping its owner's. Returns whether it changed.
     */
    public static boolean tighten(Path path) throws IOException {
        PosixFileAttributeView view = Files.getFileAttributeView(path, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
        PosixFileAttributes a = view.readAttributes();
        if (!a.isRegularFile() && !a.isDirectory()) {
            return false;
        }
        Set<PosixFilePermission> now = a.permissions();
        Set<PosixFilePermission> owner = new HashSet<>(now);
        owner.retainAll(EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE,
                PosixFilePermission.OWNER_EXECUTE));
        if (owner.equals(now)) {
            return false;
        }
        view.setPermissions(owner);
        return true;
    }

    /** Whether {@code permissions} give nothing to group or others. */
    public static boolean isPrivate(Set<PosixFilePermission> permissions) {
        return List.of(PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE,
                PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE)
                .stream().noneMatch(permissions::contains);
    }
}
