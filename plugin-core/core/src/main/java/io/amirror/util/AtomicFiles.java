package io.amirror.util;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.util.Set;

/**
 * Crash-safe file replacement: after {@link #write} returns, the file holds either the old or the
 * new content, never a mix, and the new content survives a power cut (data and directory entry are
 * fsynced).
 */
public final class AtomicFiles {
    private AtomicFiles() {
    }

    public static void write(Path target, byte[] content) throws IOException {
        write(target, content, false);
    }

    /**
     * As {@link #write}, and the file is readable by its owner only from its first byte (mode 0600);
     * directories it creates for it are 0700 ({@link PrivateFiles#createDirectories}).
     */
    public static void writePrivate(Path target, byte[] content) throws IOException {
        write(target, content, true);
    }

    private static void write(Path target, byte[] content, boolean ownerOnly) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        FileAttribute<?>[] mode = {};
        if (ownerOnly) {
            PrivateFiles.createDirectories(dir);
            mode = new FileAttribute<?>[] {PrivateFiles.fileMode()};
        } else {
            Files.createDirectories(dir);
        }
        Path tmp = dir.resolve("." + target.getFileName() + ".tmp");
        if (ownerOnly) {
            Files.deleteIfExists(tmp); // a leftover would keep its old mode
        }
        try (FileChannel ch = FileChannel.open(tmp, Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING), mode)) {
            ByteBuffer b = ByteBuffer.wrap(content);
            while (b.hasRemaining()) {
                ch.write(b);
            }
            ch.force(true);
        }
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        syncDirectory(dir);
    }

    public static void delete(Path target) throws IOException {
        if (Files.deleteIfExists(target)) {
            syncDirectory(target.toAbsolutePath().getParent());
        }
    }

    public static void syncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }
}
