package io.amirror.primary;

import io.amirror.capture.DomainCapture;
import io.amirror.config.ConfigError;
import io.amirror.config.Policy;
import io.amirror.config.PolicyLoader;
import io.amirror.config.PrimaryConfig;
import io.amirror.delta.XzBlockCodec;
import io.amirror.schedule.CycleRunner;
import io.amirror.schedule.ReplicationScheduler;
import io.amirror.spool.Spool;
import io.amirror.transport.Identity;
import io.amirror.transport.Sender;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;
import org.quartz.SchedulerException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The primary daemon ({@code amirror primary}): loads the policies, matches them to libvirt
 * domains, has the {@link ReplicationScheduler} run one {@linkplain #runCycle cycle} per domain on
 * its policy's schedule, and keeps each domain's {@link DomainStatus} for the control API.
 *
 * <p>One cycle of a domain: ship and acknowledge the point left pending by an earlier cycle or
 * process, if any (resumed to the byte by the standby); then capture a new point, encode it into
 * the spool, ship it, and on the standby's ACK of every disk retire the old checkpoint and commit
 * the hash maps. A failure anywhere leaves a state the next cycle continues from.
 *
 * <p>{@link #reload()} (SIGHUP, a change in the policy directory, or the control API) rereads the
 * policies and re-matches the domains; transfers in progress go on.
 */
public final class PrimaryService implements CycleRunner, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PrimaryService.class);
    /** Policies tag domains with {@code <amirror:policy xmlns:amirror="…">TAG</amirror:policy>} in their metadata. */
    public static final String METADATA_NS = "https://amirror.io/libvirt/1";
    private static final Pattern TAG_TEXT = Pattern.compile(">\\s*([^<]*?)\\s*<");

    private final PrimaryConfig config;
    private final io.amirror.libvirt.LibvirtSession libvirt;
    private final DomainCapture capture;
    private final Instant startedAt = Instant.now();
    private final Spool spool;
    private final Identity identity;
    private final ExecutorService encoders;
    private final ReplicationScheduler scheduler;
    private final AlertCommand alerts = new AlertCommand();
    private final ScheduledExecutorService watch = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "rpo-watch");
        t.setDaemon(true);
        return t;
    });
    private final Map<String, DomainStatus> statuses = new ConcurrentHashMap<>();
    private final Map<String, StandbyLink> links = new ConcurrentHashMap<>();
    /** A cycle and a verify of one domain never overlap: both read its chain and maps. */
    private final Map<String, Object> domainLocks = new ConcurrentHashMap<>();
    private volatile Map<String, Policy> policies = Map.of();
    /** Files refused at the last reload, and domains two policies claim at the last match. */
    private volatile List<ConfigError> refusedFiles = List.of();
    private volatile List<ConfigError> conflicts = List.of();

    public PrimaryService(PrimaryConfig config, io.amirror.libvirt.LibvirtSession libvirt, DomainCapture capture) throws IOException,
            SchedulerException {
        this.config = config;
        this.libvirt = libvirt;
        this.capture = capture;
        Files.createDirectories(config.stateDir());
        this.identity = Identity.loadOrCreate(config.stateDir(), hostName());
        this.spool = new Spool(config.stateDir().resolve("spool"), config.spoolLimitBytes());
        spool.sweepPartials();
        this.encoders = Executors.newFixedThreadPool(config.threads(), r -> {
            Thread t = new Thread(r, "encoder");
            t.setDaemon(true);
            return t;
        });
        this.scheduler = new ReplicationScheduler(this, config.concurrentCycles(), config.quartz(), 5_000,
                ZoneId.systemDefault());
    }

    /** Loads the policies, schedules the domains, and starts the RPO watch. */
    public void start() throws Exception {
        reload();
        scheduler.start();
        watch.scheduleWithFixedDelay(this::checkRpo, 5, 5, TimeUnit.SECONDS);
        // domains defined later and matched by a glob or a tag are picked up within a minute
        watch.scheduleWithFixedDelay(() -> {
            try {
                rematch();
            } catch (Exception e) {
                log.warn("re-matching domains failed: {}", e.toString());
            }
        }, 60, 60, TimeUnit.SECONDS);
        log.info("primary started as {}: {} policies, {} domains", identity.fingerprint(), policies.size(),
                statuses.size());
    }

    public Identity identity() {
        return identity;
    }

    public PrimaryConfig config() {
        return config;
    }

    /** Rereads the policy directory; returns the errors of the files that were refused. */
    public synchronized List<ConfigError> reload() throws IOException, SchedulerException {
        PolicyLoader.Loaded loaded = PolicyLoader.loadDir(config.policyDir());
        Map<String, Policy> byName = new LinkedHashMap<>();
        loaded.policies().forEach(p -> byName.put(p.name(), p));
        this.policies = byName;
        this.refusedFiles = loaded.errors();
        rematch();
        for (ConfigError e : loaded.errors()) {
            log.warn("policy refused: {}", e);
        }
        return loaded.errors();
    }

    private synchronized void rematch() throws SchedulerException, IOException {
        // a bridge policy's guest is replicated by 'amirror bridge sync', not by this daemon
        PolicyMatcher.Result m = PolicyMatcher.match(policies.values().stream().filter(p -> !p.bridged()).toList(),
                definedDomains());
        scheduler.apply(m.assignments());
        Set<String> keep = new HashSet<>();
        for (ReplicationScheduler.Assignment a : m.assignments()) {
            keep.add(a.domain());
            Policy p = a.policy();
            statuses.computeIfAbsent(a.domain(), this::loadStatus)
                    .assign(p.name(), p.standby().address(), p.rpo().target(), p.alertAfter());
            StandbyLink link = links.get(p.standby().key());
            if (link == null) {
                links.put(p.standby().key(), new StandbyLink(identity, p.standby(), p.bandwidth()));
            } else {
                link.rate(p.bandwidth());
            }
        }
        statuses.keySet().removeIf(d -> !keep.contains(d));
        this.conflicts = m.conflicts();
    }

    /** A status for a domain just assigned, with what the state directory knows of its last point. */
    private DomainStatus loadStatus(String name) {
        DomainStatus s = new DomainStatus(name);
        try {
            Domain d = libvirt.call(c -> c.domainLookupByName(name));
            DomainReplication r = replication(d);
            int base = r.chain().base();
            s.known(r.uuid().toString(), base == 0 ? null : base, r.lastAcknowledgedCut().orElse(null));
            r.lastVerified().ifPresent(v -> s.verified(Instant.ofEpochMilli(v.at()), v.summary()));
        } catch (LibvirtException | IOException | RuntimeException e) {
            log.debug("no earlier state for {}: {}", name, e.getMessage());
        }
        return s;
    }

    private List<PolicyMatcher.DefinedDomain> definedDomains() {
        List<PolicyMatcher.DefinedDomain> out = new ArrayList<>();
        try {
            for (Domain d : libvirt.call(c -> c.listAllDomains(0))) {
                out.add(new PolicyMatcher.DefinedDomain(d.getName(), tag(d)));
            }
        } catch (LibvirtException e) {
            log.warn("cannot list domains: {}", e.getMessage());
        }
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

    private DomainReplication replication(Domain d) {
        return new DomainReplication(d, config.stateDir(), capture, spool, encoders, config.threads());
    }

    @Override
    public void runCycle(String domainName, String policyName) throws Exception {
        DomainStatus status = statuses.get(domainName);
        Policy policy = policies.get(policyName);
        if (status == null || policy == null) {
            return; // unassigned by a reload since the trigger fired
        }
        Throwable failure = null;
        status.cycleStarted();
        try {
            synchronized (domainLock(domainName)) {
                cycle(domainName, policy, status);
                verifyIfDue(domainName, policy, status);
            }
        } catch (Exception | Error e) {
            failure = e;
            throw e;
        } finally {
            status.cycleEnded(failure);
        }
    }

    private void cycle(String domainName, Policy policy, DomainStatus status) throws Exception {
        Domain domain;
        try {
            domain = libvirt.call(c -> c.domainLookupByName(domainName));
        } catch (LibvirtException e) {
            if (e.getError() != null && e.getError().getCode() == org.libvirt.Error.ErrorNumber.VIR_ERR_NO_DOMAIN) {
                throw new IllegalStateException("domain '" + domainName + "' is not defined in libvirt", e);
            }
            throw e;
        }
        DomainReplication r = replication(domain);
        status.uuid(r.uuid().toString());
        StandbyLink link = links.get(policy.standby().key());
        Optional<DomainReplication.Pending> left = r.pending();
        if (left.isPresent()) {
            log.info("{}: shipping point {} left pending by an earlier cycle", domainName, left.get().newPoint());
            ship(r, left.get(), link, status);
            describe(r, left.get().newPoint(), policy, link);
        }
        status.phase(DomainStatus.Phase.CAPTURING);
        boolean full = r.chain().base() == 0;
        if (full) {
            r.seedFromStandby(link.sender()).forEach((disk, bytes) -> log.info("{} {}: the standby holds a seed; its "
                    + "block hashes ({} bytes on the link) make the first point send only what differs", domainName,
                    disk, bytes));
        }
        XzBlockCodec.Preset preset = policy.compression() != null ? policy.compression() : link.compression().next(full, link.bytesPerSecondNow());
        long t0 = System.nanoTime();
        DomainReplication.Captured c;
        String broken = null;
        try {
            c = r.capture(preset, policy.quiesce(), UnaryOperator.identity());
        } catch (io.amirror.libvirt.ChainBrokenException e) {
            // self-heal: a new chain, whose first point is read in full and refined against the replica's
            // hashes, so the repair sends what really differs, never the whole disk
            broken = e.getMessage();
            log.warn("{}: the checkpoint chain broke ({}); starting a new chain and repairing the replica by hashes",
                    domainName, broken);
            r.resetChain();
            c = r.capture(preset, policy.quiesce(), UnaryOperator.identity());
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        long stored = c.deltas().stream().mapToLong(d -> d.entry().size()).sum();
        if (policy.compression() == null) {
            link.compression().observe(preset, stored, seconds, link.bytesPerSecondNow());
        }
        log.info("{}: point {} captured ({} bytes read, {} bytes of delta at {}, {}, {} s)", domainName,
                c.capture().newPoint(), c.capture().dataBytes(), stored, preset, c.capture().consistency(),
                String.format("%.1f", seconds));
        if (policy.quiesce() && c.capture().consistency() == io.amirror.capture.CaptureResult.Consistency.CRASH) {
            log.warn("{}: the policy asks for quiesced points but the guest agent did not answer; point {} is "
                    + "crash-consistent", domainName, c.capture().newPoint());
        }
        ship(r, c.pending(), link, status);
        if (broken != null) {
            String what = "chain broken (" + broken + "); new chain from point " + c.capture().newPoint() + ": "
                    + c.capture().dataBytes() + " bytes read, " + stored + " bytes of delta sent to repair the replica";
            status.repaired(what);
            log.info("{}: repaired: {}", domainName, what);
        }
        describe(r, c.capture().newPoint(), policy, link);
    }

    /** Sends the standby the replica domain's definition when it changed, once the point is acknowledged. */
    private void describe(DomainReplication r, int point, Policy policy, StandbyLink link) throws IOException {
        Optional<io.amirror.standby.ReplicaManifest> m = r.manifestToSend(point, policy);
        if (m.isPresent()) {
            byte[] xz = m.get().toXz();
            link.sender().describe(r.uuid(), point, xz);
            r.described(m.get());
            log.info("{}: standby has the replica definition as of point {} ({} bytes)", m.get().name(), point, xz.length);
        }
    }

    private void ship(DomainReplication r, DomainReplication.Pending p, StandbyLink link, DomainStatus status)
            throws IOException {
        List<Spool.Entry> entries = r.entries(p);
        long total = entries.stream().mapToLong(Spool.Entry::size).sum();
        status.shipping(total);
        long before = 0;
        for (Spool.Entry e : entries) {
            final long base = before;
            boolean[] first = {true};
            spool.markShipping(e);
            try {
                Sender.Shipped s;
                try {
                    s = link.sender().ship(e, held -> {
                        if (first[0]) { // the standby's RESUME: what it had already
                            first[0] = false;
                            status.resumed(held);
                        }
                        status.shipped(base + held);
                    }, !r.awaitingSeedImport());
                } catch (Sender.StaleSourcesException stale) {
                    r.sourcesStale(p, e.disk(), stale.stale().ranges());
                    status.repaired("the standby's replica of " + e.disk() + " drifted under " + stale.stale().ranges().size()
                            + " COPY source range(s); point " + p.newPoint() + " is captured again with them repaired");
                    throw stale;
                }
                status.sent(s.sentBytes());
                log.info("{} {}: standby at point {} ({} bytes sent, resumed at {})", e.domain(), e.disk(),
                        s.ack().point(), s.sentBytes(), s.resumedAt());
            } finally {
                spool.unmarkShipping(e);
            }
            before += e.size();
        }
        r.acknowledged(p);
        status.acknowledged(p.newPoint(), Instant.ofEpochMilli(p.cutAt()), Instant.now(), p.consistency(), total);
    }

    /**
     * Reacts to a domain event from the libvirt hook. A domain no policy covers is ignored.
     * <ul>
     *   <li>{@code started}: without a chain (no point on the standby yet) a first, full cycle runs now;</li>
     *   <li>{@code release}: the guest is shut off; a final cycle captures its disks, so a planned
     *       shutdown loses nothing ({@code stopped} comes first, while libvirt still holds the domain);</li>
     *   <li>{@code migrate}, {@code restore}, {@code reconnect}: the chain may not be what it was;
     *       a cycle now checks it (and starts a new one if it broke).</li>
     * </ul>
     */
    public void onHookEvent(io.amirror.control.HookEvent e) {
        DomainStatus s = statuses.get(e.domain());
        if (s == null) {
            log.debug("hook event {} of '{}': no policy covers it", e.operation(), e.domain());
            return;
        }
        String why;
        switch (e.operation()) {
            case "started" -> {
                try {
                    if (replication(libvirt.call(c -> c.domainLookupByName(e.domain()))).chain().base() > 0) {
                        log.info("{} started; its chain is in place, next cycle on schedule", e.domain());
                        return;
                    }
                } catch (LibvirtException | RuntimeException gone) {
                    log.warn("{} started but cannot be read: {}", e.domain(), gone.getMessage());
                    return;
                }
                why = "started without a point on the standby: first full cycle";
            }
            case "release" -> why = "shut off: final cycle of its disks";
            case "migrate", "restore", "reconnect" -> why = e.operation() + ": checking its chain";
            default -> {
                log.info("hook event {} {} of {}", e.operation(), e.subOperation(), e.domain());
                return;
            }
        }
        try {
            requestSync(e.domain());
            log.info("{}: {}", e.domain(), why);
        } catch (SchedulerException x) {
            log.error("{}: {} could not be scheduled: {}", e.domain(), why, x.getMessage());
        }
    }

    private Object domainLock(String domain) {
        return domainLocks.computeIfAbsent(domain, k -> new Object());
    }

    /**
     * Compares the standby's replica of every disk with the primary's record of it (the hash map
     * at the last acknowledged point), through {@link io.amirror.delta.GroupDigests}: only 16 bytes
     * per group of blocks cross the link, and no data. Waits for a running cycle of the domain.
     */
    public VerifyReport verify(String domainName) throws Exception {
        DomainStatus status = statuses.get(domainName);
        Policy policy = status == null ? null : policies.get(status.policy());
        if (policy == null) {
            throw new IllegalArgumentException("no policy covers domain '" + domainName + "'");
        }
        synchronized (domainLock(domainName)) {
            return verifyLocked(domainName, replication(libvirt.call(c -> c.domainLookupByName(domainName))), policy,
                    status);
        }
    }

    /**
     * After a successful cycle: a verify if the policy schedules them and one is due. Its failure is
     * reported in status, not as the cycle's: the point was shipped and acknowledged.
     */
    private void verifyIfDue(String domainName, Policy policy, DomainStatus status) {
        if (policy.verifyEvery() == null) {
            return;
        }
        try {
            DomainReplication r = replication(libvirt.call(c -> c.domainLookupByName(domainName)));
            Optional<DomainReplication.Verified> last = r.lastVerified();
            if (last.isPresent() && Instant.ofEpochMilli(last.get().at()).plus(policy.verifyEvery()).isAfter(Instant.now())) {
                return;
            }
            verifyLocked(domainName, r, policy, status);
        } catch (Exception e) {
            log.warn("{}: scheduled verify failed: {}", domainName, e.getMessage());
            status.verified(Instant.now(), "failed: " + e.getMessage());
        }
    }

    private VerifyReport verifyLocked(String domainName, DomainReplication r, Policy policy, DomainStatus status)
            throws Exception {
        long t0 = System.nanoTime();
        DomainReplication.Pending last = r.lastAcknowledged().orElseThrow(() -> new IllegalStateException(
                domainName + " has no point on the standby yet: nothing to verify"));
        List<VerifyReport.Disk> disks = new ArrayList<>();
        for (String disk : last.disks()) {
            try (io.amirror.delta.ReplicaHashMap map = io.amirror.delta.ReplicaHashMap.openExisting(
                    r.mapDirectory().resolve(disk + ".map"))) {
                if (map.point() != last.newPoint()) {
                    throw new IllegalStateException("the hash map of " + disk + " is at point " + map.point()
                            + ", the standby acknowledged " + last.newPoint() + ": let a cycle finish first");
                }
                int group = io.amirror.delta.GroupDigests.groupBlocks(map.virtualSize());
                byte[][] mine = io.amirror.delta.GroupDigests.ofMap(map, group);
                status.verifying(map.virtualSize());
                byte[] theirs;
                try {
                    theirs = links.get(policy.standby().key()).sender().verify(r.uuid(), disk, last.newPoint(), group,
                            status::shipped);
                } finally {
                    status.phase(DomainStatus.Phase.IDLE);
                }
                if (theirs.length != mine.length * io.amirror.delta.GroupDigests.LENGTH) {
                    throw new IllegalStateException("the standby summarised " + theirs.length / 16 + " groups of "
                            + disk + ", the primary has " + mine.length + ": the replica has another size");
                }
                var cmp = io.amirror.delta.GroupDigests.compare(mine, theirs, group, map.virtualSize());
                List<long[]> mismatches = cmp.mismatches();
                if (!mismatches.isEmpty()) {
                    r.scheduleRepair(disk, mismatches);
                }
                disks.add(new VerifyReport.Disk(disk, (long) group * io.amirror.delta.DeltaFormat.BLOCK_SIZE,
                        mine.length, cmp.matching(), cmp.unknown(), mismatches, theirs.length));
            }
        }
        VerifyReport report = new VerifyReport(domainName, last.newPoint(), disks, (System.nanoTime() - t0) / 1e9);
        String summary = report.identical() ? "identical at point " + last.newPoint()
                : "DIFFERS at point " + last.newPoint() + ": " + disks.stream().filter(x -> !x.mismatches().isEmpty())
                .map(x -> x.disk() + " " + x.mismatches().size() + " of " + x.groups() + " groups").toList()
                + "; the next cycle sends them again";
        Instant now = Instant.now();
        r.verified(new DomainReplication.Verified(now.toEpochMilli(), last.newPoint(), report.identical(), summary));
        status.verified(now, summary);
        if (report.identical()) {
            log.info("{}: verify at point {}: the replica is identical", domainName, last.newPoint());
        } else {
            log.warn("{}: verify at point {}: the replica differs: {}; the next cycle sends those groups again",
                    domainName, last.newPoint(), disks.stream().map(d -> d.disk() + " " + d.mismatches().size()
                            + " groups differ, " + d.unknown() + " unknown").toList());
        }
        return report;
    }

    /** Runs a cycle of {@code domain} now; empty when no policy covers it. */
    public Optional<Instant> requestSync(String domain) throws SchedulerException {
        DomainStatus s = statuses.get(domain);
        Instant now = Instant.now(); // before the trigger: the cycle may start at once, and must count as this request's
        if (s == null || !scheduler.runNow(domain)) {
            return Optional.empty();
        }
        s.syncRequested(now);
        return Optional.of(now);
    }

    private void checkRpo() {
        Instant now = Instant.now();
        for (DomainStatus s : statuses.values()) {
            if (!s.checkRpoMissedTransition(now, startedAt)) {
                continue;
            }
            Policy p = policies.get(s.policy());
            Duration age = s.rpoNow(now);
            String msg = "RPO missed for " + s.domain() + ": newest point on the standby is "
                    + (age == null ? "missing" : age.toSeconds() + " s old") + ", alert threshold "
                    + (p == null ? "?" : p.alertAfter().toSeconds() + " s");
            log.warn(msg);
            if (p != null && !p.alertCommand().isEmpty()) {
                Map<String, String> env = new HashMap<>();
                env.put("AMIRROR_EVENT", "rpo-missed");
                env.put("AMIRROR_DOMAIN", s.domain());
                env.put("AMIRROR_POLICY", p.name());
                env.put("AMIRROR_MESSAGE", msg);
                alerts.fire(p.alertCommand(), env);
            }
        }
    }

    public StatusReport status() throws SchedulerException {
        Instant now = Instant.now();
        List<DomainStatus.View> views = new ArrayList<>();
        for (DomainStatus s : statuses.values()) {
            views.add(s.view(now, scheduler.nextRun(s.domain()).orElse(null)));
        }
        views.sort(java.util.Comparator.comparing(DomainStatus.View::domain));
        return new StatusReport(hostName(), version(), startedAt.toString(), now.toString(),
                List.copyOf(policies.keySet()), Stream.concat(refusedFiles.stream(), conflicts.stream()).toList(), views);
    }

    public static String version() {
        String v = PrimaryService.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }

    static String hostName() {
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "localhost";
        }
    }

    /** Stops scheduling; cycles in progress finish first (their transfers resume after a restart anyway). */
    @Override
    public void close() throws Exception {
        watch.shutdownNow();
        scheduler.shutdown(true);
        alerts.shutdown();
        encoders.shutdownNow();
    }
}
