package io.amirror.capture;

/**
 * How a capture reads for one sink: the bound on the read rate of disks read whole at every point
 * (raw files and block devices, which keep no dirty bitmap), so that the guest's own I/O keeps
 * priority, and who hears the progress.
 *
 * @param wholeReadRate bytes per second a disk read whole may be read at; 0: unbounded
 */
public record CaptureReading(long wholeReadRate, CaptureProgress progress) {

    /** Unbounded, unobserved: tools and tests that read a disk once. */
    public static final CaptureReading DEFAULT = new CaptureReading(0, CaptureProgress.NONE);

    public CaptureReading {
        if (wholeReadRate < 0) {
            throw new IllegalArgumentException("a read rate is at least 0 (unbounded): " + wholeReadRate);
        }
        if (progress == null) {
            progress = CaptureProgress.NONE;
        }
    }
}
