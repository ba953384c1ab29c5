package io.amirror.primary;

import io.amirror.config.Policy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the daemon does on a domain event the libvirt hook queued (decoded by the control API's
 * queue; this side sees only the operation and the domain's name). A domain no policy covers is
 * ignored.
 * <ul>
 *   <li>{@code started}: without a point on the standby yet, a first, full cycle runs now;</li>
 *   <li>{@code release}: the guest is shut off; a final cycle captures its disks, so a planned
 *       shutdown loses nothing ({@code stopped} comes first, while libvirt still holds the domain);</li>
 *   <li>{@code migrate}, {@code restore}, {@code reconnect}: the chain may not be what it was;
 *       a cycle now checks it (and starts a new one if it broke).</li>
 * </ul>
 */
final class HookEvents {
    private static final Logger log = LoggerFactory.getLogger(HookEvents.class);

    /** Runs a cycle of a guest now; false when no policy covers it. */
    interface SyncRequest {
        boolean request(String guest) throws Exception;
    }

    private final Guests guests;
    private final PolicySet policies;
    private final SyncRequest sync;

    HookEvents(Guests guests, PolicySet policies, SyncRequest sync) {
        this.guests = guests;
        this.policies = policies;
        this.sync = sync;
    }

    void on(String operation, String subOperation, String domain) {
        DomainStatus s = guests.status(domain);
        Policy policy = s == null ? null : policies.get(s.policy());
        if (policy == null) {
            log.debug("hook event {} of '{}': no policy covers it", operation, domain);
            return;
        }
        String why;
        switch (operation) {
            case "started" -> {
                try {
                    if (guests.open(domain, policy).acknowledgedPoint() > 0) {
                        log.info("{} started; its chain is in place, next cycle on schedule", domain);
                        return;
                    }
                } catch (Exception gone) {
                    log.warn("{} started but cannot be read: {}", domain, gone.getMessage());
                    return;
                }
                why = "started without a point on the standby: first full cycle";
            }
            // shut down, destroyed or crashed: the capture asks libvirt which, and says so in the point's consistency
            case "release" -> why = "stopped: final cycle of its disks";
            case "migrate", "restore", "reconnect" -> why = operation + ": checking its chain";
            default -> {
                log.info("hook event {} {} of {}", operation, subOperation, domain);
                return;
            }
        }
        try {
            sync.request(domain);
            log.info("{}: {}", domain, why);
        } catch (Exception x) {
            log.error("{}: {} could not be scheduled: {}", domain, why, x.getMessage());
        }
    }
}
