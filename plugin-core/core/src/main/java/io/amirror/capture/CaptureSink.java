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
}
