package io.amirror.nbd;

/**
 * The server answered a request or an option with an error. The connection stays usable for a
 * transmission error; a handshake error ends it.
 */
public class NbdServerErrorException extends NbdException {
    private final int error;

    public NbdServerErrorException(String message, int error) {
        super(message);
        this.error = error;
    }

    /** The errno-style error (transmission) or option reply type (handshake). */
    public int error() {
        return error;
    }
}
