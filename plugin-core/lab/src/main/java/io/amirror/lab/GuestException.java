package io.amirror.lab;

/** The guest did not answer as expected: it did not boot, a command timed out, or the console closed. */
public class GuestException extends RuntimeException {
    public GuestException(String message) {
        super(message);
    }

    public GuestException(String message, Throwable cause) {
        super(message, cause);
    }
}
