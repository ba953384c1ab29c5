package io.amirror.bridge.cli;

import io.amirror.bridge.BridgeClient;
import io.amirror.bridge.BridgeReplication;
import io.amirror.bridge.BridgeServer;
import io.amirror.bridge.BridgeState;
import io.amirror.bridge.BridgeVolume;
import io.amirror.cli.CommandProvider;
import io.amirror.config.Policy;
import io.amirror.standby.Promotion;
import io.amirror.standby.ReplicaDisk;
import io.amirror.standby.ReplicaDomain;
import io.amirror.delta.XzBlockCodec;
import io.amirror.spool.Spool;
import io.amirror.transport.Identity;
import io.amirror.transport.RateSchedule;
import io.amirror.transport.Sender;
import io.amirror.transport.Tls;
import io.amirror.transport.TokenBucket;
import io.amirror.util.HostPort;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** {@code amirror bridge}: serve a guest's disk through the bridge, and replicate it. */
@Command(name = "bridge", mixinStandardHelpOptions = true,
        description = "Replication of guests that libvirt does not manage, through a write-tracking NBD server.",
        subcommands = {BridgeCommand.Serve.class, BridgeCommand.Sync.class, BridgeCommand.Points.class,
            BridgeCommand.Failover.class})
public final class BridgeCommand implements Runnable, CommandProvider {

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

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
        @Option(names = "--tcp", paramLabel = "HOST:PORT", description = "Also serve NBD on TCP (plain: keep it local).")
        String tcp;
        @Option(names = "--state", description = "State directory (default: IMAGE.amirror beside the image).")
        Path state;
        @Option(names = "--name", description = "The guest's name, the first time (default: the image's file name).")
        String name;
        @Option(names = "--uuid", description = "The guest's UUID, the first time (default: a new one; give the old "
                + "one when the state directory was lost, so the replica is repaired, not resent).")
        java.util.UUID uuid;
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
            Path dir = stateOf(image, state);
            String n = name != null ? name : image.getFileName().toString().replaceFirst("\\.[^.]*$", "");
            try (BridgeVolume v = BridgeVolume.open(image, dir, uuid, n, disk, launcher);
                 BridgeServer s = BridgeServer.start(v, dir, socket, tcp == null ? null : HostPort.parse(tcp))) {
                BridgeState st = v.state();
                System.out.println("bridge serving " + image + " (" + st.size() + " bytes) as '" + st.name() + "' "
                        + st.uuid() + " on " + socket + (tcp == null ? "" : " and " + s.tcpAddress()) + "; points "
                        + st.points() + "; control " + dir.resolve(BridgeServer.CONTROL_SOCKET));
                System.out.flush();
                CountDownLatch stop = new CountDownLatch(1);
                Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown));
                stop.await();
            }
            return 0;
        }
    }

    @Command(name = "sync", mixinStandardHelpOptions = true,
            description = "Cut a point on a running bridge and ship it to the standby; with --every, keep doing so.")
    static final class Sync implements Callable<Integer> {
        @Option(names = "--policy", paramLabel = "FILE", description = "A policy with source \"bridge\": the bridge, the "
                + "standby, the RPO (as --every), the bandwidth, the compression and the retention come from it.")
        Path policy;
        @Option(names = "--bridge-state", description = "The bridge's state directory.")
        Path bridgeState;
        @Option(names = "--socket", description = "The bridge's NBD unix socket.")
        Path socket;
        @Option(names = "--state", required = true,
                description = "This primary's state directory: its key pair, and bridge/ for maps and spool.")
        Path state;
        @Option(names = "--to", paramLabel = "HOST:PORT")
        String to;
        @Option(names = "--peer", paramLabel = "FINGERPRINT", description = "The pinned standby.")
        List<String> peers = List.of();
        @Option(names = "--rate", paramLabel = "SCHEDULE", description = "Link limit, e.g. '1mbit'.")
        String rate;
        @Option(names = "--preset", defaultValue = "6", description = "xz preset, 0-9 with an optional e (default: 6; "
                + "a policy's \"auto\" is 6 here).")
        String preset;
        @Option(names = "--every", paramLabel = "DURATION", description = "Repeat at this interval, e.g. 5m.")
        String every;
        @Option(names = "--once", description = "One cycle, even with a policy's RPO.")
        boolean once;

        @Override
        public Integer call() throws Exception {
            ReplicaDisk.Retention retention = BridgeReplication.DEFAULT_RETENTION;
            RateSchedule schedule = rate == null ? RateSchedule.constant(1e12) : RateSchedule.parse(rate);
            java.util.function.Function<java.time.Instant, Duration> wait = null;
            if (policy != null) {
                Policy p = bridgePolicy(policy);
                bridgeState = p.bridge().state();
                socket = p.bridge().socket();
                to = p.standby().address();
                peers = List.of(p.standby().fingerprint());
                if (p.bandwidth() != null) {
                    schedule = p.bandwidth();
                }
                if (p.compression() != null) {
                    preset = p.compression().toString();
                }
                retention = new ReplicaDisk.Retention(p.keepPoints(), p.keepAge());
                wait = untilNext(p.rpo());
            }
            if (every != null) {
                Duration d = io.amirror.config.Durations.parse(every);
                wait = now -> d;
            }
            if (once) {
                wait = null;
            }
            if (bridgeState == null || socket == null || to == null || peers.isEmpty()) {
                throw new IllegalArgumentException("give --policy FILE, or --bridge-state, --socket, --to and --peer");
            }
            final RateSchedule limit = schedule;
            Sender sender = new Sender(Tls.context(Identity.load(state), Set.copyOf(peers), null), HostPort.parse(to),
                    new TokenBucket(() -> limit.rateAt(ZonedDateTime.now())), 30_000);
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try {
                // maps and spool of bridge guests apart from the libvirt daemon's, which sweeps its own spool
                Path own = state.resolve("bridge");
                BridgeReplication r = new BridgeReplication(new BridgeClient(bridgeState), socket, own,
                        new Spool(own.resolve("spool"), 8L << 30), pool, 2, Duration.ofSeconds(60));
                while (true) {
                    BridgeReplication.Cycle c;
                    try {
                        c = r.cycle(sender, XzBlockCodec.Preset.parse(preset), retention);
                    } catch (java.io.IOException e) {
                        if (wait == null) {
                            throw e;
                        }
                        System.err.println("amirror: cycle failed, trying again at the next point: " + e.getMessage());
                        Thread.sleep(wait.apply(java.time.Instant.now()).toMillis());
                        continue;
                    }
                    System.out.printf("point %d from %d%s: %s; delta %d bytes, %d sent%n", c.newPoint(), c.basePoint(),
                            c.repair() ? " (repair by hashes)" : "",
                            c.captured() == null ? "pending point shipped"
                                    : c.captured().dataBytes() + " bytes read, " + c.captured().zeroBytes() + " zero",
                            c.deltaBytes(), c.sentBytes());
                    System.out.flush();
                    if (wait == null) {
                        return 0;
                    }
                    Thread.sleep(wait.apply(java.time.Instant.now()).toMillis());
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    /** How long from a moment to the next point an RPO asks for. */
    static java.util.function.Function<java.time.Instant, Duration> untilNext(Policy.Rpo rpo) throws java.text.ParseException {
        if (rpo.interval() != null) {
            Duration d = rpo.interval();
            return now -> d;
        }
        org.quartz.CronExpression cron = new org.quartz.CronExpression(rpo.cron());
        return now -> Duration.between(now, cron.getNextValidTimeAfter(java.util.Date.from(now)).toInstant());
    }

    static Policy bridgePolicy(Path file) throws io.amirror.config.ConfigException {
        Policy p = io.amirror.config.PolicyLoader.load(file);
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
        @picocli.CommandLine.Parameters(index = "0", paramLabel = "GUEST", description = "The guest's name or UUID.")
        String guest;

        @Override
        public Integer call() throws Exception {
            if (java.nio.file.Files.exists(image)) {
                throw new IllegalArgumentException(image + " exists; give a new path, the replica is written there");
            }
            io.amirror.image.DiskImage.Tools tools = io.amirror.image.DiskImage.Tools.installed();
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
            o.steps().forEach(x -> System.out.println(guest + ": " + x));
            if (d.diskNames().size() != 1) {
                throw new IllegalStateException(guest + " has disks " + d.diskNames() + "; a bridge guest has one");
            }
            Path replica = d.disk(d.diskNames().get(0)).image();
            Path partial = image.resolveSibling(image.getFileName() + ".partial");
            io.amirror.util.Exec.run(List.of(tools.qemuImg().toString(), "convert", "-O", "raw", replica.toString(),
                    partial.toString()), null, java.util.Map.of(), Duration.ofHours(12)).orThrow();
            java.nio.file.Files.move(partial, image, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            System.out.println(guest + ": replica at point " + o.point() + " written to " + image);
            System.out.println("start it: amirror bridge serve --image " + image + " --socket SOCKET --uuid " + d.uuid()
                    + (manifest == null ? "" : " --name " + manifest.name()));
            if (manifest != null && !manifest.launcher().isEmpty()) {
                System.out.println("then its launcher: " + String.join(" ", manifest.launcher()));
            }
            return 0;
        }
    }

    @Command(name = "points", mixinStandardHelpOptions = true, description = "Show a running bridge's guest and points.")
    static final class Points implements Callable<Integer> {
        @Option(names = "--bridge-state", required = true, description = "The bridge's state directory.")
        Path bridgeState;

        @Override
        public Integer call() throws Exception {
            BridgeState s = new BridgeClient(bridgeState).state();
            System.out.println(s.name() + " " + s.uuid() + " disk " + s.disk() + " (" + s.size() + " bytes): points "
                    + s.points());
            return 0;
        }
    }
}
