package io.amirror.transport;

import io.amirror.util.AtomicFiles;
import io.amirror.util.Exec;
import io.amirror.util.FileTrees;
import io.amirror.util.PrivateFiles;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * This host's TLS identity: an EC key pair and a self-signed certificate in
 * {@code <state>/identity.p12}, made once by {@code amirror init} with the JDK's keytool (its password in {@code identity.pass}, 0600,
 * never on a command line; the key store never readable by others, not even while it is made). Peers
 * trust it by its fingerprint ({@link #fingerprint}), like ssh host keys; a CA is optional.
 */
public final class Identity {
    static final String ALIAS = "amirror";

    private final KeyStore keyStore;
    private final char[] password;
    private final X509Certificate certificate;

    private Identity(KeyStore keyStore, char[] password, X509Certificate certificate) {
        this.keyStore = keyStore;
        this.password = password;
        this.certificate = certificate;
    }

    public static Path keyStoreFile(Path stateDir) {
        return stateDir.resolve("identity.p12");
    }

    /**
     * Gives the state directory {@code toState} the key pair of {@code fromState} (0600, written
     * atomically), for a role this host takes for a peer that pins that key already (a
     * switchover's way back). With {@code replace} false, files already there stay.
     */
    public static void copy(Path fromState, Path toState, boolean replace) throws IOException {
        for (Path f : List.of(keyStoreFile(fromState), fromState.resolve("identity.pass"))) {
            Path target = toState.resolve(f.getFileName());
            if (replace || !Files.exists(target)) {
                AtomicFiles.writePrivate(target, Files.readAllBytes(f));
            }
        }
    }

    /** Loads this host's identity, creating it first if there is none. */
    public static Identity loadOrCreate(Path stateDir, String hostName) throws IOException {
        Path ks = keyStoreFile(stateDir);
        Path pass = stateDir.resolve("identity.pass");
        if (!Files.exists(ks)) {
            PrivateFiles.createTraversable(stateDir); // a standby's replicas are under it, on QEMU's way
            byte[] random = new byte[24];
            new SecureRandom().nextBytes(random);
            String pw = HexFormat.of().formatHex(random);
            AtomicFiles.writePrivate(pass, pw.getBytes(StandardCharsets.US_ASCII));
            // keytool writes the key store with the process's umask: it works in a directory only we may
            // enter, and the file reaches its place (0600) by an atomic move. The password travels as a
            // file name (:file), never on a command line that /proc shows to every local user.
            Path work = Files.createTempDirectory(stateDir, ".identity-",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            try {
                Path made = work.resolve("identity.p12");
                Path keytool = Path.of(System.getProperty("java.home"), "bin", "keytool");
                Exec.run(List.of(keytool.toString(), "-genkeypair", "-alias", ALIAS, "-keyalg", "EC", "-groupname",
                        "secp256r1", "-sigalg", "SHA256withECDSA", "-dname", "CN=" + hostName.replaceAll("[,=+<>#;\"\\\\]", "_")
                                + ", O=amirror", "-validity", "36500", "-storetype", "PKCS12", "-keystore", made.toString(),
                        "-storepass:file", pass.toString(), "-keypass:file", pass.toString()),
                        null, Map.of(), Duration.ofMinutes(1)).orThrow();
                Files.setPosixFilePermissions(made, PosixFilePermissions.fromString("rw-------"));
                Files.move(made, ks, StandardCopyOption.ATOMIC_MOVE);
                AtomicFiles.syncDirectory(stateDir);
            } finally {
                FileTrees.deleteQuietly(work);
            }
        }
        return load(stateDir);
    }

    public static Identity load(Path stateDir) throws IOException {
        char[] pw = Files.readString(stateDir.resolve("identity.pass")).strip().toCharArray();
        try (InputStream in = Files.newInputStream(keyStoreFile(stateDir))) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(in, pw);
            X509Certificate cert = (X509Certificate) ks.getCertificate(ALIAS);
            if (cert == null) {
                throw new IOException(keyStoreFile(stateDir) + " holds no '" + ALIAS + "' key");
            }
            return new Identity(ks, pw, cert);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot read " + keyStoreFile(stateDir) + ": " + e.getMessage(), e);
        }
    }

    public KeyStore keyStore() {
        return keyStore;
    }

    char[] password() {
        return password;
    }

    public X509Certificate certificate() {
        return certificate;
    }

    public String fingerprint() {
        return fingerprint(certificate);
    }

    /** {@code sha256:} and the hex SHA-256 of the certificate's DER encoding. */
    public static String fingerprint(X509Certificate cert) {
        try {
            return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(cert.getEncoded()));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
