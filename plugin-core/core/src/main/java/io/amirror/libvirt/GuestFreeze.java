package io.amirror.libvirt;

import org.libvirt.Domain;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Freezes a running guest's filesystems through the QEMU guest agent for the instant a point is
 * cut, so the point is application-consistent rather than crash-consistent. Without a reachable
 * agent it does nothing and says so: a crash-consistent point is still a good point, and a missed
 * one is not.
 *
 * <p>A freeze is bounded: a watchdog thaws the guest {@link #MAX_FREEZE} after the freeze even if
 * the cut has not come back by then (libvirt or QEMU stuck), since a guest whose filesystems stay
 * frozen stops its applications. A point cut after such a thaw is crash-consistent, and
 * {@link #heldThroughCut()} says so. A freeze that fails or times out is followed by a thaw all the
 * same: a hung agent may still carry the freeze out after libvirt gave up waiting for it.
 *
 * <p>Caller's duty: {@link #close()} (thaw) as soon as the point exists, and read
 * {@link #heldThroughCut()} between the cut and the close.
 */
public final class GuestFreeze implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(GuestFreeze.class);
    private static final int AGENT_TIMEOUT_SECONDS = 10;
    /** The longest a guest stays frozen for a point. */
    public static final Duration MAX_FREEZE = Duration.ofSeconds(Long.getLong("amirror.maxFreezeSeconds", 20));

    private final Domain domain;
    private final String name;
    private final boolean frozen;
    private final String why;
    private final AtomicBoolean thawed = new AtomicBoolean();
    private final Thread watchdog;

    private GuestFreeze(Domain domain, String name, boolean frozen, String why, Duration bound) {
        this.domain = domain;
        this.name = name;
        this.frozen = frozen;
        this.why = why;
        if (frozen) {
            watchdog = new Thread(() -> {
                try {
                    Thread.sleep(bound.toMillis());
                } catch (InterruptedException e) {
                    return; // thawed in time
                }
                log.warn("{}: still frozen {} s after the freeze; thawing it now: this point is crash-consistent",
                        name, bound.toSeconds());
                thaw();
            }, "thaw-watchdog-" + name);
            watchdog.setDaemon(true);
            watchdog.start();
        } else {
            watchdog = null;
        }
    }

    /** Freezes if {@code wanted}; otherwise, or when the agent does not answer, returns an unfrozen handle. */
    public static GuestFreeze freeze(Domain domain, String name, boolean wanted) {
        return freeze(domain, name, wanted, MAX_FREEZE);
    }

    /** As {@link #freeze(Domain, String, boolean)}, thawing after {@code bound} at the latest. */
    public static GuestFreeze freeze(Domain domain, String name, boolean wanted, Duration bound) {
        if (!wanted) {
            return new GuestFreeze(domain, name, false, "not requested", bound);
        }
        try {
            domain.qemuAgentCommand("{\"execute\":\"guest-fsfreeze-freeze\"}", AGENT_TIMEOUT_SECONDS, 0);
            return new GuestFreeze(domain, name, true, "frozen", bound);
        } catch (LibvirtException e) {
            log.warn("cannot quiesce {} through the guest agent ({}); this point is crash-consistent", name,
                    e.getMessage());
            try { // a hung agent may freeze after libvirt stopped waiting; never leave the guest frozen
                domain.qemuAgentCommand("{\"execute\":\"guest-fsfreeze-thaw\"}", AGENT_TIMEOUT_SECONDS, 0);
            } catch (LibvirtException ignored) {
                // no agent, or not frozen: nothing to undo
            }
            return new GuestFreeze(domain, name, false, e.getMessage(), bound);
        }
    }

    public boolean frozen() {
        return frozen;
    }

    /** Whether the guest was frozen and still is: a point cut now is application-consistent. */
    public boolean heldThroughCut() {
        return frozen && !thawed.get();
    }

    /** Why the guest is not frozen, or "frozen". */
    public String why() {
        return frozen && thawed.get() ? "the freeze outlasted " + MAX_FREEZE.toSeconds() + " s and was ended" : why;
    }

    @Override
    public void close() {
        if (!frozen) {
            return;
        }
        watchdog.interrupt();
        thaw();
    }

    private void thaw() {
        if (!thawed.compareAndSet(false, true)) {
            return;
        }
        try {
            domain.qemuAgentCommand("{\"execute\":\"guest-fsfreeze-thaw\"}", AGENT_TIMEOUT_SECONDS, 0);
        } catch (LibvirtException e) {
            log.error("cannot thaw the filesystems of {}: {}; run 'virsh domfsthaw' on it", name, e.getMessage());
        }
    }
}
