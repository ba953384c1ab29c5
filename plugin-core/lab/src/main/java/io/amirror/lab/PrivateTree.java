package io.amirror.lab;

import io.amirror.util.PrivateFiles;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * What in an amirror state directory other local users could read, write or list (issue 20), for
 * the real-VM tests: every regular file and directory must give nothing to group and others,
 * except the directories on QEMU's way to a replica image (the state directory, {@code replicas/},
 * {@code replicas/UUID/}, {@code replicas/UUID/DISK/}, the same in a switchover's nested {@code back/}
 * and {@code reverse/}), which may only be passed through: 0710
 * with group libvirt-qemu, or 0711. Sockets (libvirt's and QEMU's) and symbolic links are not
 * judged.
 */
public final class PrivateTree {
    private static final Pattern UUID = Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");

    private PrivateTree() {
    }

    /** One line per path under {@code stateDir} (inclusive) that is more open than that; empty when none is. */
    public static List<String> exposed(Path stateDir) {
        List<String> out = new ArrayList<>();
        try {
            Files.walkFileTree(stateDir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) throws IOException {
                    check(d, true);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path f, BasicFileAttributes attrs) throws IOException {
                    if (attrs.isRegularFile()) {
                        check(f, false);
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path f, IOException exc) throws IOException {
                    if (exc instanceof NoSuchFileException) {
                        return FileVisitResult.CONTINUE;
                    }
                    throw exc;
                }

                private void check(Path p, boolean directory) throws IOException {
                    PosixFileAttributes a = Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                    Set<PosixFilePermission> m = a.permissions();
                    String what = p + ": " + PosixFilePermissions.toString(m) + " " + a.owner().getName() + ":"
                            + a.group().getName();
                    if (directory && onQemusWay(stateDir.relativize(p))) {
                        boolean group = m.equals(PrivateFiles.TRAVERSE_GROUP) && a.group().getName().equals(PrivateFiles.QEMU_USER);
                        if (!group && !m.equals(PrivateFiles.TRAVERSE_ANY)) {
                            out.add(what + " (on QEMU's way to a replica: rwx--x--- group libvirt-qemu, or rwx--x--x)");
                        }
                    } else if (!PrivateFiles.isPrivate(m)) {
                        out.add(what);
                    }
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    private static boolean onQemusWay(Path rel) {
        int n = rel.toString().isEmpty() ? 0 : rel.getNameCount();
        if (n > 0 && (rel.getName(0).toString().equals("back") || rel.getName(0).toString().equals("reverse"))) {
            return onQemusWay(n == 1 ? Path.of("") : rel.subpath(1, n)); // a switchover's nested state directory
        }
        return n == 0 || rel.getName(0).toString().equals("replicas") && n <= 3
                && (n < 2 || UUID.matcher(rel.getName(1).toString()).matches());
    }

    /** {@code path}'s mode and owner, as {@code ls -l} shows them: {@code rw------- root:root}. */
    public static String modeAndOwner(Path path) {
        try {
            PosixFileAttributes a = Files.readAttributes(path, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            return PosixFilePermissions.toString(a.permissions()) + " " + a.owner().getName() + ":" + a.group().getName();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
