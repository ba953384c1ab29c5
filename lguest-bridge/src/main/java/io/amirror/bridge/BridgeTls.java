package io.amirror.bridge;

import io.amirror.transport.Identity;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The bridge's TLS for NBD over TCP (NBD_OPT_STARTTLS), from a directory laid out as QEMU's
 * {@code tls-creds-x509} server endpoint and qemu-nbd expect: {@code ca-cert.pem} (the CA that
 * signs the clients' certificates, and the server's for the clients to check),
 * {@code server-cert.pem} (this server's certificate, optionally followed by its chain) and
 * {@code server-key.pem} (its key, PKCS#8 or PKCS#1 RSA, unencrypted, readable by its owner only).
 *
 * <p>Clients must present a certificate that chains to {@code ca-cert.pem} (as qemu-nbd's
 * {@code verify-peer=yes}); with pins, it must also be one of the pinned certificates
 * ({@code sha256:} of its DER, as {@code openssl x509 -noout -fingerprint -sha256} prints it), so
 * a CA shared with other services does not open the guest's disk to all of them. TLS 1.3 and 1.2,
 * as the NBD spec asks.
 */
public final class BridgeTls {
    public static final String CA_FILE = "ca-cert.pem";
    public static final String CERT_FILE = "server-cert.pem";
    public static final String KEY_FILE = "server-key.pem";
    private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};
    private static final Pattern PEM = Pattern.compile(
            "-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\\s]+)-----END \\1-----");

    private final SSLContext context;
    private final Path dir;
    private final Set<String> pins;

    private BridgeTls(SSLContext context, Path dir, Set<String> pins) {
        this.context = context;
        this.dir = dir;
        this.pins = pins;
    }

    /**
     * Loads the credentials in {@code dir}; {@code clientPins} (fingerprints, may be empty)
     * narrows the clients the CA admits. A missing, unreadable or open-to-others file is an
     * {@link IllegalArgumentException} that says which and how to fix it.
     */
    public static BridgeTls load(Path dir, Set<String> clientPins) throws IOException {
        Path ca = need(dir, CA_FILE, "the CA certificate that signed the clients' certificates");
        Path cert = need(dir, CERT_FILE, "this server's certificate");
        Path key = need(dir, KEY_FILE, "this server's private key");
        Set<PosixFilePermission> modes = Files.getPosixFilePermissions(key);
        if (modes.contains(PosixFilePermission.GROUP_READ) || modes.contains(PosixFilePermission.OTHERS_READ)) {
            throw new IllegalArgumentException(key + " can be read by other users: chmod 600 " + key);
        }
        Set<String> pins = clientPins.stream().map(BridgeTls::normalize).collect(Collectors.toUnmodifiableSet());
        try {
            List<X509Certificate> chain = certificates(cert);
            PrivateKey pk = privateKey(key);
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            char[] none = new char[0];
            ks.setKeyEntry("server", pk, none, chain.toArray(new Certificate[0]));
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, none);
            KeyStore trust = KeyStore.getInstance("PKCS12");
            trust.load(null, null);
            int i = 0;
            for (X509Certificate c : certificates(ca)) {
                trust.setCertificateEntry("ca" + i++, c);
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
            tmf.init(trust);
            X509TrustManager caTrust = null;
            for (TrustManager tm : tmf.getTrustManagers()) {
                if (tm instanceof X509TrustManager x) {
                    caTrust = x;
                }
            }
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf.getKeyManagers(), new TrustManager[] {new ClientCheck(caTrust, pins)}, new SecureRandom());
            return new BridgeTls(ctx, dir, pins);
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("cannot use the TLS credentials in " + dir + ": " + e.getMessage(), e);
        }
    }

    /** Where the credentials came from and who may connect, for the startup line. */
    public String describe() {
        return "TLS from " + dir + ", clients signed by its " + CA_FILE
                + (pins.isEmpty() ? "" : " and pinned (" + pins.size() + ")");
    }

    /**
     * TLS as the server over {@code plain} after NBD_OPT_STARTTLS was acknowledged, the handshake
     * done (the caller's deadline bounds it). {@code consumed}: bytes already read past the option,
     * which a well-behaved client never sends before the ACK but which belong to the TLS stream.
     */
    SSLSocket startTls(Socket plain, byte[] consumed) throws IOException {
        SSLSocket s = (SSLSocket) context.getSocketFactory().createSocket(plain,
                new ByteArrayInputStream(consumed), true);
        s.setUseClientMode(false);
        s.setEnabledProtocols(PROTOCOLS);
        s.setNeedClientAuth(true);
        s.startHandshake();
        return s;
    }

    private static Path need(Path dir, String name, String what) {
        Path p = dir.resolve(name);
        if (!Files.isRegularFile(p) || !Files.isReadable(p)) {
            throw new IllegalArgumentException(dir + " has no readable " + name + " (" + what + "); --tls-dir "
                    + "takes a directory laid out as QEMU's tls-creds-x509 server endpoint: " + CA_FILE + ", "
                    + CERT_FILE + ", " + KEY_FILE);
        }
        return p;
    }

    private static List<X509Certificate> certificates(Path file) throws IOException, GeneralSecurityException {
        List<X509Certificate> out = new ArrayList<>();
        try (InputStream in = Files.newInputStream(file)) {
            for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                out.add((X509Certificate) c);
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(file + " holds no PEM certificate");
        }
        return out;
    }

    private static PrivateKey privateKey(Path file) throws IOException, GeneralSecurityException {
        Matcher m = PEM.matcher(Files.readString(file, StandardCharsets.US_ASCII));
        while (m.find()) {
            byte[] der = Base64.getMimeDecoder().decode(m.group(2));
            switch (m.group(1)) {
                case "PRIVATE KEY" -> {
                    for (String alg : List.of("RSA", "EC", "Ed25519", "Ed448")) {
                        try {
                            return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(der));
                        } catch (GeneralSecurityException wrongAlgorithm) {
                            // try the next
                        }
                    }
                    throw new IllegalArgumentException(file + ": a PKCS#8 key of an algorithm this server does not know");
                }
                case "RSA PRIVATE KEY" -> {
                    return KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(pkcs8Rsa(der)));
                }
                default -> {
                    // other blocks (parameters, certificates) are skipped
                }
            }
        }
        throw new IllegalArgumentException(file + " holds no unencrypted PKCS#8 or PKCS#1 RSA key; convert it with: "
                + "openssl pkcs8 -topk8 -nocrypt -in " + file + " -out " + file + ".new");
    }

    /** A PKCS#1 RSA key wrapped as PKCS#8: SEQUENCE { 0, { rsaEncryption, NULL }, OCTET STRING pkcs1 }. */
    private static byte[] pkcs8Rsa(byte[] pkcs1) {
        byte[] algorithm = {0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7,
            0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};
        byte[] octets = der(0x04, pkcs1);
        byte[] body = new byte[algorithm.length + octets.length];
        System.arraycopy(algorithm, 0, body, 0, algorithm.length);
        System.arraycopy(octets, 0, body, algorithm.length, octets.length);
        return der(0x30, body);
    }

    private static byte[] der(int tag, byte[] content) {
        int n = content.length;
        byte[] len = n < 0x80 ? new byte[] {(byte) n}
                : n < 0x100 ? new byte[] {(byte) 0x81, (byte) n}
                : n < 0x10000 ? new byte[] {(byte) 0x82, (byte) (n >> 8), (byte) n}
                : new byte[] {(byte) 0x83, (byte) (n >> 16), (byte) (n >> 8), (byte) n};
        byte[] out = new byte[1 + len.length + n];
        out[0] = (byte) tag;
        System.arraycopy(len, 0, out, 1, len.length);
        System.arraycopy(content, 0, out, 1 + len.length, n);
        return out;
    }

    static String normalize(String fingerprint) {
        String hex = fingerprint.toLowerCase(Locale.ROOT).replaceFirst("^sha256[:=]?", "").replace(":", "");
        if (!hex.matches("[0-9a-f]{64}")) {
            throw new IllegalArgumentException("'" + fingerprint + "' is not a SHA-256 certificate fingerprint "
                    + "(64 hex digits, colons allowed, as openssl x509 -noout -fingerprint -sha256 prints it)");
        }
        return "sha256:" + hex;
    }

    /** The client's certificate chains to the CA and, with pins, is pinned. */
    private record ClientCheck(X509TrustManager ca, Set<String> pins) implements X509TrustManager {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            if (chain == null || chain.length == 0) {
                throw new CertificateException("the client presented no certificate");
            }
            ca.checkClientTrusted(chain, authType);
            String fp = Identity.fingerprint(chain[0]);
            if (!pins.isEmpty() && !pins.contains(fp)) {
                throw new CertificateException("client certificate " + fp + " ("
                        + chain[0].getSubjectX500Principal().getName() + ") is signed by the CA but not pinned");
            }
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            throw new CertificateException("the bridge is never a TLS client");
        }

        /**
         * None announced: with a CA list in the CertificateRequest, GnuTLS 3.7 (QEMU's TLS on Debian 12)
         * sends its certificate only if the request's signature_algorithms also name its key's
         * PKCS#1 scheme, which a TLS 1.3 server need not list (RFC 8446 4.2.3); JDK 17.0.21 does not
         * list it, and QEMU then sent no certificate at all. Without a list, a client with one
         * certificate sends it, and {@link #checkClientTrusted} still admits only the CA's.
         */
        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
