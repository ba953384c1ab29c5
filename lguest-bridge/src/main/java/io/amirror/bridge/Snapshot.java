package io.amirror.bridge;

import io.amirror.util.PrivateFiles;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * The image as it was at the instant a point was cut, while the guest keeps writing: copy on write
 * at 4 KiB. Before a guest write lands on a block for the first time after the cut, the volume
 * hands the block's old content to {@link #preserve}, which appends it to a scratch file. A read
 * of the snapshot takes preserved blocks from the scratch file and the rest from the image, which
 * has not changed there since the cut.
 *
 * <p>The scratch file grows with the blocks the guest rewrites while the point is being read (the
 * capture), not with the disk. It is deleted when the point's export is released; a bridge that
 * dies loses it, and the capture reading it fails and is retried from the last acknowledged point.
 * Called only under the volume's write lock.
 */
final class Snapshot implements AutoCloseable {
    private final int point;
    private final Path scratchFile;
    private final FileChannel scratch;
    private final Map<Long, Long> preserved = new HashMap<>();

    Snapshot(int point, Path scratchFile) throws IOException {
        this.point = point;
        this.scratchFile = scratchFile;
        Files.deleteIfExists(scratchFile); // a leftover would keep its mode; this one holds the guest's old blocks
        this.scratch = PrivateFiles.open(scratchFile, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
    }

    int point() {
        return point;
    }

    boolean holds(long block) {
        return preserved.containsKey(block);
    }

    /** Keeps {@code old}, the content of {@code block} at the cut, unless it is already kept. */
    void preserve(long block, ByteBuffer old) throws IOException {
        if (preserved.containsKey(block)) {
            return;
        }
        long at = preserved.size() * (long) DirtyMap.BLOCK;
        while (old.hasRemaining()) {
            scratch.write(old, at + old.position());
        }
        preserved.put(block, at);
    }

    /** Overlays the preserved blocks onto {@code dst}, which holds the image's bytes from {@code offset}. */
    void overlay(long offset, ByteBuffer dst, int length) throws IOException {
        long first = offset / DirtyMap.BLOCK;
        long last = (offset + length - 1) / DirtyMap.BLOCK;
        for (long b = first; b <= last; b++) {
            Long at = preserved.get(b);
            if (at == null) {
                continue;
            }
            long blockStart = b * DirtyMap.BLOCK;
            long from = Math.max(offset, blockStart);
            long to = Math.min(offset + length, blockStart + DirtyMap.BLOCK);
            ByteBuffer part = dst.duplicate();
            part.position((int) (from - offset)).limit((int) (to - offset));
            long src = at + (from - blockStart);
            while (part.hasRemaining()) {
                if (scratch.read(part, src + (part.position() - (from - offset))) < 0) {
                    throw new IOException("scratch file of point " + point + " is short");
                }
            }
        }
    }

    long preservedBlocks() {
        return preserved.size();
    }

    Set<Long> preservedSet() {
        return preserved.keySet();
    }

    @Override
    public void close() throws IOException {
        scratch.close();
        Files.deleteIfExists(scratchFile);
    }
}
