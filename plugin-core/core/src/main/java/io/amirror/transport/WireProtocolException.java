package io.amirror.transport;

import java.io.IOException;

/** The peer sent something the protocol does not allow; the connection is closed. */
public class WireProtocolException extends IOException {
    public WireProtocolException(String message) {
        super("wire protocol violation: " + message);
    }
}
