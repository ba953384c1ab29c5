package io.amirror.delta;

import io.amirror.util.DiskNames;

/**
 * Wire constants of the delta stream, version 1. The layout is specified in
 * {@code schemas/delta-stream.md}; this class and the codecs are its only implementation.
 */
public final class DeltaFormat {
    private DeltaFormat() {
    }

    public static final long MAGIC = 0x414D44454C54410AL;      // "AMDELTA\n"
    public static final int VERSION = 1;
    public static final int BLOCK_MAGIC = 0x424C4B31;           // "BLK1"
    public static final int TRAILER_MAGIC = 0x454E4431;         // "END1"

    public static final int CODEC_NONE = 0;
    public static final int CODEC_XZ = 1;

    public static final int FRAME_DATA = 1;
    public static final int FRAME_ZERO = 2;
    /** Blocks the replica holds already, at the base point, at another offset: copied there, not sent. */
    public static final int FRAME_COPY = 3;
    /** The most blocks one COPY frame names (its count is a u16). */
    public static final int MAX_COPY_BLOCKS = 4096;

    public static final int DATA_FRAME_HEADER = 1 + 8 + 4;
    public static final int ZERO_FRAME_SIZE = 1 + 8 + 8;
    /** type, offset, source, count; then {@link BlockHash#LENGTH} bytes per block. */
    public static final int COPY_FRAME_HEADER = 1 + 8 + 8 + 2;
    public static final int BLOCK_HEADER_SIZE = 4 + 4 + 4 + 4 + 32;
    public static final int TRAILER_SIZE = 4 + 4 + 8 + 8 + 8 + 32 + 32 + 32;

    /** Granularity of refinement and of every frame boundary (except at the end of the disk). */
    public static final int BLOCK_SIZE = 4096;
    /** Upper bound on a block's uncompressed size any decoder accepts: nothing larger is ever allocated. */
    public static final int MAX_BLOCK_RAW = 64 << 20;
    public static final int DEFAULT_BLOCK_RAW = 16 << 20;
    public static final int MAX_TARGET_LENGTH = DiskNames.MAX_LENGTH;

    /** Whether {@code disk} is a disk target amirror accepts: short, lower-case, safe as a file name. */
    public static boolean validDiskName(String disk) {
        return DiskNames.valid(disk);
    }

    /** The most a block may grow when compressed (xz's worst case is far below this). */
    public static int maxStored(int rawLength) {
        return rawLength + rawLength / 8 + 4096;
    }
}
