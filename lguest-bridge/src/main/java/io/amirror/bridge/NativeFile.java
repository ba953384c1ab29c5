package io.amirror.bridge;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The two file operations Java lacks, through libc: punching a hole ({@code fallocate}) so a trimmed
 * or zeroed range costs no disk and reads as zero, and finding allocated data ({@code lseek} with
 * {@code SEEK_DATA}/{@code SEEK_HOLE}) so a full capture of a sparse disk reads only what exists.
 * Both are optional: a file system without them gets zeroes written and "all data" reported.
 */
final class NativeFile implements AutoCloseable {
    private static final int O_RDWR = 2;
    private static final int O_CLOEXEC = 0x80000;
    private static final int SEEK_DATA = 3;
    private static final int SEEK_HOLE = 4;
    private static final int FALLOC_FL_KEEP_SIZE = 1;
    private static final int FALLOC_FL_PUNCH_HOLE = 2;
    private static final int ENXIO = 6;

    interface LibC extends Library {
        int open(String path, int flags) throws LastErrorException;

        int close(int fd) throws LastErrorException;

        long lseek(int fd, long offset, int whence) throws LastErrorException;

        int fallocate(int fd, int mode, long offset, long length) throws LastErrorException;
    }

    private static final LibC LIBC = load();

    private static LibC load() {
        try {
            return Native.load("c", LibC.class);
        } catch (UnsatisfiedLinkError e) {
            return null;
        }
    }

    private final int fd;
    private volatile boolean canPunch = true;

    private NativeFile(int fd) {
        this.fd = fd;
    }

    /** Opens {@code file} for these operations, or returns null where libc is not reachable. */
    static NativeFile open(Path file) throws IOException {
        if (LIBC == null) {
            return null;
        }
        try {
            return new NativeFile(LIBC.open(file.toString(), O_RDWR | O_CLOEXEC));
        } catch (LastErrorException e) {
            throw new IOException("cannot open " + file + ": errno " + e.getErrorCode());
        }
    }

    /** Deallocates the range (it reads as zero); false when the file system cannot, and the caller writes zeroes. */
    boolean punchHole(long offset, long length) {
        if (!canPunch) {
            return false;
        }
        try {
            LIBC.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
            return true;
        } catch (LastErrorException e) {
            canPunch = false;
            return false;
        }
    }

    /** The allocated ranges ({@code [offset, length]}) within {@code [from, to)}; holes read as zero. */
    List<long[]> dataRanges(long from, long to) {
        List<long[]> out = new ArrayList<>();
        long pos = from;
        try {
            while (pos < to) {
                long data;
                try {
                    data = LIBC.lseek(fd, pos, SEEK_DATA);
                } catch (LastErrorException e) {
                    if (e.getErrorCode() == ENXIO) {
                        break; // no data after pos
                    }
                    throw e;
                }
                if (data >= to) {
                    break;
                }
                long hole = Math.min(to, LIBC.lseek(fd, data, SEEK_HOLE));
                out.add(new long[] {data, hole - data});
                pos = hole;
            }
            return out;
        } catch (LastErrorException e) {
            return List.of(new long[] {from, to - from}); // unknown: all data, which is always true
        }
    }

    @Override
    public void close() {
        try {
            LIBC.close(fd);
        } catch (LastErrorException ignored) {
            // nothing to do about a failed close of a descriptor only used for queries
        }
    }
}
