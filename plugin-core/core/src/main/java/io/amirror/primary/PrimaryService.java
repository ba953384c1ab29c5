package io.amirror.primary;

import io.amirror.control.VerifyReport;

import io.amirror.control.PrimaryControl;
import io.amirror.control.StatusReport;

import io.amirror.capture.DomainCapture;
import io.amirror.config.ConfigError;
import io.amirror.config.PrimaryConfig;
import io.amirror.libvirt.LibvirtSession;
import io.amirror.schedule.ReplicationScheduler;
import io.amirror.spool.Spool;
import io.amirror.state.StateDirLock;
import io.amirror.state.StateModes;
import io.amirror.transport.Identity;
import io.amirror.util.PrivateFiles;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;
import org.quartz.SchedulerException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetAddress;
import java.time.Instant;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The primary daemon ({@code amirror primary}), as wiring: the {@link PolicySet} says which policy
 * covers which guest (libvirt domains by name, glob or tag; bridge guests by their policy), the
 * {@link Guests} keep each guest's status, lock and standby link, the {@link ReplicationScheduler}
 * runs {@link ScheduledCycles} (a {@link ReplicationCycle}, then a due verify) on each policy's
 * schedule, {@link HookEvents} turn the libvirt hook's events into cycles, {@link RpoAlerts} watch
 * the RPO, and {@link #status()} reads it all for the control API. Every guest, whatever its
 * {@link PointSource}, goes through the same pieces.
 *
 * <p>{@link #reload()} (SIGHUP, a change in the policy directory, or the control API) rereads the
 * policies and re-matches the guests; transfers in progress go on. Callers: {@link #start()} once,
 * {@link #close()} at the end.
 */
public final class PrimaryService implements PrimaryControl, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PrimaryService.class);
    /** Policies tag domains with {@code <amirror:policy xmlns:amirror="…">TAG</amirror:policy>} in their metadata. */
    public static final String METADATA_NS = "https://amirror.io/libvirt/1";
    private static final Pattern TAG_TEXT = Pattern.compile(">\\s*([^<]*?)\\s*<");

    private final PrimaryConfig config;
    private final LibvirtSession libvirt;
    private final Instant startedAt = Instant.now();
    private final StateDirLock stateLock;
    private final Identity identity;
    private final ExecutorService encoders;
    private final PolicySet policies;
    private final Guests guests;
    private final ScheduledCycles cycles;
    private final ReplicationScheduler scheduler;
    private final HookEvents hookEvents;
    private final RpoAlerts alerts;
    private final java.util.Set<String> switchedAwayLogged = new java.util.HashSet<>();
    private final ScheduledExecutorService watch = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "rpo-watch");
        t.setDaemon(true);
        return t;
    });

    /**
     * Takes the state directory first ({@link StateDirLock}: a second primary daemon on it is
     * refused with {@link StateDirLock.InUse} before anything there is touched), then loads or makes
     * the identity and sweeps the spool's partial deltas of a crashed run. The lock is held until
     * {@link #close}.
     */
    public PrimaryService(PrimaryConfig config, LibvirtSession libvirt, DomainCapture capture) throws IOException,
            SchedulerException {
        StateDirLock lock = StateDirLock.acquire(config.stateDir(), StateDirLock.Daemon.PRIMARY);
        ExecutorService pool = null;
        try {
            this.stateLock = lock;
            this.config = config;
            this.libvirt = libvirt;
            PrivateFiles.createTraversable(config.stateDir()); // QEMU passes through it where the standby shares it
            StateModes.secure(config.stateDir());
            this.identity = Identity.loadOrCreate(config.stateDir(), hostName());
            Spool spool = new Spool(config.stateDir().resolve("spool"), config.spoolLimitBytes());
            spool.sweepPartials();
            pool = Executors.newFixedThreadPool(config.threads(), r -> {
                Thread t = new Thread(r, "encoder");
                t.setDaemon(true);
                return t;
            });
            this.encoders = pool;
            this.policies = new PolicySet(config.policyDir());
            this.guests = new Guests(new Guests.Shared(config.stateDir(), spool, encoders, config.threads(), identity,
                    config.timeouts().disk(), config.timeouts().link()), libvirt, capture);
            this.cycles = new ScheduledCycles(guests, policies, new Verifier());
            this.scheduler = new ReplicationScheduler(cycles, config.concurrentCycles(), config.quartz(), 5_000,
                    ZoneId.systemDefault());
            this.hookEvents = new HookEvents(guests, policies, guest -> requestSync(guest).isPresent());
            this.alerts = new RpoAlerts(guests::statuses, policies, startedAt);
        } catch (IOException | SchedulerException | RuntimeException | Error e) {
            if (pool != null) {
                pool.shutdownNow();
            }
            watch.shutdownNow();
            lock.close();
            throw e;
        }
    }

    /** Loads the policies, schedules the guests, and starts the RPO watch. */
    public void start() throws Exception {
        reload();
        scheduler.start();
        watch.scheduleWithFixedDelay(alerts::check, 5, 5, TimeUnit.SECONDS);
        // domains defined later and matched by a glob or a tag are picked up within a minute
        watch.scheduleWithFixedDelay(() -> {
            try {
                rematch();
            } catch (Exception e) {
                log.warn("re-matching domains failed: {}", e.toString());
            }
        }, 60, 60, TimeUnit.SECONDS);
        log.info("primary started as {}: {} policies, {} guests", identity.fingerprint(), policies.names().size(),
                guests.statuses().size());
    }

    public Identity identity() {
        return identity;
    }

    public PrimaryConfig config() {
        return config;
    }

    /** Rereads the policy directory; returns the errors of the files that were refused. */
    public synchronized List<ConfigError> reload() throws IOException, SchedulerException {
        List<ConfigError> refused = policies.reload();
        rematch();
        for (ConfigError e : refused) {
            log.warn("policy refused: {}", e);
        }
        return refused;
    }

    private synchronized void rematch() throws SchedulerException, IOException {
        java.util.Set<String> away = new java.util.HashSet<>();
        PolicyMatcher.Result m = policies.match(definedDomains(away));
        // a policy that names a domain assigns it defined or not: one switched over is taken out here
        List<io.amirror.schedule.ReplicationScheduler.Assignment> kept = m.assignments().stream()
                .filter(a -> !away.contains(a.domain())).toList();
        scheduler.apply(kept);
        guests.assign(kept);
    }

    /**
     * The domains libvirt defines, but for those switched over to their standby ({@link SwitchedAway}),
     * whose names go to {@code awayNow}.
     */
    private List<PolicyMatcher.DefinedDomain> definedDomains(java.util.Set<String> awayNow) {
        List<PolicyMatcher.DefinedDomain> out = new ArrayList<>();
        java.util.Map<java.util.UUID, String> away = new java.util.HashMap<>();
        try {
            for (SwitchedAway.Away a : SwitchedAway.all(config.stateDir())) {
                away.put(a.uuid(), a.why());
                if (a.domain() != null) {
                    awayNow.add(a.domain()); // left alone by name too: also when libvirt cannot list it now
                }
            }
        } catch (IOException e) {
            log.warn("cannot read the switchover records: {}", e.getMessage());
        }
        try {
            for (Domain d : libvirt.call(c -> c.listAllDomains(0))) {
                String why = away.get(java.util.UUID.fromString(d.getUUIDString()));
                if (why != null) {
                    awayNow.add(d.getName());
                    if (!switchedAwayLogged.contains(d.getName())) {
                        log.info("{} {}: this primary leaves it alone", d.getName(), why);
                    }
                    continue;
                }
                out.add(new PolicyMatcher.DefinedDomain(d.getName(), tag(d)));
            }
        } catch (LibvirtException e) {
            log.warn("cannot list domains: {}", e.getMessage());
        }
        switchedAwayLogged.retainAll(awayNow);
        switchedAwayLogged.addAll(awayNow);
        out.removeIf(d -> awayNow.contains(d.name()));
        return out;
    }

    private static String tag(Domain d) {
        try {
            String xml = d.getMetadata(2 /* VIR_DOMAIN_METADATA_ELEMENT */, METADATA_NS, 0);
            Matcher m = TAG_TEXT.matcher(xml == null ? "" : xml);
            return m.find() ? m.group(1) : null;
        } catch (LibvirtException noMetadata) {
            return null;
        }
    }

    /**
     * A domain event from the libvirt hook: its operation ({@code started}, {@code release}, …),
     * sub-operation and domain name. See {@link HookEvents}.
     */
    public void onHookEvent(String operation, String subOperation, String domain) {
        hookEvents.on(operation, subOperation, domain);
    }

    /**
     * Compares the standby's replica of every disk of {@code guest} with the primary's record of
     * it (see {@link Verifier}). Waits for a running cycle of the guest.
     */
    public VerifyReport verify(String guest) throws Exception {
        return cycles.verify(guest);
    }

    /** Runs a cycle of {@code guest} now; empty when no policy covers it. */
    public Optional<Instant> requestSync(String guest) throws SchedulerException {
        DomainStatus s = guests.status(guest);
        Instant now = Instant.now(); // before the trigger: the cycle may start at once, and must count as this request's
        if (s == null || !scheduler.runNow(guest)) {
            return Optional.empty();
        }
        s.syncRequested(now);
        return Optional.of(now);
    }

    /** Every guest's status now, as the control API, the metrics and {@code amirror status} show it. */
    public StatusReport status() throws SchedulerException {
        Instant now = Instant.now();
        List<StatusReport.Domain> views = new ArrayList<>();
        for (DomainStatus s : guests.statuses()) {
            views.add(s.view(now, scheduler.nextRun(s.domain()).orElse(null)));
        }
        views.sort(Comparator.comparing(StatusReport.Domain::domain));
        return new StatusReport(hostName(), version(), startedAt.toString(), now.toString(), policies.names(),
                policies.errors(), views);
    }

    public static String version() {
        String v = PrimaryService.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }

    static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "localhost";
        }
    }

    /** The cycles in progress, one line each: the domain, what it is doing, what a stop now would mean for it. */
    public List<String> cyclesInFlight() {
        List<String> out = new ArrayList<>();
        for (DomainStatus s : guests.statuses()) {
            String doing = s.inFlight();
            if (doing != null) {
                out.add(s.domain() + ": " + doing);
            }
        }
        out.sort(null);
        return out;
    }

    /**
     * Stops scheduling; cycles in progress finish first (their transfers resume after a restart
     * anyway), and the log says how each ended; then the state directory's lock is released. A
     * caller that cannot wait that long (a service manager's stop timeout) exits anyway and says
     * what was cut short with {@link #cyclesInFlight()}.
     */
    @Override
    public void close() throws Exception {
        try {
            watch.shutdownNow();
            java.util.Map<DomainStatus, Integer> running = new java.util.LinkedHashMap<>();
            for (DomainStatus s : guests.statuses()) {
                if (s.inFlight() != null) {
                    running.put(s, s.lastPoint());
                }
            }
            if (!running.isEmpty()) {
                log.info("stopping: waiting for {} running cycle(s) to end: {}", running.size(), cyclesInFlight());
            }
            scheduler.shutdown(true);
            running.forEach((s, before) -> {
                Integer after = s.lastPoint();
                if (after != null && !after.equals(before)) {
                    log.info("stopped: {}'s cycle ended with point {} acknowledged by the standby", s.domain(), after);
                } else {
                    log.info("stopped: {}'s cycle ended without a new point{}", s.domain(),
                            s.lastError() == null ? "" : " (" + s.lastError() + ")");
                }
            });
            alerts.shutdown();
            encoders.shutdownNow();
        } finally {
            stateLock.close();
        }
    }
}
