package io.amirror.primary;

import io.amirror.config.Policy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;

/**
 * The RPO watch: every few seconds, each guest whose newest point on the standby just got older
 * than its policy's alert threshold is logged and its policy's alert command run, once per miss
 * ({@link DomainStatus#checkRpoMissedTransition}), with the event in the command's environment.
 */
final class RpoAlerts {
    private static final Logger log = LoggerFactory.getLogger(RpoAlerts.class);
    private final Guests guests;
    private final PolicySet policies;
    private final Instant daemonStart;
    private final AlertCommand command = new AlertCommand();

    RpoAlerts(Guests guests, PolicySet policies, Instant daemonStart) {
        this.guests = guests;
        this.policies = policies;
        this.daemonStart = daemonStart;
    }

    void check() {
        Instant now = Instant.now();
        for (DomainStatus s : guests.statuses()) {
            if (s.checkUnsustainableTransition()) {
                unsustainable(s);
            }
            if (!s.checkRpoMissedTransition(now, daemonStart)) {
                continue;
            }
            Policy p = policies.get(s.policy());
            Duration age = s.rpoNow(now);
            String threshold = "alert threshold " + (p == null ? "?" : p.alertAfter().toSeconds() + " s");
            String firstCopy = age == null ? s.firstCopyProgress() : null;
            String msg = firstCopy != null
                    ? "RPO missed for " + s.domain() + ": the standby has no point yet: " + firstCopy + "; " + threshold
                    : "RPO missed for " + s.domain() + ": newest point on the standby is " + age.toSeconds() + " s old, "
                    + threshold;
            log.warn(msg);
            if (p != null && !p.alertCommand().isEmpty()) {
                Map<String, String> env = new HashMap<>();
                env.put("AMIRROR_EVENT", "rpo-missed");
                env.put("AMIRROR_DOMAIN", s.domain());
                env.put("AMIRROR_POLICY", p.name());
                env.put("AMIRROR_MESSAGE", msg);
                command.fire(p.alertCommand(), env);
            }
        }
    }

    /** The achievable RPO went beyond the target: the link (or the change rate) cannot hold it, said before it is missed. */
    private void unsustainable(DomainStatus s) {
        Policy p = policies.get(s.policy());
        java.time.Duration achievable = s.rpoAchievable();
        String msg = "RPO target of " + s.domain() + " cannot be held now: about " + achievable.toSeconds()
                + " s of writes could be lost (the last points took up to " + s.longestRecentLag().toSeconds()
                + " s from cut to acknowledgement), beyond the target of "
                + (p == null ? "?" : p.rpo().target().toSeconds() + " s")
                + "; a higher bandwidth limit, a faster link or a longer target would hold it";
        log.warn(msg);
        if (p != null && !p.alertCommand().isEmpty()) {
            Map<String, String> env = new HashMap<>();
            env.put("AMIRROR_EVENT", "rpo-unsustainable");
            env.put("AMIRROR_DOMAIN", s.domain());
            env.put("AMIRROR_POLICY", p.name());
            env.put("AMIRROR_MESSAGE", msg);
            command.fire(p.alertCommand(), env);
        }
    }

    void shutdown() {
        command.shutdown();
    }
}
