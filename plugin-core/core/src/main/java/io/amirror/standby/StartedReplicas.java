package io.amirror.standby;

import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The standby daemon's side of {@link GuestUp}: a replica the hook promoted (a plain {@code virsh
 * start}) is checked once, from the promotion's time, on a thread of its own; a start that
 * {@code amirror failover} checks itself is left to it (its record appears first). Promotions older
 * than {@link #RECENT} (found at a later daemon start) are not checked any more.
 */
final class StartedReplicas implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(StartedReplicas.class);
    static final Duration RECENT = Duration.ofHours(1);

    private final String libvirtUri;
    private final ExecutorService checks = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "guest-up");
        t.setDaemon(true);
        return t;
    });
    private final Set<UUID> running = new HashSet<>();

    StartedReplicas(String libvirtUri) {
        this.libvirtUri = libvirtUri;
    }

    /** Starts a check of each replica promoted recently and not yet checked. */
    synchronized void scan(Iterable<ReplicaDomain> replicas) throws IOException {
        for (ReplicaDomain d : replicas) {
            Optional<ReplicaDomain.Promoted> p = d.promoted();
            if (p.isEmpty() || running.contains(d.uuid()) || d.definedName().isEmpty()) {
                continue;
            }
            Instant at = Instant.parse(p.get().at());
            if (at.isBefore(Instant.now().minus(RECENT))) {
                continue;
            }
            Optional<GuestUp.Report> last = GuestUp.last(d);
            if (last.isPresent() && !Instant.parse(last.get().startedAt()).isBefore(at.minus(Duration.ofMinutes(2)))) {
                continue; // this start was checked (or is being checked by amirror failover)
            }
            running.add(d.uuid());
            checks.submit(() -> check(d, p.get(), at));
        }
    }

    private void check(ReplicaDomain d, ReplicaDomain.Promoted p, Instant at) {
        String name = null;
        try {
            name = d.definedName().orElseThrow();
            Connect c = new Connect(libvirtUri);
            try {
                Domain dom = c.domainLookupByName(name);
                new GuestUp(dom, name, line -> { }).checkAndRecord(d, p.point(), at);
            } finally {
                c.close();
            }
        } catch (IOException | LibvirtException | RuntimeException e) {
            log.error("{}: the started replica could not be checked: {}", name == null ? d.uuid() : name, e.getMessage());
        } finally {
            synchronized (this) {
                running.remove(d.uuid());
            }
        }
    }

    @Override
    public void close() {
        checks.shutdownNow();
    }
}
