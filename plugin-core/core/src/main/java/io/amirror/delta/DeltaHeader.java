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
 */
public record DeltaHeader(UUID domain, String disk, long virtualSize, int basePoint, int newPoint, int blockSize,
                          int codec, int maxBlockRaw) {

    public DeltaHeader {
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
        return (virtualSize + blockSize - 1) / blockSize;
    }
}
