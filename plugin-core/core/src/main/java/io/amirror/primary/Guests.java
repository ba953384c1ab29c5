package io.amirror.primary;

import io.amirror.capture.DomainCapture;
import io.amirror.config.Policy;
import io.amirror.libvirt.LibvirtSession;
import io.amirror.schedule.ReplicationScheduler;
import io.amirror.spool.Spool;
import io.amirror.transport.Identity;
import org.libvirt.Domain;
import org.libvirt.Error;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;

/**
 * The guests the daemon replicates now, libvirt domains and bridge guests alike: each one's
 * {@link DomainStatus}, its lock (a cycle and a verify of one guest never overlap: both read its
 * maps and its source), the {@link StandbyLink} per standby, and how to {@linkplain #open open} a
 * guest's {@link Replication} for a unit of work (a libvirt domain is looked up again each time,
 * since handles die with a libvirtd restart; other sources come from a {@link PointSourceProvider}).
 */
final class Guests {
    private static final Logger log = LoggerFactory.getLogger(Guests.class);

    /** What opening a guest needs: the state directory, the spool and the encoders every guest shares. */
    record Shared(Path stateDir, Spool spool, ExecutorService encoders, int threads, Identity identity,
                  Duration ioTimeout, Duration linkTimeout) {
    }

    private final Shared shared;
    private final LibvirtSession libvirt;
    private final DomainCapture capture;
    private final List<PointSourceProvider> providers;
    private final Map<String, DomainStatus> statuses = new ConcurrentHashMap<>();
    private final Map<String, Object> locks = new ConcurrentHashMap<>();
    private final Map<String, StandbyLink> links = new ConcurrentHashMap<>();

    Guests(Shared shared, LibvirtSession libvirt, DomainCapture capture) {
        this.shared = shared;
        this.libvirt = libvirt;
        this.capture = capture;
        this.providers = ServiceLoader.load(PointSourceProvider.class).stream().map(ServiceLoader.Provider::get).toList();
    }

    /** Takes the guests of a match: new ones get a status from their state, gone ones are dropped. */
    synchronized void assign(List<ReplicationScheduler.Assignment> assignments) throws IOException {
        Set<String> keep = new HashSet<>();
        for (ReplicationScheduler.Assignment a : assignments) {
            keep.add(a.domain());
            Policy p = a.policy();
            DomainStatus status = statuses.computeIfAbsent(a.domain(), name -> loadStatus(name, p));
            status.assign(p.name(), p.standby().address(), p.rpo().target(), p.alertAfter(),
                    p.rpo().interval() != null ? p.rpo().interval() : p.rpo().target());
            status.pinned(p.standby().fingerprint());
            StandbyLink link = links.get(p.standby().key());
            if (link == null) {
                links.put(p.standby().key(), new StandbyLink(shared.identity(), p.standby(), p.bandwidth(),
                        shared.linkTimeout()));
            } else {
                link.rate(p.bandwidth());
            }
        }
        statuses.keySet().removeIf(d -> !keep.contains(d));
    }

    /** A status for a guest just assigned, with what the state directory knows of its last point. */
    private DomainStatus loadStatus(String name, Policy policy) {
        DomainStatus s = new DomainStatus(name);
        try {
            Replication r = open(name, policy);
            int point = r.acknowledgedPoint();
            s.known(r.uuid().toString(), point == 0 ? null : point, r.lastAcknowledgedCut().orElse(null));
            r.lastVerified().ifPresent(v -> s.verified(Instant.ofEpochMilli(v.at()), v.summary()));
        } catch (Exception e) {
            log.debug("no earlier state for {}: {}", name, e.getMessage());
        }
        return s;
    }

    DomainStatus status(String name) {
        return statuses.get(name);
    }

    Collection<DomainStatus> statuses() {
        return statuses.values();
    }

    Object lock(String name) {
        return locks.computeIfAbsent(name, k -> new Object());
    }

    StandbyLink link(Policy policy) {
        return links.get(policy.standby().key());
    }

    Spool spool() {
        return shared.spool();
    }

    /** The replication of guest {@code name} under {@code policy}, for one unit of work. */
    Replication open(String name, Policy policy) throws IOException, LibvirtException {
        return new Replication(source(name, policy), shared.stateDir(), shared.spool(), shared.encoders(),
                shared.threads());
    }

    private PointSource source(String name, Policy policy) throws IOException, LibvirtException {
        if (policy.bridged()) {
            PointSourceProvider p = providers.stream().filter(x -> x.serves(policy)).findFirst().orElseThrow(() ->
                    new IllegalStateException("policy '" + policy.name() + "' replicates a bridge guest, and the "
                            + "bridge module is not installed with this amirror"));
            return p.open(policy, shared.stateDir(), shared.ioTimeout());
        }
        Domain d;
        try {
            d = libvirt.call(c -> c.domainLookupByName(name));
        } catch (LibvirtException e) {
            if (e.getError() != null && e.getError().getCode() == Error.ErrorNumber.VIR_ERR_NO_DOMAIN) {
                throw new IllegalStateException("domain '" + name + "' is not defined in libvirt", e);
            }
            throw e;
        }
        return new LibvirtPointSource(d, shared.stateDir(), capture);
    }
}
