package io.amirror.state;

import java.io.IOException;

/** A state file that cannot be read as its kind: damaged, or written by a newer amirror. Says which file. */
public final class StateFormatException extends IOException {
    public StateFormatException(String message) {
        super(message);
    }
}
