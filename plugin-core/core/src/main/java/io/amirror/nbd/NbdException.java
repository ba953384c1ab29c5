package io.amirror.nbd;

import java.io.IOException;

/** Anything that ends an NBD conversation: a protocol violation, a timeout, a server error, a dead socket. */
public class NbdException extends IOException {
    public NbdException(String message) {
        super(message);
    }

    public NbdException(String message, Throwable cause) {
        super(message, cause);
    }
}
