package io.amirror.cli;

import io.amirror.capture.DomainCapture;
import io.amirror.config.PrimaryConfig;
import io.amirror.config.StandbyConfig;
import io.amirror.control.ControlServer;
import io.amirror.image.DiskImage;
import io.amirror.libvirt.LibvirtSession;
import io.amirror.primary.PrimaryService;
import io.amirror.standby.StandbyService;
import io.amirror.state.SwitchoverLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The role a switchover hands to a daemon for the way back ({@link SwitchoverLayout}): a primary
 * daemon runs the back standby once {@code STATE/back/standby.json} is there, and a standby daemon
 * runs the reverse primary once {@code STATE/reverse/policies.d} holds a policy (and rereads the
 * policies when that directory changes). Each hosted daemon has roles of its own in its own state
 * directory, so the way back's way back nests one level deeper.
 *
 * <p>The files are looked for every {@link #POLL} and at the start, so a switchover's files are
 * taken within seconds, and after a restart of the daemon at once. A hosted daemon that fails to
 * start is logged and tried again at the next look. {@link #close} stops what was started.
 */
final class SwitchoverRoles implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SwitchoverRoles.class);
    static final long POLL = 2_000;

    private final String what;
    private final Starter starter;
    private final ScheduledExecutorService poll;
    private Hosted hosted;
    private String lastFailure;
    private boolean closed;

    /** A daemon this one runs for the way back, with what it reloads on a change of its files. */
    private interface Hosted extends AutoCloseable {
        default void filesChanged() {
        }

        /** Whether its configuration changed so that it must start afresh. */
        default boolean stale() {
            return false;
        }
    }

    @FunctionalInterface
    private interface Starter {
        /** The hosted daemon, or null while its files are not there. */
        Hosted startIfConfigured() throws Exception;
    }

    private SwitchoverRoles(String what, Starter starter) {
        this.what = what;
        this.starter = starter;
        this.poll = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "switchover-roles");
            t.setDaemon(true);
            return t;
        });
        poll.scheduleWithFixedDelay(this::look, 0, POLL, TimeUnit.MILLISECONDS);
    }

    /** The primary daemon of {@code primaryState}: runs its back standby when a switchover set one up. */
    static SwitchoverRoles ofPrimary(Path primaryState) {
        SwitchoverLayout layout = SwitchoverLayout.of(primaryState);
        return new SwitchoverRoles("back standby " + layout.backState(), () -> {
            if (!Files.isRegularFile(layout.backConfig())) {
                return null;
            }
            long configured = Files.getLastModifiedTime(layout.backConfig()).toMillis();
            StandbyConfig cfg = StandbyConfig.load(layout.backConfig(), true, StandbyConfig.overrides());
            StandbyService standby = StandbyService.start(cfg);
            SwitchoverRoles nested = ofStandby(cfg);
            log.info("switchover: the way back runs: {}", standby.describe());
            return new Hosted() {
                @Override
                public boolean stale() {
                    try { // another switchover rewrote it (a new peer), or it was removed
                        return Files.getLastModifiedTime(layout.backConfig()).toMillis() != configured;
                    } catch (IOException gone) {
                        return true;
                    }
                }

                @Override
                public void close() throws Exception {
                    try (standby; nested) {
                        log.info("switchover: back standby {} stopping", layout.backState());
                    }
                }
            };
        });
    }

    /** The standby daemon of {@code cfg}: runs its reverse primary when a switchover set one up. */
    static SwitchoverRoles ofStandby(StandbyConfig cfg) {
        SwitchoverLayout layout = SwitchoverLayout.of(cfg.stateDir());
        return new SwitchoverRoles("reverse primary " + layout.reverseState(), () -> {
            List<Path> policies = policies(layout.reversePolicies());
            if (policies.isEmpty()) {
                return null;
            }
            PrimaryConfig pc = PrimaryConfig.defaults().withStateDir(layout.reverseState())
                    .withPolicyDir(layout.reversePolicies()).withLibvirtUri(cfg.libvirtUri())
                    .withControlListen(new InetSocketAddress("127.0.0.1", 0))
                    .withScratchDir(PrimaryConfig.defaults().scratchDir().resolve("reverse"));
            DiskImage.Tools tools = DiskImage.Tools.installed();
            LibvirtSession libvirt = new LibvirtSession(pc.libvirtUri());
            PrimaryService primary = null;
            ControlServer api;
            try {
                primary = new PrimaryService(pc, libvirt, new DomainCapture(new DomainCapture.Options(tools.qemuNbd(),
                        tools.qemuImg(), pc.scratchDir(), pc.timeouts().disk())));
                primary.start();
                api = new ControlServer(primary, pc.controlListen(), pc.stateDir());
            } catch (Exception | Error e) {
                try (libvirt) {
                    if (primary != null) {
                        primary.close(); // its state directory's lock, threads and scheduler: the next look retries
                    }
                }
                throw e;
            }
            PrimaryService started = primary;
            SwitchoverRoles nested = ofPrimary(layout.reverseState());
            log.info("switchover: the way back runs: primary of {} as {}, control API on {}", layout.reverseState(),
                    started.identity().fingerprint(), api.endpoint().url());
            List<String>[] seen = new List[] {names(policies)};
            return new Hosted() {
                @Override
                public void filesChanged() {
                    try {
                        List<String> now = names(policies(layout.reversePolicies()));
                        if (!now.equals(seen[0])) {
                            seen[0] = now;
                            started.reload();
                        }
                    } catch (Exception e) {
                        log.warn("switchover: rereading {} failed: {}", layout.reversePolicies(), e.toString());
                    }
                }

                @Override
                public void close() throws Exception {
                    try (libvirt; started; api; nested) {
                        log.info("switchover: reverse primary {} stopping", layout.reverseState());
                    }
                }
            };
        });
    }

    private static List<Path> policies(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".json")).sorted().toList();
        }
    }

    private static List<String> names(List<Path> files) {
        return files.stream().map(p -> {
            try {
                return p.getFileName() + "@" + Files.getLastModifiedTime(p).toMillis();
            } catch (IOException gone) {
                return p.getFileName().toString();
            }
        }).toList();
    }

    private synchronized void look() {
        if (closed) {
            return; // a look that waited for close() starts nothing after it
        }
        try {
            if (hosted != null && hosted.stale()) {
                log.info("switchover: the {} restarts with its new configuration", what);
                Hosted old = hosted;
                hosted = null;
                old.close();
            }
            if (hosted != null) {
                hosted.filesChanged();
                return;
            }
            hosted = starter.startIfConfigured();
            lastFailure = null;
        } catch (Exception | Error e) {
            String msg = e.toString();
            if (!msg.equals(lastFailure)) { // once per distinct failure, not every two seconds
                log.error("switchover: the {} does not start: {}", what, msg);
                lastFailure = msg;
            }
        }
    }

    @Override
    public synchronized void close() throws Exception {
        closed = true;
        poll.shutdownNow();
        if (hosted != null) {
            hosted.close();
            hosted = null;
        }
    }
}
