package io.amirror.util;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.SecureDirectoryStream;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;

/**
 * Deleting directory trees that other processes (QEMU, libvirt) may be emptying, or changing, at
 * the same time, without ever following a symbolic link.
 *
 * <p>A capture job directory belongs to QEMU's user while the job runs, so whatever is in it may
 * have been planted: a link to {@code /etc}, or a subdirectory swapped for such a link between the
 * moment it was looked at and the moment it is opened. Deleting by path would follow it. Here each
 * directory is opened relative to the already-open directory above it, refusing links
 * ({@link SecureDirectoryStream}, {@code openat(…, O_NOFOLLOW)} on Linux), and every entry is
 * unlinked relative to that open directory ({@code unlinkat}): a link is removed as a link, and a
 * directory that turned into a link after it was looked at is removed as a link, never entered.
 * The root itself is opened the same way from its parent, so a root that is a link is removed as a
 * link. Where the platform offers no secure directory stream, a walk that does not follow links is
 * used instead (open to the swap race; Linux has the secure stream).
 */
public final class FileTrees {
    private FileTrees() {
    }

    /** Deletes {@code root} and everything under it; entries that vanish meanwhile are fine. */
    public static void delete(Path root) throws IOException {
        Path abs = root.toAbsolutePath().normalize();
        if (!Files.exists(abs, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        Path parent = abs.getParent();
        if (parent == null) {
            throw new IOException("refusing to delete the file system root");
        }
        try (DirectoryStream<Path> up = Files.newDirectoryStream(parent)) {
            if (up instanceof SecureDirectoryStream<Path> sp) {
                deleteEntry(sp, abs.getFileName());
                return;
            }
        }
        walkDelete(abs);
    }

    /** Removes {@code name} of the open directory {@code dir}: a directory with its contents, anything else as itself. */
    private static void deleteEntry(SecureDirectoryStream<Path> dir, Path name) throws IOException {
        BasicFileAttributes a;
        try {
            a = dir.getFileAttributeView(name, BasicFileAttributeView.class, LinkOption.NOFOLLOW_LINKS).readAttributes();
        } catch (NoSuchFileException gone) {
            return;
        }
        if (a.isDirectory()) {
            SecureDirectoryStream<Path> sub;
            try {
                sub = dir.newDirectoryStream(name, LinkOption.NOFOLLOW_LINKS);
            } catch (NoSuchFileException gone) {
                return;
            } catch (FileSystemException swapped) {
                // no longer a directory (a link put in its place, ELOOP): it is unlinked, not entered
                if (swapped instanceof NotDirectoryException || isLinkOrFile(dir, name)) {
                    deleteQuietlyAsFile(dir, name);
                    return;
                }
                throw swapped;
            }
            try (sub) {
                List<Path> names = new ArrayList<>();
                for (Path p : sub) {
                    names.add(p.getFileName());
                }
                for (Path n : names) {
                    deleteEntry(sub, n);
                }
            }
            try {
                dir.deleteDirectory(name);
            } catch (NoSuchFileException gone) {
                // emptied and removed by its owner meanwhile
            }
        } else {
            deleteQuietlyAsFile(dir, name);
        }
    }

    private static boolean isLinkOrFile(SecureDirectoryStream<Path> dir, Path name) throws IOException {
        try {
            return !dir.getFileAttributeView(name, BasicFileAttributeView.class, LinkOption.NOFOLLOW_LINKS)
                    .readAttributes().isDirectory();
        } catch (NoSuchFileException gone) {
            return true;
        }
    }

    private static void deleteQuietlyAsFile(SecureDirectoryStream<Path> dir, Path name) throws IOException {
        try {
            dir.deleteFile(name); // unlinkat without AT_REMOVEDIR: a link goes as a link
        } catch (NoSuchFileException gone) {
            // removed meanwhile
        }
    }

    /** The fallback: a walk that does not follow links (links are visited as files and unlinked). */
    private static void walkDelete(Path root) throws IOException {
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.deleteIfExists(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException exc) throws IOException {
                if (exc instanceof NoSuchFileException) {
                    return FileVisitResult.CONTINUE;
                }
                throw exc;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException exc) throws IOException {
                Files.deleteIfExists(d);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    /** {@link #delete}, for cleanup paths where a leftover is better than an exception. */
    public static boolean deleteQuietly(Path root) {
        try {
            delete(root);
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }
}
