package io.amirror.transport;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.util.Set;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/** TLS 1.3 with mutual authentication by pinned certificates, for both ends of the link. */
public final class Tls {
    private Tls() {
    }

    public static SSLContext context(Identity me, Set<String> pinnedPeers) throws IOException {
        return context(me, pinnedPeers, null);
    }

    /**
     * @param caPem optional: PEM certificates of a CA whose signed peers are trusted besides the
     *              pinned ones (null: pins only)
     */
    public static SSLContext context(Identity me, Set<String> pinnedPeers, Path caPem) throws IOException {
        try {
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(me.keyStore(), me.password());
            SSLContext ctx = SSLContext.getInstance("TLSv1.3");
            ctx.init(kmf.getKeyManagers(), new TrustManager[] {new PinnedTrustManager(pinnedPeers, caTrust(caPem))},
                    new SecureRandom());
            return ctx;
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot set up TLS: " + e.getMessage(), e);
        }
    }

    private static X509TrustManager caTrust(Path caPem)
            throws IOException, GeneralSecurityException {
        if (caPem == null) {
            return null;
        }
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        int i = 0;
        try (var in = Files.newInputStream(caPem)) {
            for (var c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                ks.setCertificateEntry("ca" + i++, c);
            }
        }
        if (i == 0) {
            throw new IOException(caPem + " holds no certificate");
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
        tmf.init(ks);
        for (TrustManager tm : tmf.getTrustManagers()) {
            if (tm instanceof X509TrustManager x) {
                return x;
            }
        }
        throw new IOException("no X.509 trust manager for " + caPem);
    }

    /** A listening socket that completes a handshake only with a pinned client. */
    public static SSLServerSocket listen(SSLContext ctx, InetSocketAddress at) throws IOException {
        SSLServerSocket s = (SSLServerSocket) ctx.getServerSocketFactory().createServerSocket();
        s.setReuseAddress(true);
        s.bind(at);
        s.setNeedClientAuth(true);
        s.setEnabledProtocols(new String[] {"TLSv1.3"});
        return s;
    }

    /**
     * TLS over an already connected socket (for instance a rate-limited one, so that every byte
     * TLS writes is counted), handshake done before it returns.
     */
    public static SSLSocket connect(SSLContext ctx, Socket plain, String host, int timeoutMillis) throws IOException {
        SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket(plain, host, plain.getPort(), true);
        s.setEnabledProtocols(new String[] {"TLSv1.3"});
        s.setSoTimeout(timeoutMillis);
        s.startHandshake();
        return s;
    }
}
