package io.amirror.delta;

import java.util.UUID;

/**
 * What a delta is about: which disk of which domain, its size, and the two points it connects.
 *
 * @param basePoint   the point the standby must be at; 0 means the delta starts from an empty disk
 * @param newPoint    the point the standby reaches
 * @param blockSize   frame granularity, {@link DeltaFormat#BLOCK_SIZE}
 * @param codec       {@link DeltaFormat#CODEC_XZ} or {@link DeltaFormat#CODEC_NONE}
 * @param maxBlockRaw the largest uncompressed block in this stream
 * @param version     the stream's format version: {@link DeltaFormat#VERSION} for what this amirror
 *                    writes, {@link DeltaFormat#OLDEST_READABLE_VERSION} or later for what it reads
 */
public record DeltaHeader(UUID domain, String disk, long virtualSize, int basePoint, int newPoint, int blockSize,
                          int codec, int maxBlockRaw, int version) {

    /** A header of the version this amirror writes. */
    public DeltaHeader(UUID domain, String disk, long virtualSize, int basePoint, int newPoint, int blockSize,
                       int codec, int maxBlockRaw) {
        this(domain, disk, virtualSize, basePoint, newPoint, blockSize, codec, maxBlockRaw, DeltaFormat.VERSION);
    }

    public DeltaHeader {
        if (!DeltaFormat.readableVersion(version)) {
            throw new IllegalArgumentException("delta format version " + version + " is not supported (this amirror "
                    + "reads versions " + DeltaFormat.OLDEST_READABLE_VERSION + " to " + DeltaFormat.VERSION + ")");
        }
        if (!DeltaFormat.validDiskName(disk)) {
            throw new IllegalArgumentException("disk target must be a short lower-case device name, not '" + disk + "'");
        }
        if (virtualSize <= 0) {
            throw new IllegalArgumentException("virtual size must be positive: " + virtualSize);
        }
        if (basePoint < 0 || newPoint <= basePoint) {
            throw new IllegalArgumentException("points must satisfy 0 <= base < new: " + basePoint + " -> " + newPoint);
        }
        if (blockSize != DeltaFormat.BLOCK_SIZE) {
            throw new IllegalArgumentException("block size must be " + DeltaFormat.BLOCK_SIZE + ": " + blockSize);
        }
        if (codec != DeltaFormat.CODEC_XZ && codec != DeltaFormat.CODEC_NONE) {
            throw new IllegalArgumentException("unknown codec " + codec);
        }
        if (maxBlockRaw < DeltaFormat.BLOCK_SIZE + DeltaFormat.DATA_FRAME_HEADER || maxBlockRaw > DeltaFormat.MAX_BLOCK_RAW) {
            throw new IllegalArgumentException("block size bound out of range: " + maxBlockRaw);
        }
    }

    public long blocks() {
        return (virtualSize - 1) / blockSize + 1; // virtualSize > 0; never overflows
    }
}
