package io.amirror.libvirt;

/** An operation on a checkpoint chain was refused or failed; the message says why and what to do. */
public class ChainException extends RuntimeException {
    public ChainException(String message) {
        super(message);
    }

    public ChainException(String message, Throwable cause) {
        super(message, cause);
    }
}
