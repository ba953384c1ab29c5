package io.amirror.transport;

import javax.net.ssl.X509TrustManager;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Trusts a peer whose certificate's fingerprint is pinned in the configuration, and no one else
 * (unless a CA trust manager is given, which then also decides). Chains, names and expiry do not
 * matter for a pinned certificate: the pin is the trust, as with ssh's known_hosts.
 */
public final class PinnedTrustManager implements X509TrustManager {
    private final Set<String> pinned;
    private final X509TrustManager ca;

    /** @param ca an optional CA trust manager for peers that are not pinned; null for pins only */
    public PinnedTrustManager(Set<String> pinnedFingerprints, X509TrustManager ca) {
        this.pinned = pinnedFingerprints.stream().map(f -> f.toLowerCase(Locale.ROOT).replace(":", "")
                .replace("sha256", "sha256:")).collect(Collectors.toUnmodifiableSet());
        this.ca = ca;
    }

    private void check(X509Certificate[] chain, String authType, boolean client) throws CertificateException {
        if (chain == null || chain.length == 0) {
            throw new CertificateException("the peer presented no certificate");
        }
        String fp = Identity.fingerprint(chain[0]);
        if (pinned.contains(fp)) {
            return;
        }
        if (ca != null) {
            if (client) {
                ca.checkClientTrusted(chain, authType);
            } else {
                ca.checkServerTrusted(chain, authType);
            }
            return;
        }
        throw new CertificateException("peer certificate " + fp + " (" + chain[0].getSubjectX500Principal().getName()
                + ") is not pinned; pinned are " + pinned + ". If this peer is new, add the fingerprint that "
                + "'amirror init' printed on it to the configuration");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        check(chain, authType, true);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        check(chain, authType, false);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return new X509Certificate[0];
    }
}
