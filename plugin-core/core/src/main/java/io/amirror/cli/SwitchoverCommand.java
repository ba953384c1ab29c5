package io.amirror.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.amirror.config.ConfigException;
import io.amirror.config.Durations;
import io.amirror.config.PrimaryConfig;
import io.amirror.config.StandbyConfig;
import io.amirror.control.ControlClient;
import io.amirror.image.DiskImage;
import io.amirror.libvirt.DiskInfo;
import io.amirror.libvirt.DomainXmlReader;
import io.amirror.libvirt.ShutoffReason;
import io.amirror.primary.SwitchedAway;
import io.amirror.standby.ReplicaDisk;
import io.amirror.standby.ReplicaDomain;
import io.amirror.standby.SeedSource;
import io.amirror.standby.StandbyLayout;
import io.amirror.state.SwitchoverLayout;
import io.amirror.transport.Identity;
import io.amirror.transport.Sender;
import io.amirror.transport.Tls;
import io.amirror.transport.TokenBucket;
import io.amirror.transport.WireMessage.Switched;
import io.amirror.transport.WireMessage.Switchover;
import io.amirror.util.AtomicFiles;
import io.amirror.util.FileTrees;
import io.amirror.util.HostPort;
import io.amirror.util.PrivateFiles;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Callable;

/**
 * {@code amirror switchover DOMAIN}: the planned move of a domain to its standby, with no loss, and
 * the way back set up. In order, each step safe to repeat by running the command again:
 * <ol>
 *   <li>a dry run on the standby (it takes switchovers, owns the replica, has it defined), which
 *       also names the replica domain;</li>
 *   <li>the guest shut down (ACPI, or the admin's own shutdown awaited), and refused unless it shut
 *       itself down: a destroyed or crashed guest's disks are no planned move's;</li>
 *   <li>a final cycle through the daemon, whose point (SHUT_OFF) the standby acknowledges: it holds
 *       every byte the guest wrote;</li>
 *   <li>this primary stops replicating the domain ({@link SwitchedAway});</li>
 *   <li>the back standby prepared in {@code STATE/back}: the domain's own disks adopted as the seed
 *       of the replica domain (local copies: the way back then carries only what changes on the
 *       standby), this host's key, and a configuration the primary daemon runs
 *       ({@link SwitchoverRoles});</li>
 *   <li>SWITCHOVER: the standby promotes the replica at the final point, starts it, and replicates
 *       it back here (wire protocol, section Switchover).</li>
 * </ol>
 * A refusal at the last step from the standby's checks undoes steps 4 and 5, so the domain can be
 * started here again; any other failure there (no answer, a failure after the start) keeps step 4:
 * the domain may run on the standby, and starting it here too would fork it. The way back
 * is the same command on the standby with {@code --state STATE/reverse}.
 */
@Command(name = "switchover", mixinStandardHelpOptions = true, footer = ExitCodes.HELP,
        description = {"Move DOMAIN to its standby with no loss: shut it down, take and ship its final point, have "
                + "the standby start the replica at that point, and set up the way back (the standby replicates it "
                + "to a standby this daemon runs in STATE/back, seeded with the domain's own disks).",
                "The standby must allow it (\"switchover\": {\"allow\": true}, or amirror standby --allow-switchover). "
                        + "The way back: on the standby, amirror switchover NAME --state STANDBY-STATE/reverse."})
