package io.amirror.spool;

import java.io.IOException;

/** The spool reached its size bound; the delta being written was abandoned, nothing was lost. */
public class SpoolFullException extends IOException {
    public SpoolFullException(long used, long max) {
        super("spool full: " + (used >> 20) + " MiB of " + (max >> 20) + " MiB used; the capture is postponed "
                + "until deltas ship (raise the spool size or the link rate if this persists)");
    }
}
