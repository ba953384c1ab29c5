package io.amirror.spool;

import java.io.IOException;

/**
 * The spool reached its size bound; the delta being written was abandoned, nothing was lost.
 * {@link #written()} is what that delta had reached when it was refused: a lower bound of what it
 * needs (0 when the spool was full before it began).
 */
public class SpoolFullException extends IOException {
    private final long used;
    private final long written;
    private final long max;

    public SpoolFullException(long used, long written, long max) {
        super("spool full: " + (used >> 20) + " MiB of " + (max >> 20) + " MiB counted"
                + (written > 0 ? " when the delta being written reached " + (written >> 20) + " MiB" : "")
                + "; the capture is postponed until deltas ship (raise the spool size or the link rate if this persists)");
        this.used = used;
        this.written = written;
        this.max = max;
    }

    /** Bytes counted against the bound (on disk and reserved by open writers) when this delta was refused. */
    public long used() {
        return used;
    }

    /** Bytes the refused delta had written, with the block that did not fit. */
    public long written() {
        return written;
    }

    /** The spool's size bound. */
    public long max() {
        return max;
    }

    /**
     * A domain's first copy does not fit the spool at all: no cycle can succeed until the limit is
     * raised or the replica is seeded. The message says both.
     */
    public static final class FirstPointTooLarge extends IOException {
        public FirstPointTooLarge(String message, SpoolFullException cause) {
            super(message, cause);
        }
    }
}
