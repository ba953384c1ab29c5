package io.amirror.primary;

import io.amirror.config.Policy;
import io.amirror.transport.Identity;
import io.amirror.transport.Sender;
import io.amirror.transport.Tls;
import io.amirror.transport.TokenBucket;
import io.amirror.util.HostPort;
import io.amirror.util.WeeklyRate;

import java.io.IOException;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.Set;

/**
 * Everything shared by the domains that replicate to one standby: the pinned TLS context, one
 * token bucket (so their transfers together stay under the link's limit), and the learned
 * compression. Policies naming the same standby address and fingerprint share one link; its rate
 * schedule is that of the first such policy.
 */
public final class StandbyLink {
    private final Policy.StandbyTarget target;
    private final Sender sender;
    private final AutoCompression compression = new AutoCompression();
    private volatile WeeklyRate rate;

    /**
     * @param timeout how long the standby may stay silent on a connection before it counts as lost
     */
    public StandbyLink(Identity me, Policy.StandbyTarget target, WeeklyRate rate, Duration timeout)
            throws IOException {
        this.target = target;
        this.rate = rate;
        TokenBucket bucket = new TokenBucket(() -> bytesPerSecondNow());
        this.sender = new Sender(Tls.context(me, Set.of(target.fingerprint()), null), HostPort.parse(target.address()),
                bucket, Math.toIntExact(timeout.toMillis()));
    }

    /** On a reload: the new schedule applies from the next byte on. */
    void rate(WeeklyRate r) {
        this.rate = r;
    }

    public double bytesPerSecondNow() {
        WeeklyRate r = rate;
        return r == null ? 1e12 : r.rateAt(ZonedDateTime.now());
    }

    public Sender sender() {
        return sender;
    }

    public AutoCompression compression() {
        return compression;
    }

    public Policy.StandbyTarget target() {
        return target;
    }
}