final class SwitchoverCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** How long the standby may take to promote and start the domain before it answers. */
    static final Duration START_WAIT = Duration.ofMinutes(5);

    @Mixin
    PrimarySettings settings;
    @Parameters(paramLabel = "DOMAIN")
    String domain;
    @Option(names = "--back-listen", paramLabel = "HOST:PORT", description = "Where the back standby listens for "
            + "the way back (default: ${DEFAULT-VALUE}).")
    String backListen = "0.0.0.0:10811";
    @Option(names = "--back-address", paramLabel = "HOST:PORT", description = "The address the standby reaches the back "
            + "standby at (default: the address this host connects to the standby from, with the --back-listen port).")
    String backAddress;
    @Option(names = "--back-interval", paramLabel = "DURATION", description = "How often the standby cuts a point of "
            + "the way back (default: the policy's RPO target).")
    String backInterval;
    @Option(names = "--back-config", paramLabel = "FILE", description = "A standby configuration whose replica "
            + "settings (replicas, retention, limits) the back standby takes (default: /etc/amirror/standby.json if "
            + "there is one).")
    Path backConfig;
    @Option(names = "--shutdown-timeout", paramLabel = "DURATION", description = "How long the guest may take to shut "
            + "down (default: ${DEFAULT-VALUE}).")
    String shutdownTimeout = "5m";
    @Option(names = "--await-shutdown", description = "Do not shut the guest down: wait for its own or the admin's "
            + "shutdown (within --shutdown-timeout).")
    boolean awaitShutdown;
    @Option(names = "--dry-run", description = "Check that the standby would take the domain over; change nothing.")
    boolean dryRun;

    @Override
    public Integer call() throws Exception {
        PrimaryConfig cfg = settings.config();
        Path state = cfg.stateDir();
        ControlClient control = ControlClient.forState(state);
        JsonNode st = SyncCommand.find(control.status().body(), domain);
        if (st == null) {
            throw new IllegalArgumentException("the primary daemon of " + state + " replicates no domain '" + domain
                    + "'; 'amirror status --state " + state + "' lists those it does");
        }
        UUID uuid = UUID.fromString(st.path("uuid").asText());
        String standby = st.path("standby").asText();
        String fingerprint = st.path("standbyFingerprint").asText();
        Duration interval = backInterval != null ? Durations.parse(backInterval)
                : Duration.ofSeconds(Math.max(10, st.path("rpoTargetSeconds").asLong(3600)));
        if (interval.compareTo(Duration.ofSeconds(10)) < 0
                || interval.toSeconds() > io.amirror.transport.WireConstants.MAX_BACK_INTERVAL_SECONDS) {
            throw new IllegalArgumentException("--back-interval must be from 10s to 7d, not " + Durations.format(interval));
        }
        Duration shutdownWait = Durations.parse(shutdownTimeout);
        InetSocketAddress listen = HostPort.parse(backListen);
        String back = backAddress != null ? backAddress : ":" + listen.getPort();
        HostPort.parse(back.startsWith(":") ? "localhost" + back : back);
        Sender sender = new Sender(Tls.context(Identity.load(state), Set.of(fingerprint), null), HostPort.parse(standby),
                new TokenBucket(() -> 1e12), Math.toIntExact(cfg.timeouts().link().toMillis()));
        int seconds = Math.toIntExact(interval.toSeconds());

        Switched plan = sender.switchover(new Switchover(uuid, Math.max(1, st.path("lastPoint").asInt(1)), true, back,
                seconds), START_WAIT);
        say("the standby " + standby + " takes " + domain + " over as " + plan.name() + " (" + plan.uuid() + ")");
        if (dryRun) {
            return ExitCodes.OK;
        }

        Connect libvirt = new Connect(cfg.libvirtUri());
        try {
            Domain dom = libvirt.domainLookupByUUIDString(uuid.toString());
            shutDown(dom, shutdownWait);
            List<DiskInfo> disks = DomainXmlReader.disks(dom.getXMLDesc(0)).stream().filter(DiskInfo::replicated).toList();

            // the final point: every byte the guest wrote before it shut down, held by the standby
            ControlClient.Reply r = control.sync(domain);
            if (r.code() != 202) {
                throw new IllegalStateException("the final cycle was not started: " + r.error());
            }
            JsonNode fin = SyncCommand.awaitCycle(control, domain, Instant.parse(r.body().path("requestedAt").asText()),
                    Instant.now().plus(Duration.ofHours(24)));
            if (fin == null || SyncCommand.failed(fin)) {
                throw new IllegalStateException("the final cycle of " + domain + " failed"
                        + (fin == null ? "" : ": " + fin.path("lastError").asText()) + "; nothing was switched over "
                        + "(start it again with virsh start, or run this again)");
            }
            // a cycle of the shut-off disks either cut a SHUT_OFF point or found nothing written since the
            // newest point (its dirty bitmaps are empty): either way the standby holds the disks as they are
            int point = fin.path("lastPoint").asInt();
            boolean cut = "SHUT_OFF".equals(fin.path("consistency").asText());
            say((cut ? "final point " + point + " of " + domain + " acknowledged by the standby ("
                    + Progress.bytes(fin.path("lastCycleDeltaBytes").asLong()) + " of delta)"
                    : "final point " + point + " of " + domain + ": nothing was written since it (0 B of delta)"));

            new SwitchedAway(domain, point, Instant.now().toString(), standby, plan.name(), plan.uuid().toString())
                    .write(state, uuid);
            control.reload(); // the daemon leaves the domain alone from now on: no point after the final one
            // from here on the hook refuses a start of the domain; one started meanwhile (an admin, autostart)
            // wrote after the final point, so it is not switched over
            if (dom.isActive() == 1 || !ShutoffReason.of(dom).clean()) {
                SwitchedAway.remove(state, uuid);
                control.reload();
                throw new IllegalStateException(domain + " was started again during its final cycle; nothing was "
                        + "switched over (shut it down and run this again)");
            }
            Path backConfigBefore = SwitchoverLayout.of(state).backConfig();
            byte[] configBefore = Files.exists(backConfigBefore) ? Files.readAllBytes(backConfigBefore) : null;
            try {
                prepareBackStandby(state, cfg, plan.uuid(), disks, listen, fingerprint);
                if (configBefore != null) {
                    Thread.sleep(2 * SwitchoverRoles.POLL + 500); // the daemon restarts a running back standby on it
                }
                awaitListening(listen, Duration.ofSeconds(60));
            } catch (Exception e) {
                undoBackConfig(backConfigBefore, configBefore);
                SwitchedAway.remove(state, uuid);
                control.reload();
                throw new IllegalStateException("the way back could not be prepared: " + e.getMessage() + "; nothing "
                        + "was switched over: " + domain + " stays here, shut off, at point " + point
                        + " (virsh start " + domain + " runs it again)", e);
            }
            Switched done;
            try {
                done = sender.switchover(new Switchover(uuid, point, false, back, seconds), START_WAIT);
            } catch (Sender.RefusedException e) {
                if (e.refusal().code() != io.amirror.transport.WireMessage.Refuse.NO_SWITCHOVER) {
                    // the standby may have started the domain before it failed: starting it here too would fork it
                    throw new IllegalStateException("the standby failed during the switchover of " + domain + ": "
                            + e.getMessage() + "; it may run there: look with 'amirror replicas' on the standby before "
                            + "anything else. This host leaves it alone until " + SwitchoverLayout.of(state)
                            .switchedAway(uuid) + " is removed", e);
                }
                undoBackConfig(backConfigBefore, configBefore);
                SwitchedAway.remove(state, uuid);
                control.reload();
                throw new IllegalStateException("the standby did not take " + domain + " over: " + e.getMessage()
                        + "; it stays here, shut off, at point " + point + " (virsh start " + domain + " runs it again)", e);
            } catch (IOException e) {
                throw new IllegalStateException("no answer from the standby to the switchover of " + domain + " ("
                        + e.getMessage() + "); it may run there: look with 'amirror replicas' on the standby, and run "
                        + "this again to finish. This host leaves it alone until " + SwitchoverLayout.of(state)
                        .switchedAway(uuid) + " is removed", e);
            }
            say(domain + " runs on the standby as " + done.name() + " from point " + done.point()
                    + ": nothing written before its shutdown is lost");
            say("the way back: the standby replicates " + done.name() + " every " + Durations.format(interval)
                    + " to the back standby this daemon runs in " + SwitchoverLayout.of(state).backState() + " (on "
                    + backListen + "); to move it back, on the standby: amirror switchover " + done.name()
                    + " --state STANDBY-STATE/reverse");
        } finally {
            libvirt.close();
        }
        return ExitCodes.OK;
    }

    /** Shuts the guest down (or awaits its shutdown) and refuses one that did not shut itself down. */
    private void shutDown(Domain dom, Duration wait) throws LibvirtException, InterruptedException {
        if (dom.isActive() == 1) {
            if (!awaitShutdown) {
                say("shutting " + domain + " down (ACPI power button; its guest has " + Durations.format(wait) + ")");
                dom.shutdown();
            } else {
                say("waiting for " + domain + " to be shut down (" + Durations.format(wait) + ")");
            }
            Instant deadline = Instant.now().plus(wait);
            while (dom.isActive() == 1) {
                if (Instant.now().isAfter(deadline)) {
                    throw new IllegalStateException(domain + " did not shut down within " + Durations.format(wait)
                            + "; nothing was switched over (it may still be shutting down: run this again, or give "
                            + "--shutdown-timeout)");
                }
                Thread.sleep(500);
            }
        }
        ShutoffReason why = ShutoffReason.of(dom);
        if (!why.clean()) {
            throw new IllegalStateException(domain + " is off, but it did not shut down (" + why.name().toLowerCase()
                    + "): a switchover moves a cleanly shut down guest; start it and run this again, or fail over on "
                    + "the standby");
        }
    }

    /**
     * The back standby's state: this host's key, the domain's disks adopted as the seed of the
     * replica domain, and its configuration, which the primary daemon picks up.
     */
    private void prepareBackStandby(Path state, PrimaryConfig cfg, UUID replica, List<DiskInfo> disks,
                                    InetSocketAddress listen, String standbyFingerprint) throws Exception {
        SwitchoverLayout layout = SwitchoverLayout.of(state);
        Path backState = layout.backState();
        PrivateFiles.createTraversable(backState); // the way back's replicas are QEMU's when the domain comes home
        Identity.copy(state, backState, true);
        ObjectNode c = template();
        c.put("stateDir", backState.toString());
        c.put("listen", backListen);
        var peers = c.putArray("peers");
        peers.add(standbyFingerprint);
        if (Files.exists(layout.backConfig())) { // other standbys' ways back to this host keep their pins
            for (JsonNode p : JSON.readTree(Files.readAllBytes(layout.backConfig())).path("peers")) {
                if (!p.asText().equals(standbyFingerprint)) {
                    peers.add(p.asText());
                }
            }
        }
        c.put("libvirtUri", cfg.libvirtUri());
        c.putObject("switchover").put("allow", true);
        StandbyConfig checked = StandbyConfig.load(write(backState.resolve(".standby.json.new"), c), true,
                StandbyConfig.overrides()); // refused here, with the schema's message, before anything is adopted

        DiskImage.Tools tools = DiskImage.Tools.installed();
        ReplicaDomain rd = new ReplicaDomain(StandbyLayout.of(backState).replicas(), replica, tools);
        try (ReplicaDomain.Lock lock = rd.lock("amirror switchover: seeding the way back")) {
            for (DiskInfo d : disks) {
                ReplicaDisk r = rd.disk(d.target(), ReplicaDisk.Retention.count(Integer.MAX_VALUE));
                if (r.state().point() != 0) {
                    throw new IllegalStateException("the back standby " + backState + " already holds point "
                            + r.state().point() + " of " + replica + " " + d.target() + "; remove "
                            + rd.directory() + " if that way back is over");
                }
                if (Files.exists(r.image())) { // the seed of an earlier try: the disk may have changed since
                    FileTrees.deleteQuietly(r.image().getParent());
                    r = rd.disk(d.target(), ReplicaDisk.Retention.count(Integer.MAX_VALUE));
                }
                long t0 = System.nanoTime();
                try {
                    r.adopt(SeedSource.probe(d.source(), d.format(), checked.maxDiskBytes(), tools));
                    say(String.format("%s: seeded the way back with %s in %.1f s", d.target(), d.source(),
                            (System.nanoTime() - t0) / 1e9));
                } catch (IOException e) {
                    say(d.target() + ": no seed (" + e.getMessage() + "): the way back's first point sends it whole");
                }
            }
        }
        Files.move(backState.resolve(".standby.json.new"), layout.backConfig(),
                java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    /** Puts the back standby's configuration back as it was before this switchover wrote it. */
    private static void undoBackConfig(Path file, byte[] before) throws IOException {
        if (before == null) {
            Files.deleteIfExists(file);
        } else {
            AtomicFiles.writePrivate(file, before);
        }
    }

    /** The replica settings the back standby takes from a standby configuration of this host, if there is one. */
    private ObjectNode template() throws IOException, ConfigException {
        Path file = backConfig != null ? backConfig : StandbyConfig.DEFAULT_FILE;
        ObjectNode out = JSON.createObjectNode();
        if (backConfig == null && !Files.exists(file)) {
            return out;
        }
        StandbyConfig.replicaLimits(file); // checked against the schema first
        JsonNode t = JSON.readTree(Files.readAllBytes(file));
        for (String field : List.of("replicas", "retention", "limits")) {
            if (t.has(field)) {
                out.set(field, t.get(field).deepCopy());
            }
        }
        return out;
    }

    private static Path write(Path file, ObjectNode json) throws IOException {
        AtomicFiles.writePrivate(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(json));
        return file;
    }

    /** Waits until the back standby the daemon starts accepts connections. */
    private static void awaitListening(InetSocketAddress listen, Duration wait) throws Exception {
        String host = listen.getAddress() == null || listen.getAddress().isAnyLocalAddress() ? "127.0.0.1"
                : listen.getHostString();
        Instant deadline = Instant.now().plus(wait);
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(host, listen.getPort()), 1_000);
                return;
            } catch (IOException notYet) {
                if (Instant.now().isAfter(deadline)) {
                    throw new IOException("the primary daemon did not start the back standby on " + listen + " within "
                            + wait.toSeconds() + " s (its log says why)");
                }
                Thread.sleep(500);
            }
        }
    }

    private static void say(String line) {
        System.out.println(line);
    }
}
