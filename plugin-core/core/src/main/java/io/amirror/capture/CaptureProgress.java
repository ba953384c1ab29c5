package io.amirror.capture;

/**
 * Hears how far a capture got, while it reads: what each disk's plan will read, then every piece
 * read. A status line turns it into "read X of Y, rate, ETA" ({@code primary.CaptureMeter}).
 * Called on the capture's thread; an implementation must be quick and must not throw.
 */
public interface CaptureProgress {

    /** Hears nothing. */
    CaptureProgress NONE = new CaptureProgress() {
        @Override
        public void planned(String disk, long bytesToRead, boolean whole) {
        }

        @Override
        public void read(String disk, long bytes) {
        }
    };

    /** The capture will read {@code disks} disks, one after the other; each is {@linkplain #planned planned} before its reads. */
    default void starting(int disks) {
    }

    /**
     * Disk {@code disk} is planned: it will read {@code bytesToRead} (its DATA extents; ZERO extents
     * are never read); {@code whole} when it is read in full because it keeps no dirty bitmap.
     */
    void planned(String disk, long bytesToRead, boolean whole);

    /** {@code bytes} more of {@code disk} were read. */
    void read(String disk, long bytes);
}
