package io.amirror.libvirt;

import org.libvirt.Domain;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Freezes a running guest's filesystems through the QEMU guest agent for the instant a point is
 * cut, so the point is application-consistent rather than crash-consistent. Without a reachable
 * agent it does nothing and says so: a crash-consistent point is still a good point, and a missed
 * one is not.
 *
 * <p>Caller's duty: {@link #close()} (thaw) as soon as the point exists; a guest stays frozen until
 * then, and the agent thaws by itself only after its own timeout.
 */
public final class GuestFreeze implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(GuestFreeze.class);
    private static final int AGENT_TIMEOUT_SECONDS = 10;

    private final Domain domain;
    private final boolean frozen;
    private final String why;

    private GuestFreeze(Domain domain, boolean frozen, String why) {
        this.domain = domain;
        this.frozen = frozen;
        this.why = why;
    }

    /** Freezes if {@code wanted}; otherwise, or when the agent does not answer, returns an unfrozen handle. */
    public static GuestFreeze freeze(Domain domain, String name, boolean wanted) {
        if (!wanted) {
            return new GuestFreeze(domain, false, "not requested");
        }
        try {
            domain.qemuAgentCommand("{\"execute\":\"guest-fsfreeze-freeze\"}", AGENT_TIMEOUT_SECONDS, 0);
            return new GuestFreeze(domain, true, "frozen");
        } catch (LibvirtException e) {
            log.warn("cannot quiesce {} through the guest agent ({}); this point is crash-consistent", name,
                    e.getMessage());
            return new GuestFreeze(domain, false, e.getMessage());
        }
    }

    public boolean frozen() {
        return frozen;
    }

    /** Why the guest is not frozen, or "frozen". */
    public String why() {
        return why;
    }

    @Override
    public void close() {
        if (!frozen) {
            return;
        }
        try {
            domain.qemuAgentCommand("{\"execute\":\"guest-fsfreeze-thaw\"}", AGENT_TIMEOUT_SECONDS, 0);
        } catch (LibvirtException e) {
            log.error("cannot thaw the guest's filesystems: {}; run 'virsh domfsthaw' on it", e.getMessage());
        }
    }
}
