package io.amirror.transport;

import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import java.net.SocketAddress;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;

/**
 * Who is on the other end of an authenticated connection: the fingerprint of the certificate it
 * presented (as {@code peers} pins it), that certificate's subject (for peers a CA vouches for),
 * and the address it came from (for logs only: an address proves nothing).
 */
public record Peer(String fingerprint, String subject, String address) {

    /** The peer of a session whose handshake has completed. */
    static Peer of(SSLSession session, SocketAddress from) throws SSLPeerUnverifiedException {
        Certificate[] chain = session.getPeerCertificates();
        X509Certificate leaf = (X509Certificate) chain[0];
        return new Peer(Identity.fingerprint(leaf), leaf.getSubjectX500Principal().getName(), String.valueOf(from));
    }

    /** The fingerprint shortened for messages a person reads. */
    public String shortName() {
        return fingerprint.length() > 23 ? fingerprint.substring(0, 23) + "…" : fingerprint;
    }

    @Override
    public String toString() {
        return fingerprint + " (" + subject + ", from " + address + ")";
    }
}
