package io.amirror.delta;

import java.io.IOException;

/** A delta stream is malformed, truncated, corrupt, or does not fit the disk it claims to be for. */
public class DeltaFormatException extends IOException {
    public DeltaFormatException(String message) {
        super(message);
    }
}
