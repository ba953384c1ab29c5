package io.amirror.delta;

import io.amirror.util.DiskNames;

/**
 * Wire constants of the delta stream. The layout is specified in {@code schemas/delta-stream.md};
 * this class and the codecs are its only implementation.
 */
public final class DeltaFormat {
    private DeltaFormat() {
    }

    public static final long MAGIC = 0x414D44454C54410AL;      // "AMDELTA\n"
    /**
     * The version this amirror writes. Version 2 differs from 1 only in the records of the trailer's
     * result SHA-256: a ZERO frame is one record, not one per 4 KiB block it covers (and every record
     * starts with its kind), so that verifying a delta costs work in proportion to its bytes, never
     * to the disk size it declares. Version 3 differs from 2 only in its header, which carries the
     * primary's cut time of the new point ({@link #VERSION_CUT_TIME}).
     */
    public static final int VERSION = 3;
    /** The first version whose header carries the cut time (8 bytes after max block raw). */
    public static final int VERSION_CUT_TIME = 3;
    /** The oldest version this amirror still reads (deltas spooled or received before an upgrade). */
    public static final int OLDEST_READABLE_VERSION = 1;
    /** Version 1: every 4 KiB block a ZERO frame covers is a record of the result SHA-256. */
    public static final int VERSION_PER_BLOCK_ZERO = 1;

    /** Version 2 result record of one 4 KiB block (DATA, COPY): tag, block index u64, block hash. */
    public static final int RESULT_BLOCK = 1;
    /** Version 2 result record of one ZERO frame: tag, offset u64, length u64. */
    public static final int RESULT_ZERO = 2;
    /**
     * The most bytes the ZERO frames of one version 1 delta may cover: a reader hashes a version 1
     * ZERO frame per 4 KiB block, so this bounds that work (2^32 blocks, minutes) where the declared
     * disk size would not (2^51 blocks, years). A version 1 delta past it is refused.
     */
    public static final long V1_MAX_ZERO_BYTES = 1L << 44;
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

    /** Whether this amirror reads deltas of format {@code version}. */
    public static boolean readableVersion(int version) {
        return version >= OLDEST_READABLE_VERSION && version <= VERSION;
    }

    /** Whether {@code disk} is a disk target amirror accepts: short, lower-case, safe as a file name. */
    public static boolean validDiskName(String disk) {
        return DiskNames.valid(disk);
    }

    /** The most a block may grow when compressed (xz's worst case is far below this). */
    public static int maxStored(int rawLength) {
        return rawLength + rawLength / 8 + 4096;
    }
}
