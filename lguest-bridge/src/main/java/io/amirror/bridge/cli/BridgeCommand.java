package io.amirror.bridge.cli;

import io.amirror.bridge.BridgeClient;
import io.amirror.bridge.BridgeServer;
import io.amirror.bridge.BridgeSources;
import io.amirror.bridge.BridgeState;
import io.amirror.bridge.BridgeTls;
import io.amirror.bridge.BridgeVolume;
import io.amirror.capture.CaptureResult;
import io.amirror.cli.CommandProvider;
import io.amirror.config.ConfigException;
import io.amirror.config.Durations;
import io.amirror.config.Policy;
import io.amirror.config.PolicyLoader;
import io.amirror.config.PrimaryConfig;
import io.amirror.delta.XzBlockCodec;
import io.amirror.image.DiskImage;
import io.amirror.primary.DomainStatus;
import io.amirror.primary.Replication;
import io.amirror.primary.ReplicationCycle;
import io.amirror.primary.StandbyLink;
import io.amirror.spool.Spool;
import io.amirror.standby.Promotion;
import io.amirror.standby.ReplicaDomain;
import io.amirror.state.StateModes;
import io.amirror.transport.Identity;
import io.amirror.util.Exec;
import io.amirror.util.HostPort;
import io.amirror.util.PrivateFiles;
import io.amirror.util.ShellText;
import io.amirror.util.WeeklyRate;
import org.quartz.CronExpression;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.text.ParseException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Function;

/** {@code amirror bridge}: serve a guest's disk through the bridge, and replicate it. */
@Command(name = "bridge", mixinStandardHelpOptions = true,
        description = "Replication of guests that libvirt does not manage, through a write-tracking NBD server.",
        subcommands = {BridgeCommand.Serve.class, BridgeCommand.Sync.class, BridgeCommand.Points.class,
            BridgeCommand.Failover.class})
public final class BridgeCommand implements Runnable, CommandProvider {

    @Spec
    CommandSpec spec;

