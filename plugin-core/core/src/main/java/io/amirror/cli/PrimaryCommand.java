package io.amirror.cli;

import io.amirror.capture.DomainCapture;
import io.amirror.config.PrimaryConfig;
import io.amirror.control.ControlServer;
import io.amirror.primary.PrimaryService;
import io.amirror.util.HostPort;
import io.amirror.control.HookEventQueue;
import io.amirror.image.DiskImage;
import io.amirror.libvirt.LibvirtSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * {@code amirror primary}: the daemon of the primary host. Runs until SIGTERM or SIGINT; SIGHUP,
 * or any change in the policy directory, reloads the policies.
 */
@Command(name = "primary", mixinStandardHelpOptions = true, footer = ExitCodes.HELP,
        description = "Run the primary daemon: replicate the domains the policies cover, on their schedules, and "
                + "serve the control API for status, sync and the hooks.")
final class PrimaryCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(PrimaryCommand.class);
    /** How long a stop (SIGTERM) waits for running cycles; systemd kills after 90 s. */
    static final Duration STOP_WAIT = Duration.ofSeconds(Long.getLong("amirror.stopWaitSeconds", 75));

    @Mixin
    PrimarySettings settings;
    @Option(names = "--policies", description = "Policy directory, overriding the configuration.")
    Path policies;
    @Option(names = "--control", paramLabel = "HOST:PORT", description = "Control API address (loopback), overriding "
            + "the configuration; port 0 picks a free one.")
    String control;

    @Override
    public Integer call() throws Exception {
        PrimaryConfig cfg = settings.config();
        if (policies != null) {
            cfg = cfg.withPolicyDir(policies);
        }
        if (control != null) {
            cfg = cfg.withControlListen(HostPort.parse(control));
        }
        DiskImage.Tools tools = DiskImage.Tools.installed();
        LibvirtSession libvirt = new LibvirtSession(cfg.libvirtUri());
        DomainCapture capture = new DomainCapture(new DomainCapture.Options(tools.qemuNbd(), tools.qemuImg(), cfg.scratchDir(),
                cfg.timeouts().disk()));
        CountDownLatch stop = new CountDownLatch(1);
        CountDownLatch stopped = new CountDownLatch(1);
        try (PrimaryService service = new PrimaryService(cfg, libvirt, capture)) {
            service.start();
            try (ControlServer api = new ControlServer(service, cfg.controlListen(), cfg.stateDir(),
                    ControlServer.Options.DEFAULT.withMetricsToken(cfg.metricsToken()));
                 HookEventQueue events = new HookEventQueue(cfg.stateDir(),
                         e -> service.onHookEvent(e.operation(), e.subOperation(), e.domain())).start();
                 SwitchoverRoles wayBack = SwitchoverRoles.ofPrimary(cfg.stateDir())) {
                onSignal("HUP", () -> reload(service, "SIGHUP"));
                Thread watcher = watchPolicies(cfg.policyDir(), service);
                // SIGTERM: the JVM halts once this hook returns, so it waits for the main thread's
                // close (running cycles end first), within a bound below systemd's 90 s stop timeout
                Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                    stop.countDown();
                    try {
                        if (!stopped.await(STOP_WAIT.toSeconds(), TimeUnit.SECONDS)) {
                            log.warn("exiting after {} s with cycles still running: {}", STOP_WAIT.toSeconds(),
                                    service.cyclesInFlight());
                        }
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }, "amirror-stop"));
                System.out.println("primary running as " + service.identity().fingerprint() + "; control API on "
                        + api.endpoint().url());
                stop.await();
                watcher.interrupt();
                log.info("stopping: {}", service.cyclesInFlight().isEmpty() ? "no cycle running"
                        : "running cycles end first (at most " + STOP_WAIT.toSeconds() + " s)");
            }
        } finally {
            try {
                libvirt.close();
            } finally {
                log.info("stopped");
                stopped.countDown(); // whatever close threw: a SIGTERM's hook must not wait its bound out for nothing
            }
        }
        return ExitCodes.OK;
    }

    private static void reload(PrimaryService service, String why) {
        try {
            int refused = service.reload().size();
            log.info("policies reloaded ({}){}", why, refused == 0 ? "" : "; " + refused + " error(s), see above");
        } catch (Exception e) {
            log.error("reload ({}) failed: {}", why, e.toString());
        }
    }

    @SuppressWarnings("restriction")
    private static void onSignal(String name, Runnable action) {
        try {
            sun.misc.Signal.handle(new sun.misc.Signal(name), s -> action.run());
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            log.warn("cannot handle SIG{}: {}; reload through the control API instead", name, e.getMessage());
        }
    }

    /** Reloads when a file of the policy directory changes; bursts of changes (an editor's save) reload once. */
    private static Thread watchPolicies(Path dir, PrimaryService service) {
        Thread t = new Thread(() -> {
            try (WatchService ws = FileSystems.getDefault().newWatchService()) {
                dir.register(ws, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_MODIFY,
                        StandardWatchEventKinds.ENTRY_DELETE);
                while (!Thread.currentThread().isInterrupted()) {
                    WatchKey k = ws.take();
                    Thread.sleep(500);
                    k.pollEvents();
                    k.reset();
                    WatchKey more;
                    while ((more = ws.poll(200, TimeUnit.MILLISECONDS)) != null) {
                        more.pollEvents();
                        more.reset();
                    }
                    reload(service, "policy directory changed");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (Exception e) {
                log.warn("not watching {} for changes: {}; send SIGHUP after editing policies", dir, e.toString());
            }
        }, "policy-watch");
        t.setDaemon(true);
        t.start();
        return t;
    }
}
