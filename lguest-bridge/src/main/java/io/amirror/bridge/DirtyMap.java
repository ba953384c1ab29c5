package io.amirror.bridge;

import io.amirror.util.AtomicFiles;
import io.amirror.util.PrivateFiles;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * One bit per 4 KiB block of a disk, in a file: which blocks were written since a point was cut.
 *
 * <p>Crash safety is write-ahead: {@link #mark} sets the bits in memory, writes the bitmap bytes
 * that changed to the file and forces them to disk before it returns, and the caller writes the
 * guest's data only after that. Whatever kills the bridge or the host, a block whose data may have
 * reached the image has its bit on disk: the map can over-report (a write that never landed), never
 * under-report. A bit already set costs nothing, so a cycle pays one sync per newly written block
 * range, not per write.
 *
 * <p>File: a 32-byte header (magic {@code AMXDIRTY}, version, block size, block count) and the bits,
 * bit {@code b % 8} of byte {@code b / 8} for block {@code b}. A map of another version is refused and
 * left as it is. Not thread-safe: the volume calls it under its write lock.
 */
public final class DirtyMap implements AutoCloseable {
    public static final int BLOCK = 4096;
    private static final long MAGIC = 0x414d584449525459L; // "AMXDIRTY"
    private static final int VERSION = 1;
    private static final int HEADER = 32;

    private final Path file;
    private final FileChannel channel;
    private final long blocks;
    private final byte[] bits;

    private DirtyMap(Path file, FileChannel channel, long blocks, byte[] bits) {
        this.file = file;
        this.channel = channel;
        this.blocks = blocks;
        this.bits = bits;
    }

    /** Creates an empty map for a disk of {@code size} bytes, durably (the file and its directory entry). */
    public static DirtyMap create(Path file, long size) throws IOException {
        long blocks = blocksOf(size);
        if (blocks > Integer.MAX_VALUE * 8L) {
            throw new IOException("disk of " + size + " bytes is beyond the dirty map's 8 PiB");
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".new");
        Files.deleteIfExists(tmp); // a leftover would keep its mode
        try (FileChannel c = PrivateFiles.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ByteBuffer h = ByteBuffer.allocate(HEADER).putLong(MAGIC).putInt(VERSION).putInt(BLOCK).putLong(blocks);
            c.write(h.flip(), 0);
            c.write(ByteBuffer.allocate(1), HEADER + (blocks + 7) / 8 - 1); // sized; the bits read as zero
            c.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
        AtomicFiles.syncDirectory(file.getParent());
        return open(file, size);
    }

    /** Opens a map written by {@link #create}; a file of another disk size or not a map is refused. */
    public static DirtyMap open(Path file, long size) throws IOException {
        FileChannel c = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            ByteBuffer h = ByteBuffer.allocate(HEADER);
            while (h.hasRemaining() && c.read(h, h.position()) > 0) {
                // read the header fully
            }
            h.flip();
            long blocks = blocksOf(size);
            if (h.remaining() < HEADER || h.getLong() != MAGIC) {
                throw new IOException(file + " is not a dirty map (truncated or corrupt)");
            }
            int version = h.getInt();
            if (version != VERSION) {
                throw new IOException(file + " is dirty map version " + Integer.toUnsignedString(version)
                        + (Integer.compareUnsigned(version, VERSION) > 0
                        ? ", newer than this amirror reads (" + VERSION + "); run the amirror that wrote it"
                        : ", which this amirror does not read"));
            }
            if (h.getInt() != BLOCK || h.getLong() != blocks || c.size() != HEADER + (blocks + 7) / 8) {
                throw new IOException(file + " is not a dirty map of a " + size + "-byte disk");
            }
            byte[] bits = new byte[(int) ((blocks + 7) / 8)];
            ByteBuffer b = ByteBuffer.wrap(bits);
            while (b.hasRemaining()) {
                if (c.read(b, HEADER + b.position()) < 0) {
                    throw new IOException(file + " is truncated");
                }
            }
            return new DirtyMap(file, c, blocks, bits);
        } catch (IOException | RuntimeException e) {
            c.close();
            throw e;
        }
    }

    static long blocksOf(long size) {
        return (size + BLOCK - 1) / BLOCK;
    }

    public Path file() {
        return file;
    }

    /** Marks the blocks that {@code [offset, offset+length)} touches, durably, before returning. */
    public void mark(long offset, long length) throws IOException {
        if (length <= 0) {
            return;
        }
        long first = offset / BLOCK;
        long last = Math.min(blocks - 1, (offset + length - 1) / BLOCK);
        int lo = Integer.MAX_VALUE;
        int hi = -1;
        for (long b = first; b <= last; b++) {
            int i = (int) (b >>> 3);
            byte before = bits[i];
            bits[i] |= (byte) (1 << (b & 7));
            if (bits[i] != before) {
                lo = Math.min(lo, i);
                hi = i;
            }
        }
        if (hi >= 0) {
            channel.write(ByteBuffer.wrap(bits, lo, hi - lo + 1), HEADER + lo);
            channel.force(false);
        }
    }

    public boolean isDirty(long block) {
        return (bits[(int) (block >>> 3)] & (1 << (block & 7))) != 0;
    }

    /** Sets every bit of {@code other} here too, durably (a point deleted merges into its parent). */
    public void merge(DirtyMap other) throws IOException {
        if (other.blocks != blocks) {
            throw new IllegalArgumentException("maps of different disks");
        }
        for (int i = 0; i < bits.length; i++) {
            bits[i] |= other.bits[i];
        }
        channel.write(ByteBuffer.wrap(bits), HEADER);
        channel.force(false);
    }

    /** The dirty block ranges in bytes ({@code [offset, length]}), in order, clipped to {@code size}. */
    public List<long[]> ranges(long size) {
        List<long[]> out = new ArrayList<>();
        long b = 0;
        while (b < blocks) {
            if (bits[(int) (b >>> 3)] == 0 && (b & 7) == 0) {
                b += 8;
                continue;
            }
            if (!isDirty(b)) {
                b++;
                continue;
            }
            long start = b;
            while (b < blocks && isDirty(b)) {
                b++;
            }
            long from = start * BLOCK;
            out.add(new long[] {from, Math.min(size, b * BLOCK) - from});
        }
        return out;
    }

    public long dirtyBlocks() {
        long n = 0;
        for (byte x : bits) {
            n += Integer.bitCount(x & 0xff);
        }
        return n;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
