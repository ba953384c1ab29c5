package io.amirror.delta;

import java.time.Instant;
import java.util.Optional;
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
 * @param cutMillis   when the new point was cut on the primary, milliseconds since 1970-01-01 UTC by the
 *                    primary's clock; 0 when unknown (always in versions before
 *                    {@link DeltaFormat#VERSION_CUT_TIME}). The primary's word: the standby bounds it
 *                    before it uses it (see {@code standby.PointTimes})
 */
public record DeltaHeader(UUID domain, String disk, long virtualSize, int basePoint, int newPoint, int blockSize,
                          int codec, int maxBlockRaw, int version, long cutMillis) {

    /** A header of the version this amirror writes, without a cut time. */
    public DeltaHeader(UUID domain, String disk, long virtualSize, int basePoint, int newPoint, int blockSize,
                       int codec, int maxBlockRaw) {
        this(domain, disk, virtualSize, basePoint, newPoint, blockSize, codec, maxBlockRaw, DeltaFormat.VERSION, 0);
    }

    /** A header of {@code version} without a cut time. */
    public DeltaHeader(UUID domain, String disk, long virtualSize, int basePoint, int newPoint, int blockSize,
                       int codec, int maxBlockRaw, int version) {
        this(domain, disk, virtualSize, basePoint, newPoint, blockSize, codec, maxBlockRaw, version, 0);
    }

    public DeltaHeader {
        if (cutMillis < 0) {
            throw new IllegalArgumentException("cut time must be 0 (unknown) or milliseconds since 1970: " + cutMillis);
        }
        if (cutMillis != 0 && version < DeltaFormat.VERSION_CUT_TIME) {
            throw new IllegalArgumentException("a version " + version + " header carries no cut time");
        }
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

    /** This header with the primary's cut time of the new point. */
    public DeltaHeader withCutMillis(long millis) {
        return new DeltaHeader(domain, disk, virtualSize, basePoint, newPoint, blockSize, codec, maxBlockRaw, version,
                millis);
    }

    /** The cut time, when the header carries one. */
    public Optional<Instant> cutTime() {
        return cutMillis == 0 ? Optional.empty() : Optional.of(Instant.ofEpochMilli(cutMillis));
    }

    public long blocks() {
        return (virtualSize - 1) / blockSize + 1; // virtualSize > 0; never overflows
    }
}
