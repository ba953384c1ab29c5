package io.amirror.nbd;

/**
 * The server broke the protocol: a bad magic, a length out of bounds, an unknown cookie, a reply
 * that does not fit its request. The connection cannot be trusted afterwards and is closed.
 */
public class NbdProtocolException extends NbdException {
    public NbdProtocolException(String message) {
        super("NBD protocol violation: " + message);
    }
}
