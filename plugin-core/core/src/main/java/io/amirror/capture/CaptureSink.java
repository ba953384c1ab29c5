package io.amirror.capture;

import io.amirror.libvirt.DiskInfo;

import java.io.IOException;

/**
 * Receives what a capture found, disk by disk. Within a disk, extents arrive in increasing offset
 * order and never overlap; together they are exactly what changed since the base.
 */
public interface CaptureSink {

    void beginDisk(DiskInfo disk, long virtualSize) throws IOException;

    /** {@code length} bytes at {@code offset} read as zero now (trimmed, zero-filled, or never written). */
    void zero(long offset, long length) throws IOException;

    /** New content at {@code offset}. The array is the sink's to keep. */
    void data(long offset, byte[] data) throws IOException;

    void endDisk() throws IOException;

    /**
     * How the capture reads for this sink ({@link CaptureReading}): the read rate of disks read whole
     * and who hears the progress. The sink is the one object that travels from the cycle that knows
     * the policy and the status, through every point source, to the reader; a plain sink is read
     * unbounded and unobserved.
     */
    default CaptureReading reading() {
        return CaptureReading.DEFAULT;
    }

    /**
     * Whether what this sink received so far differs from what the standby holds. A disk that keeps
     * no dirty bitmap is read whole at every point, so only the sink, which compares it with the
     * replica's block hashes, knows whether it changed: a shut-off domain whose reads all matched
     * cuts no point. A sink that cannot tell says true.
     */
    default boolean differs() {
        return true;
    }

    /** {@code sink} read as {@code reading} says; everything else is passed through. */
    static CaptureSink reading(CaptureSink sink, CaptureReading reading) {
        return new CaptureSink() {
            @Override
            public void beginDisk(DiskInfo disk, long virtualSize) throws IOException {
                sink.beginDisk(disk, virtualSize);
            }

            @Override
            public void zero(long offset, long length) throws IOException {
                sink.zero(offset, length);
            }

            @Override
            public void data(long offset, byte[] data) throws IOException {
                sink.data(offset, data);
            }

            @Override
            public void endDisk() throws IOException {
                sink.endDisk();
            }

            @Override
            public CaptureReading reading() {
                return reading;
            }

            @Override
            public boolean differs() {
                return sink.differs();
            }
        };
    }
}
