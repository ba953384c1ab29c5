package io.amirror.transport;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Set;

/** TLS 1.3 with mutual authentication by pinned certificates, for both ends of the link. */
public final class Tls {
    private Tls() {
    }

    public static SSLContext context(Identity me, Set<String> pinnedPeers) throws IOException {
        try {
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(me.keyStore(), me.password());
            SSLContext ctx = SSLContext.getInstance("TLSv1.3");
            ctx.init(kmf.getKeyManagers(), new TrustManager[] {new PinnedTrustManager(pinnedPeers, null)},
                    new SecureRandom());
            return ctx;
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot set up TLS: " + e.getMessage(), e);
        }
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