    @Override
    public Object command() {
        return new BridgeCommand();
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    static Path stateOf(Path image, Path state) {
        return state != null ? state : image.resolveSibling(image.getFileName() + ".amirror");
    }

    @Command(name = "serve", mixinStandardHelpOptions = true,
            description = "Serve a raw image over NBD for a guest's launcher, tracking every write (until stopped).")
    static final class Serve implements Callable<Integer> {
        @Option(names = "--policy", paramLabel = "FILE",
                description = "A policy with source \"bridge\": image, socket, state and name come from it.")
        Path policy;
        @Option(names = "--image", description = "The guest's raw disk image.")
        Path image;
        @Option(names = "--socket", description = "Unix socket for NBD clients.")
        Path socket;
        @Option(names = "--tcp", paramLabel = "HOST:PORT", description = "Also serve NBD on TCP: a loopback address, "
                + "or any address with --tls-dir.")
        String tcp;
        @Option(names = "--tls-dir", paramLabel = "DIR", description = "Require TLS on --tcp, with client certificates: "
                + "DIR holds ca-cert.pem, server-cert.pem and server-key.pem (QEMU's tls-creds-x509 layout); clients "
                + "need a certificate signed by that CA.")
        Path tlsDir;
        @Option(names = "--tls-client", paramLabel = "FINGERPRINT", description = "With --tls-dir: admit only these "
                + "client certificates (SHA-256, as 'openssl x509 -noout -fingerprint -sha256' prints it; repeatable).")
        List<String> tlsClients = List.of();
        @Option(names = "--max-connections", paramLabel = "N", description = "At most N connections at once on each "
                + "socket (default: 8); further ones are closed at once.")
        Integer maxConnections;
        @Option(names = "--idle-timeout", paramLabel = "DURATION", description = "Close an NBD connection idle this "
                + "long between requests, e.g. 30m (default: never; TCP peers that vanished are found by keepalive).")
        String idleTimeout;
        @Option(names = "--state", description = "State directory (default: IMAGE.amirror beside the image).")
        Path state;
        @Option(names = "--name", description = "The guest's name, the first time (default: the image's file name).")
        String name;
        @Option(names = "--uuid", description = "The guest's UUID, the first time (default: a new one; give the old "
                + "one when the state directory was lost, so the replica is repaired, not resent).")
        UUID uuid;
        @Option(names = "--disk", defaultValue = "vda", description = "The disk's name on the standby (default: vda).")
        String disk;
        @Option(names = "--launcher", description = "The guest's command line, kept for the standby (first time only).")
        List<String> launcher = List.of();

        @Override
        public Integer call() throws Exception {
            if (policy != null) {
                Policy p = bridgePolicy(policy);
                image = p.bridge().image();
                socket = p.bridge().socket();
                state = p.bridge().state();
                name = p.domains().names().get(0);
            }
            if (image == null || socket == null) {
                throw new IllegalArgumentException("give --policy FILE, or --image and --socket");
            }
            // every option is checked before the state directory is made or the image opened
            if (tlsDir == null && !tlsClients.isEmpty()) {
                throw new IllegalArgumentException("--tls-client pins TLS clients: give --tls-dir too");
            }
            if (tlsDir != null && tcp == null) {
                throw new IllegalArgumentException("--tls-dir protects NBD over TCP: give --tcp HOST:PORT too");
            }
            InetSocketAddress at = tcp == null ? null : HostPort.parse(tcp);
            BridgeTls tls = tlsDir == null ? null : BridgeTls.load(tlsDir, Set.copyOf(tlsClients));
            BridgeServer.checkExposure(at, tls);
            BridgeServer.Limits limits = BridgeServer.Limits.DEFAULTS;
            if (maxConnections != null) {
                limits = limits.withMaxConnections(maxConnections);
            }
            if (idleTimeout != null) {
                limits = limits.withIdle(Durations.parse(idleTimeout));
            }
            Path dir = stateOf(image, state);
            String n = name != null ? name : image.getFileName().toString().replaceFirst("\\.[^.]*$", "");
            try (BridgeVolume v = BridgeVolume.open(image, dir, uuid, n, disk, launcher);
                 BridgeServer s = BridgeServer.start(v, dir, socket, at, tls, limits)) {
                BridgeState st = v.state();
                System.out.println("bridge serving " + image + " (" + st.size() + " bytes) as '"
                        + ShellText.printable(st.name()) + "' " + st.uuid() + " on " + socket
                        + (tcp == null ? "" : " and " + s.tcpAddress() + (tls == null ? " (plain, loopback)"
                        : " (" + tls.describe() + ")")) + "; points " + st.points() + "; control "
                        + dir.resolve(BridgeServer.CONTROL_SOCKET));
                System.out.flush();
                CountDownLatch stop = new CountDownLatch(1);
                Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown));
                stop.await();
            }
            return 0;
        }
    }

    @Command(name = "sync", mixinStandardHelpOptions = true,
            description = {"Cut a point on a running bridge and ship it to the standby; with --every, keep doing so.",
                    "The cycle is the primary daemon's (which replicates bridge policies on their schedule, with "
                            + "status, metrics, verify and alerts): do not run both for one guest."})
    static final class Sync implements Callable<Integer> {
        @Option(names = "--policy", paramLabel = "FILE", description = "A policy with source \"bridge\": the bridge, the "
                + "standby, the RPO (as --every), the bandwidth, the compression and the retention come from it.")
        Path policy;
        @Option(names = "--bridge-state", description = "The bridge's state directory.")
        Path bridgeState;
        @Option(names = "--socket", description = "The bridge's NBD unix socket.")
        Path socket;
        @Option(names = "--config", paramLabel = "FILE", description = "The primary's configuration: spool limit, "
                + "threads and timeouts (default: /etc/amirror/primary.json if it exists; missing means all defaults).")
        Path config;
        @Option(names = "--state", required = true,
                description = "This primary's state directory: its key pair, the hash maps and the spool.")
        Path state;
        @Option(names = "--to", paramLabel = "HOST:PORT")
        String to;
        @Option(names = "--peer", paramLabel = "FINGERPRINT", description = "The pinned standby.")
        List<String> peers = List.of();
        @Option(names = "--rate", paramLabel = "SCHEDULE", description = "Link limit, e.g. '1mbit'.")
        String rate;
        @Option(names = "--preset", description = "xz preset, 0-9 with an optional e (default: the policy's "
                + "compression; \"auto\" or no policy: chosen from the link's rate, as the daemon does).")
        String preset;
        @Option(names = "--every", paramLabel = "DURATION", description = "Repeat at this interval, e.g. 5m.")
        String every;
        @Option(names = "--once", description = "One cycle, even with a policy's RPO.")
        boolean once;

        @Override
        public Integer call() throws Exception {
            Policy p = policy != null ? bridgePolicy(policy) : commandLinePolicy();
            if (preset != null) {
                p = withCompression(p, XzBlockCodec.Preset.parse(preset).toString());
            }
            Function<Instant, Duration> wait = policy != null ? untilNext(p.rpo()) : null;
            if (every != null) {
                Duration d = Durations.parse(every);
                wait = now -> d;
            }
            if (once) {
                wait = null;
            }
            PrimaryConfig cfg = (config != null ? PrimaryConfig.load(config, true)
                    : PrimaryConfig.load(PrimaryConfig.DEFAULT_FILE, false)).withStateDir(state);
            PrimaryConfig.Timeouts timeouts = cfg.timeouts();
            StateModes.secure(state); // as the daemon does at its start: the same files
            StandbyLink link = new StandbyLink(Identity.load(state), p.standby(), p.bandwidth(), timeouts.link());
            DomainStatus status = new DomainStatus(p.domains().names().get(0));
            status.assign(p.name(), p.standby().address(), p.rpo().target(), p.alertAfter());
            Spool spool = new Spool(state.resolve("spool"), cfg.spoolLimitBytes());
            ExecutorService pool = Executors.newFixedThreadPool(cfg.threads());
            try {
                while (true) {
                    Replication r = new Replication(new BridgeSources().open(p, state, timeouts.disk()), state, spool,
                            pool, cfg.threads());
                    ReplicationCycle.Outcome c;
                    status.cycleStarted();
                    try {
                        c = new ReplicationCycle(r, p, link, spool, status).run();
                        status.cycleEnded(null);
                    } catch (IOException e) {
                        status.cycleEnded(e);
                        if (wait == null) {
                            throw e;
                        }
                        System.err.println("amirror: cycle failed, trying again at the next point: " + e.getMessage());
                        Thread.sleep(wait.apply(Instant.now()).toMillis());
                        continue;
                    }
                    boolean repair = c.full() && c.basePoint() != 0;
                    System.out.printf("point %d from %d%s: %d bytes read, %d zero; delta %d bytes, %d sent%n",
                            c.newPoint(), c.basePoint(), repair ? " (repair by hashes)" : "", c.captured().dataBytes(),
                            c.captured().disks().stream().mapToLong(CaptureResult.DiskStats::zeroBytes).sum(),
                            c.deltaBytes(), c.sentBytes());
                    System.out.flush();
                    if (wait == null) {
                        return 0;
                    }
                    Thread.sleep(wait.apply(Instant.now()).toMillis());
                }
            } finally {
                pool.shutdownNow();
            }
        }

        /** The policy the options describe when no policy file is given. */
        private Policy commandLinePolicy() throws IOException {
            if (bridgeState == null || socket == null || to == null || peers.isEmpty()) {
                throw new IllegalArgumentException("give --policy FILE, or --bridge-state, --socket, --to and --peer");
            }
            String name = BridgeState.read(bridgeState).name();
            Duration rpo = every == null ? Duration.ofHours(1) : Durations.parse(every);
            return new Policy(name, "the command line", new Policy.DomainSelector(List.of(name), List.of(), null),
                    new Policy.StandbyTarget(to, peers.get(0)), new Policy.Rpo(rpo, null, rpo),
                    rate == null ? null : WeeklyRate.parse(rate), rate, List.of(), null, PolicyLoader.DEFAULT_KEEP,
                    Duration.ofDays(PolicyLoader.DEFAULT_KEEP_DAYS), false, rpo.multipliedBy(2), List.of(),
                    Policy.ReplicaMapping.NONE, new Policy.BridgeSource(null, socket, bridgeState), null);
        }

        private static Policy withCompression(Policy p, String c) {
            return new Policy(p.name(), p.file(), p.domains(), p.standby(), p.rpo(), p.bandwidth(), p.bandwidthText(),
                    p.blackouts(), c, p.keepPoints(), p.keepAge(), p.quiesce(), p.alertAfter(), p.alertCommand(),
                    p.replica(), p.bridge(), p.verifyEvery(), p.fullReadRate());
        }
    }

    /** How long from a moment to the next point an RPO asks for. */
    static Function<Instant, Duration> untilNext(Policy.Rpo rpo) throws ParseException {
        if (rpo.interval() != null) {
            Duration d = rpo.interval();
            return now -> d;
        }
        CronExpression cron = new CronExpression(rpo.cron());
        return now -> Duration.between(now, cron.getNextValidTimeAfter(Date.from(now)).toInstant());
    }

    static Policy bridgePolicy(Path file) throws ConfigException {
        Policy p = PolicyLoader.load(file);
        if (!p.bridged()) {
            throw new IllegalArgumentException(file + " is a policy of libvirt domains (amirror primary replicates "
                    + "those); a bridge policy has \"source\": \"bridge\"");
        }
        return p;
    }

    @Command(name = "failover", mixinStandardHelpOptions = true,
            description = {"On the standby: make the replica of a bridge guest its disk again. The replica finishes "
                    + "any pending apply, goes to the newest consistent point (or --point K), is marked promoted, "
                    + "and is written out as the raw image IMAGE for 'amirror bridge serve'.",
                    "Then start the bridge on IMAGE and the guest's launcher, as printed."})
    static final class Failover implements Callable<Integer> {
        @Option(names = "--state", required = true, description = "The standby's state directory.")
        Path state;
        @Option(names = "--image", required = true, description = "The raw image to write (must not exist).")
        Path image;
        @Option(names = "--point", paramLabel = "K", description = "Start from kept recovery point K.")
        Integer point;
        @Parameters(index = "0", paramLabel = "GUEST", description = "The guest's name or UUID.")
        String guest;

        @Override
        public Integer call() throws Exception {
            if (Files.exists(image)) {
                throw new IllegalArgumentException(image + " exists; give a new path, the replica is written there");
            }
            DiskImage.Tools tools = DiskImage.Tools.installed();
            ReplicaDomain d = ReplicaDomain.find(state.resolve("replicas"), guest, tools).orElseThrow(() ->
                    new IllegalArgumentException("this standby (" + state + ") holds no replica of '" + guest + "'"));
            var manifest = d.manifest().orElse(null);
            if (manifest != null && !manifest.bridged()) {
                throw new IllegalArgumentException(guest + " is a libvirt domain: use 'amirror failover' or 'virsh start'");
            }
            if (point != null) {
                d.requestFailoverPoint(point);
            }
            Promotion.Outcome o = Promotion.prepare(d, guest);
            String label = ShellText.printable(guest);
            o.steps().forEach(x -> System.out.println(label + ": " + ShellText.printable(x)));
            if (d.diskNames().size() != 1) {
                throw new IllegalStateException(guest + " has disks " + d.diskNames() + "; a bridge guest has one");
            }
            Path replica = d.disk(d.diskNames().get(0)).image();
            Path partial = image.resolveSibling(image.getFileName() + ".partial");
            PrivateFiles.createEmpty(partial); // the guest's disk: 0600, which qemu-img keeps
            Exec.run(List.of(tools.qemuImg().toString(), "convert", "-O", "raw", replica.toString(),
                    partial.toString()), null, Map.of(), Duration.ofHours(12)).orThrow();
            Files.move(partial, image, StandardCopyOption.ATOMIC_MOVE);
            // the written-out image is the guest's live disk from now on: no libvirt start will say so
            Promotion.started(d, guest, Promotion.DEFAULT_WAIT);
            System.out.println(label + ": replica at point " + o.point() + " written to "
                    + ShellText.printable(image.toString()));
            startLines(image, d.uuid(), manifest == null ? null : manifest.name(),
                    manifest == null ? List.of() : manifest.launcher()).forEach(System.out::println);
            return 0;
        }
    }

    /**
     * What failover prints for the admin to paste: every value quoted for POSIX sh and stripped of
     * terminal controls (the name and the launcher came from the primary), with a note when that
     * changed a value.
     */
    static List<String> startLines(Path image, UUID uuid, String name, List<String> launcher) {
        List<String> serve = new ArrayList<>(List.of("amirror", "bridge", "serve", "--image", image.toString(),
                "--socket"));
        List<String> lines = new ArrayList<>();
        String s = ShellText.command(serve) + " SOCKET " + ShellText.command(List.of("--uuid", uuid.toString()))
                + (name == null ? "" : " " + ShellText.command(List.of("--name", name)));
        lines.add("start it: " + s);
        if (!launcher.isEmpty()) {
            lines.add("then its launcher: " + ShellText.command(launcher));
        }
        List<String> all = new ArrayList<>(launcher);
        all.add(image.toString());
        if (name != null) {
            all.add(name);
        }
        if (all.stream().anyMatch(ShellText::altered)) {
            lines.add("note: control characters or terminal escapes were removed from the values above; "
                    + "check them against the replica's manifest before running these lines");
        }
        return lines;
    }

    @Command(name = "points", mixinStandardHelpOptions = true, description = "Show a running bridge's guest and points.")
    static final class Points implements Callable<Integer> {
        @Option(names = "--bridge-state", required = true, description = "The bridge's state directory.")
        Path bridgeState;

        @Override
        public Integer call() throws Exception {
            BridgeState s = new BridgeClient(bridgeState).state();
            System.out.println(ShellText.printable(s.name()) + " " + s.uuid() + " disk " + ShellText.printable(s.disk()) + " (" + s.size() + " bytes): points "
                    + s.points());
            return 0;
        }
    }
}
