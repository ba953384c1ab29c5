package io.amirror.control;

import io.amirror.util.AtomicFiles;
import io.amirror.util.PrivateFiles;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * Where the control API of a state directory is and how to prove one may use it:
 * {@code STATE/control/endpoint} holds its URL, {@code STATE/control/token} a random token, both
 * readable by root only. Whoever can read the token can drive the daemon, as whoever can read the
 * state directory could anyway.
 */
public record ControlEndpoint(URI url, String token) {

    /** {@code STATE/control/authorization}: the request header with the token, for {@code curl -H @FILE}. */
    public static final String AUTHORIZATION = "authorization";

    static Path dir(Path stateDir) {
        return stateDir.resolve("control");
    }

    /** Writes a fresh token and the URL for a daemon that listens on {@code url}. */
    static ControlEndpoint publish(Path stateDir, URI url) throws IOException {
        Path d = dir(stateDir);
        PrivateFiles.createDirectories(d);
        Files.setPosixFilePermissions(d, PrivateFiles.DIRECTORY); // also when an older amirror made it
        byte[] raw = new byte[32];
        new SecureRandom().nextBytes(raw);
        String token = HexFormat.of().formatHex(raw);
        AtomicFiles.writePrivate(d.resolve("token"), (token + "\n").getBytes(StandardCharsets.UTF_8));
        // the header as curl reads it from a file (curl -H @FILE): a check or a page asks the API without a JVM,
        // and without the token on a command line, where every local user could read it
        AtomicFiles.writePrivate(d.resolve(AUTHORIZATION), ("Authorization: Bearer " + token + "\n")
                .getBytes(StandardCharsets.UTF_8));
        AtomicFiles.writePrivate(d.resolve("endpoint"), (url + "\n").getBytes(StandardCharsets.UTF_8));
        return new ControlEndpoint(url, token);
    }

    /** Reads what a running (or last-run) daemon published; fails with a clear message when there is none. */
    public static ControlEndpoint read(Path stateDir) throws IOException {
        Path d = dir(stateDir);
        if (!Files.exists(d.resolve("endpoint"))) {
            throw new DaemonUnreachableException("no amirror primary has run with state directory " + stateDir
                    + " (" + d.resolve("endpoint") + " is missing); start it with 'amirror primary' or "
                    + "'systemctl start amirror-primary'");
        }
        try {
            return new ControlEndpoint(URI.create(Files.readString(d.resolve("endpoint")).trim()),
                    Files.readString(d.resolve("token")).trim());
        } catch (AccessDeniedException e) {
            throw new DaemonUnreachableException("cannot read " + e.getFile() + ": the control token is for root only");
        }
    }
}
