package io.amirror.standby;

import io.amirror.config.StandbyConfig;
import io.amirror.image.DiskImage;
import io.amirror.state.StateDirLock;
import io.amirror.state.StateModes;
import io.amirror.transport.Identity;
import io.amirror.transport.Receiver;
import io.amirror.transport.Tls;
import io.amirror.util.PrivateFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The standby daemon ({@code amirror standby}): built from the standby's configuration, it listens
 * for its pinned primaries and keeps their replicas.
 *
 * <p>What it does, per primary connection ({@link StandbyConnection}), for the peer's own replicas
 * only ({@link Tenancy}): an offered delta is received into its partial file and resumed at the
 * byte after a cut, verified whole and staged; once every disk of its point is staged the point
 * is applied to all of them as one ({@link PointApply}) and a recovery point kept as the standby's
 * retention (raised, never lowered, by the primary's) says ({@link ReplicaDisk}); a manifest is
 * stored and the replica domain built from an allowlist and defined, shut off, in the standby's
 * libvirt ({@link ReplicaDefiner}); seed and verify requests are answered from the replicas. A replica
 * started as the domain ({@link Promotion}, through the hook or {@code amirror failover}) receives
 * nothing more. The network side, TLS with pinned peers and the protocol's framing, is
 * {@link Receiver}'s; everything it decodes comes here.
 *
 * <p>The caller's duties: {@link #start} once, {@link #close} at the end. Everything the standby
 * keeps is under the configured state directory ({@link StandbyLayout}), which one standby at a
 * time holds ({@link StateDirLock}, {@code standby.lock}); the libvirt hook and the standby's
 * commands work on the same files, under the same per-domain locks, while the service runs.
 */
public final class StandbyService implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(StandbyService.class);

    private final StandbyConfig config;
    private final StandbyLayout layout;
    private final Identity identity;
    private final Receiver receiver;
    private final StateDirLock stateLock;
    private final StandbyMetrics metrics;
    private int metricsPort;
    private StartedReplicas started;
    private final ScheduledExecutorService reconciler = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "standby-reconcile-definitions");
        t.setDaemon(true);
        return t;
    });

    private StandbyService(StandbyConfig config, StandbyLayout layout, Identity identity, Receiver receiver,
                           StateDirLock stateLock, StandbyMetrics metrics) {
        this.config = config;
        this.layout = layout;
        this.identity = identity;
        this.receiver = receiver;
        this.stateLock = stateLock;
        this.metrics = metrics;
    }

    /** Starts the standby of {@code config}: its identity from the state directory, the host's qemu tools. */
    public static StandbyService start(StandbyConfig config) throws IOException {
        return start(config, Identity.load(config.stateDir()), DiskImage.Tools.installed());
    }

    /**
     * Starts the standby of {@code config} as {@code identity}, applying with {@code tools}. It takes
     * the state directory first ({@link StateDirLock}): a second standby on it is refused with
     * {@link StateDirLock.InUse} before anything there is read or written. The lock is held until
     * {@link #close}.
     */
    public static StandbyService start(StandbyConfig config, Identity identity, DiskImage.Tools tools) throws IOException {
        StateDirLock lock = StateDirLock.acquire(config.stateDir(), StateDirLock.Daemon.STANDBY);
        try {
            StandbyLayout layout = StandbyLayout.of(config.stateDir());
            StateModes.secure(layout.stateDir());
            if (config.defineReplicas()) {
                PrivateFiles.closedToQemu(layout.stateDir()).ifPresent(closed -> log.warn("QEMU (user {}) may not pass "
                        + "through {} to the replicas under {}: replica domains would not start; let it through (chmod o+x, "
                        + "or 0710 with group {})", PrivateFiles.QEMU_USER, closed, layout.stateDir(), PrivateFiles.QEMU_USER));
            }
            checkState(layout, tools);
            Replicas replicas = new Replicas(layout.replicas(), tools, new ReplicaDisk.Retention(config.keep(),
                    config.keepAge(), Duration.ofDays(config.immutableDays())), new Tenancy(config.tenants()),
                    config.maxDiskBytes());
            Optional<ReplicaDefiner> libvirt = definer(config, layout);
            Consumer<ReplicaDomain> definer = libvirt.isPresent() ? libvirt.get()::described : d -> {
            };
            SwitchoverAnswer.Settings switchovers = config.switchoverAllowed() && libvirt.isPresent()
                    ? new SwitchoverAnswer.Settings(true, config.libvirtUri(), libvirt.get().options(), layout.stateDir())
                    : SwitchoverAnswer.Settings.REFUSED;
            StandbyMetrics metrics = new StandbyMetrics(layout.replicas(), tools);
            Receiver receiver = new Receiver(Tls.listen(Tls.context(identity, Set.copyOf(config.trustedPeers()),
                    config.ca()), config.listen()),
                    peer -> new StandbyConnection(replicas, peer, definer, switchovers, metrics));
            metrics.connections(receiver::stats);
            StandbyService s = new StandbyService(config, layout, identity, receiver.start(), lock, metrics);
            if (config.metricsListen() != null) {
                try {
                    s.metricsPort = metrics.serve(config.metricsListen());
                } catch (IOException e) {
                    receiver.close();
                    throw new IOException("cannot serve the standby's metrics on " + config.metricsListen() + ": "
                            + e.getMessage(), e);
                }
            }
            libvirt.ifPresent(d -> s.reconcileEvery(d, replicas));
            libvirt.ifPresent(d -> s.checkStartedEvery(new StartedReplicas(config.libvirtUri()), replicas));
            return s;
        } catch (IOException | RuntimeException | Error e) {
            lock.close();
            throw e;
        }
    }

    /**
     * Reads every replica's state files once, so one this amirror cannot read (of a newer format,
     * or damaged) is named in the log at the start, not first at its primary's next point. Such a
     * replica is refused request by request, with the same message; the others are served.
     */
    private static void checkState(StandbyLayout layout, DiskImage.Tools tools) throws IOException {
        for (ReplicaDomain d : ReplicaDomain.all(layout.replicas(), tools)) {
            try {
                d.manifest();
                d.definedName();
                d.failoverPoint();
                d.promoted();
                d.starting();
                for (String disk : d.diskNames()) {
                    d.disk(disk, ReplicaDisk.Retention.count(1)).state();
                }
            } catch (IOException e) { // StateFormatException mostly; a damaged manifest too
                log.error("the replica of {} cannot be served by this amirror: {}", d.uuid(), e.getMessage());
            }
        }
    }

    /** Who defines replica domains once a manifest is stored: libvirt's definer, or nobody. */
    private static Optional<ReplicaDefiner> definer(StandbyConfig config, StandbyLayout layout) {
        if (!config.defineReplicas()) {
            return Optional.empty();
        }
        return Optional.of(new ReplicaDefiner(config.libvirtUri(), new ReplicaDefinition.Options(
                config.replicaSuffix(), config.socketDir() != null ? config.socketDir() : layout.sockets(),
                layout.stateDir(), ReplicaDefinition.Allowlist.of(config.replicaLimits()))));
    }

    /** How often the standby brings the replicas' definitions in line with libvirt ({@link ReplicaDefiner#reconcile}). */
    public static final Duration RECONCILE_EVERY = Duration.ofSeconds(
            Long.getLong("amirror.standby.reconcileSeconds", 60));

    /** Reconciles the definitions now (in the background: libvirtd may be down) and every {@link #RECONCILE_EVERY}. */
    private void reconcileEvery(ReplicaDefiner definer, Replicas replicas) {
        reconciler.scheduleWithFixedDelay(() -> {
            try {
                int n = definer.reconcile(replicas.all());
                if (n > 0) {
                    log.info("{} replica domain(s) defined again in libvirt", n);
                }
            } catch (IOException | RuntimeException e) {
                log.error("reconciling the replicas' definitions failed: {}", e.getMessage());
            }
        }, 0, RECONCILE_EVERY.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** How often the daemon looks for replicas the hook started, to check that their guest came up. */
    static final Duration STARTED_SCAN_EVERY = Duration.ofSeconds(5);

    private void checkStartedEvery(StartedReplicas started, Replicas replicas) {
        this.started = started;
        reconciler.scheduleWithFixedDelay(() -> {
            try {
                started.scan(replicas.all());
            } catch (IOException | RuntimeException e) {
                log.error("looking for started replicas failed: {}", e.getMessage());
            }
        }, STARTED_SCAN_EVERY.toMillis(), STARTED_SCAN_EVERY.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The port primaries connect to (the configured one, or the one chosen for port 0). */
    public int port() {
        return receiver.port();
    }

    /** The standby's metrics, for a scrape without the HTTP server. */
    public StandbyMetrics metrics() {
        return metrics;
    }

    /** The port {@code /metrics} is served on (the chosen one for port 0); 0 when not served. */
    public int metricsPort() {
        return metricsPort;
    }

    /** The fingerprint primaries pin for this standby. */
    public String fingerprint() {
        return identity.fingerprint();
    }

    public StandbyLayout layout() {
        return layout;
    }

    /** One line for the log and the console: where it listens, as whom, with what settings. */
    public String describe() {
        return "standby listening on " + config.listenText() + " as " + identity.fingerprint() + " ("
                + config.describe() + ")";
    }

    /**
     * Stops listening; connections in progress are cut, and what they received stays for a resume.
     * Then the state directory's lock is released.
     */
    @Override
    public void close() throws IOException {
        reconciler.shutdownNow();
        metrics.close();
        if (started != null) {
            started.close();
        }
        try {
            receiver.close();
        } finally {
            stateLock.close();
        }
    }
}
