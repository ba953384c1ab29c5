package io.amirror.capture;

/** A capture could not be made; nothing was recorded, and the chain is as it was. */
public class CaptureException extends RuntimeException {
    public CaptureException(String message) {
        super(message);
    }

    public CaptureException(String message, Throwable cause) {
        super(message, cause);
    }
}
