package io.amirror.util;

import java.net.InetSocketAddress;

/**
 * {@code HOST:PORT} as admins write it on command lines and in configuration files: a name, an
 * IPv4 address, or an IPv6 address in brackets ({@code [2001:db8::1]:10809}), then a port 0–65535.
 */
public final class HostPort {
    private HostPort() {
    }

    /** The address {@code text} names, resolved now; a clear {@link IllegalArgumentException} otherwise. */
    public static InetSocketAddress parse(String text) {
        int colon = text.lastIndexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("expected HOST:PORT, got '" + text + "'");
        }
        int port;
        try {
            port = Integer.parseInt(text.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("expected HOST:PORT, got '" + text + "'");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port " + port + " does not exist: use a port from 0 to 65535");
        }
        String host = text.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        return new InetSocketAddress(host, port);
    }
}
