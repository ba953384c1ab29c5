package io.amirror.bridge.cli;

import io.amirror.bridge.BridgeClient;
import io.amirror.bridge.BridgeReplication;
import io.amirror.bridge.BridgeServer;
import io.amirror.bridge.BridgeState;
import io.amirror.bridge.BridgeVolume;
import io.amirror.cli.CommandProvider;
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
        subcommands = {BridgeCommand.Serve.class, BridgeCommand.Sync.class, BridgeCommand.Points.class})
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
        @Option(names = "--image", required = true, description = "The guest's raw disk image.")
        Path image;
        @Option(names = "--socket", required = true, description = "Unix socket for NBD clients.")
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
        @Option(names = "--bridge-state", required = true, description = "The bridge's state directory.")
        Path bridgeState;
        @Option(names = "--socket", required = true, description = "The bridge's NBD unix socket.")
        Path socket;
        @Option(names = "--state", required = true, description = "This primary's state directory (keys, spool, maps).")
        Path state;
        @Option(names = "--to", required = true, paramLabel = "HOST:PORT")
        String to;
        @Option(names = "--peer", required = true, paramLabel = "FINGERPRINT", description = "The pinned standby.")
        List<String> peers;
        @Option(names = "--rate", paramLabel = "SCHEDULE", description = "Link limit, e.g. '1mbit'.")
        String rate;
        @Option(names = "--preset", defaultValue = "6", description = "xz preset, 0-9 with an optional e (default: 6).")
        String preset;
        @Option(names = "--every", paramLabel = "DURATION", description = "Repeat at this interval, e.g. 5m.")
        String every;

        @Override
        public Integer call() throws Exception {
            RateSchedule schedule = rate == null ? RateSchedule.constant(1e12) : RateSchedule.parse(rate);
            Sender sender = new Sender(Tls.context(Identity.load(state), Set.copyOf(peers), null), HostPort.parse(to),
                    new TokenBucket(() -> schedule.rateAt(ZonedDateTime.now())), 30_000);
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try {
                BridgeReplication r = new BridgeReplication(new BridgeClient(bridgeState), socket, state,
                        new Spool(state.resolve("spool"), 8L << 30), pool, 2, Duration.ofSeconds(60));
                Duration interval = every == null ? null : io.amirror.config.Durations.parse(every);
                while (true) {
                    BridgeReplication.Cycle c = r.cycle(sender, XzBlockCodec.Preset.parse(preset));
                    System.out.printf("point %d from %d%s: %s; delta %d bytes, %d sent%n", c.newPoint(), c.basePoint(),
                            c.repair() ? " (repair by hashes)" : "",
                            c.captured() == null ? "pending point shipped"
                                    : c.captured().dataBytes() + " bytes read, " + c.captured().zeroBytes() + " zero",
                            c.deltaBytes(), c.sentBytes());
                    System.out.flush();
                    if (interval == null) {
                        return 0;
                    }
                    Thread.sleep(interval.toMillis());
                }
            } finally {
                pool.shutdownNow();
            }
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
