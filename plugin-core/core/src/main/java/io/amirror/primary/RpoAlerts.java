package io.amirror.primary;

import io.amirror.config.Policy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The RPO watch: every few seconds, each guest whose newest point on the standby just got older
 * than its policy's alert threshold is logged and its policy's alert command run, once per miss
 * ({@link DomainStatus#checkRpoMissedTransition}), with the event in the command's environment
 * ({@code rpo-missed}); and each guest whose achievable RPO just went beyond its target
 * ({@link DomainStatus#checkUnsustainableTransition}) the same way ({@code rpo-unsustainable}),
 * which says that the link cannot hold the target before the target is actually missed.
 */
final class RpoAlerts {
    private static final Logger log = LoggerFactory.getLogger(RpoAlerts.class);
    private final Supplier<Collection<DomainStatus>> statuses;
    private final PolicySet policies;
    private final Instant daemonStart;
    private final AlertCommand command = new AlertCommand();

    RpoAlerts(Supplier<Collection<DomainStatus>> statuses, PolicySet policies, Instant daemonStart) {
        this.statuses = statuses;
        this.policies = policies;
        this.daemonStart = daemonStart;
    }

    void check() {
        Instant now = Instant.now();
        for (DomainStatus s : statuses.get()) {
            try { // one domain's trouble must not end the watch of the others (a scheduled task that throws stops)
                check(s, now);
            } catch (RuntimeException e) {
                log.error("RPO watch of {}: {}", s.domain(), e.toString());
            }
        }
    }

    private void check(DomainStatus s, Instant now) {
        if (s.checkUnsustainableTransition()) {
            unsustainable(s);
        }
        if (!s.checkRpoMissedTransition(now, daemonStart)) {
            return;
        }
        Policy p = policies.get(s.policy());
        Duration age = s.rpoNow(now);
        String threshold = "alert threshold " + (p == null ? "?" : p.alertAfter().toSeconds() + " s");
        String firstCopy = age == null ? s.firstCopyProgress() : null;
        String msg = firstCopy != null
                ? "RPO missed for " + s.domain() + ": the standby has no point yet: " + firstCopy + "; " + threshold
                : "RPO missed for " + s.domain() + ": newest point on the standby is "
                + (age == null ? "of unknown age" : age.toSeconds() + " s old") + ", " + threshold;
        alert(p, "rpo-missed", s.domain(), msg);
    }

    /** The achievable RPO went beyond the alert threshold: the link (or the change rate) cannot hold it, said before it is missed. */
    private void unsustainable(DomainStatus s) {
        Policy p = policies.get(s.policy());
        Duration achievable = s.rpoAchievable();
        String msg = "RPO target of " + s.domain() + " cannot be held now: about " + achievable.toSeconds()
                + " s of writes could be lost (the last points took up to " + s.longestRecentLag().toSeconds()
                + " s from cut to acknowledgement), beyond the alert threshold of " + s.alertAfter().toSeconds()
                + " s; a higher bandwidth limit, a faster link or a longer target would hold it";
        alert(p, "rpo-unsustainable", s.domain(), msg);
    }

    /** Logs {@code msg} and runs the policy's alert command, if it has one, with the event in its environment. */
    private void alert(Policy p, String event, String domain, String msg) {
        log.warn(msg);
        if (p != null && !p.alertCommand().isEmpty()) {
            Map<String, String> env = new HashMap<>();
            env.put("AMIRROR_EVENT", event);
            env.put("AMIRROR_DOMAIN", domain);
            env.put("AMIRROR_POLICY", p.name());
            env.put("AMIRROR_MESSAGE", msg);
            command.fire(p.alertCommand(), env);
        }
    }

    void shutdown() {
        command.shutdown();
    }
}
