package io.amirror.nbd;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Where an NBD export is: a unix socket or a TCP host and port, plus the export name. Parsed from
 * the standard NBD URIs {@code nbd+unix:///EXPORT?socket=PATH} and {@code nbd://HOST[:PORT]/EXPORT}
 * (default port 10809).
 */
public record NbdAddress(Path socket, String host, int port, String exportName) {

    public static final int DEFAULT_PORT = 10809;

    public NbdAddress {
        if ((socket == null) == (host == null)) {
            throw new IllegalArgumentException("an NBD address is either a unix socket or a host");
        }
        if (exportName.getBytes(StandardCharsets.UTF_8).length > NbdConstants.MAX_STRING) {
            throw new IllegalArgumentException("export name longer than " + NbdConstants.MAX_STRING + " bytes");
        }
    }

    public static NbdAddress unix(Path socket, String exportName) {
        return new NbdAddress(socket, null, 0, exportName);
    }

    public static NbdAddress tcp(String host, int port, String exportName) {
        return new NbdAddress(null, host, port, exportName);
    }

    public boolean isUnix() {
        return socket != null;
    }

    public static NbdAddress parse(String uri) {
        URI u;
        try {
            u = new URI(uri);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("not a URI: " + uri + " (" + e.getReason() + ")");
        }
        String scheme = u.getScheme();
        String path = u.getRawPath() == null ? "" : u.getRawPath();
        String export = decode(path.startsWith("/") ? path.substring(1) : path);
        if ("nbd+unix".equals(scheme)) {
            if (u.getRawAuthority() != null) {
                throw new IllegalArgumentException("nbd+unix URI must not name a host: " + uri);
            }
            String socket = null;
            if (u.getRawQuery() != null) {
                for (String kv : u.getRawQuery().split("&")) {
                    if (kv.startsWith("socket=")) {
                        socket = decode(kv.substring("socket=".length()));
                    }
                }
            }
            if (socket == null || socket.isEmpty()) {
                throw new IllegalArgumentException("nbd+unix URI needs ?socket=PATH: " + uri);
            }
            return unix(Path.of(socket), export);
        }
        if ("nbd".equals(scheme)) {
            if (u.getHost() == null) {
                throw new IllegalArgumentException("nbd URI needs a host: " + uri);
            }
            return tcp(u.getHost(), u.getPort() < 0 ? DEFAULT_PORT : u.getPort(), export);
        }
        throw new IllegalArgumentException("unsupported NBD URI scheme '" + scheme
                + "' (use nbd+unix:///EXPORT?socket=PATH or nbd://HOST:PORT/EXPORT): " + uri);
    }

    private static String decode(String s) {
        return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
        return isUnix() ? "nbd+unix:///" + exportName + "?socket=" + socket
                : "nbd://" + host + ":" + port + "/" + exportName;
    }
}
