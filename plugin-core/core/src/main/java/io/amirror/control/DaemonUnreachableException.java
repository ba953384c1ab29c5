package io.amirror.control;

import java.io.IOException;

/** The CLI could not reach the daemon: not running, another state directory, or no right to its token. */
public final class DaemonUnreachableException extends IOException {
    public DaemonUnreachableException(String message) {
        super(message);
    }

    public DaemonUnreachableException(String message, Throwable cause) {
        super(message, cause);
    }
}
