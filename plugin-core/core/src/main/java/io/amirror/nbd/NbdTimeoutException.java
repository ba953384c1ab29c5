package io.amirror.nbd;

/** The server did not send or accept the next bytes within the client's I/O timeout. */
public class NbdTimeoutException extends NbdException {
    public NbdTimeoutException(String message) {
        super(message);
    }
}
