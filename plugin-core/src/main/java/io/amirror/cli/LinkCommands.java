package io.amirror.cli;

import io.amirror.delta.DeltaHeader;
import io.amirror.delta.DeltaReader;
import io.amirror.image.DiskImage;
import io.amirror.spool.Spool;
import io.amirror.standby.ReplicaDisk;
import io.amirror.transport.Identity;
import io.amirror.transport.RateSchedule;
import io.amirror.transport.Receiver;
import io.amirror.transport.Sender;
import io.amirror.transport.Tls;
import io.amirror.transport.TokenBucket;
import io.amirror.util.HostPort;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.BufferedInputStream;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** The commands of the link between primary and standby: identity, receiving, shipping, points. */
final class LinkCommands {
    static final String DEFAULT_STATE = "/var/lib/amirror";

    private LinkCommands() {
    }

    /** {@code --state DIR}, shared by every command that uses the state directory. */
    static final class StateDir {
        @Option(names = "--state", description = "State directory (default: " + DEFAULT_STATE + ").")
        Path path = Path.of(DEFAULT_STATE);
    }

    @Command(name = "init", mixinStandardHelpOptions = true,
            description = "Create this host's key pair and certificate (once) and print its fingerprint, for the "
                    + "peer's configuration.")
    static final class Init implements Callable<Integer> {
        @Mixin
        StateDir stateDir;
        @Option(names = "--name", description = "Name in the certificate (default: this host's name).")
        String name;

        @Override
        public Integer call() throws Exception {
            String n = name != null ? name : java.net.InetAddress.getLocalHost().getHostName();
            Identity id = Identity.loadOrCreate(stateDir.path, n);
            System.out.println(id.fingerprint());
            return 0;
        }
    }

    @Command(name = "standby", mixinStandardHelpOptions = true,
            description = "Receive deltas from pinned primaries, verify and apply them to the replicas, keep points.")
    static final class Standby implements Callable<Integer> {
        @Mixin
        StateDir stateDir;
        @Option(names = "--listen", required = true, paramLabel = "HOST:PORT")
        String listen;
        @Option(names = "--peer", paramLabel = "FINGERPRINT", description = "A pinned primary.")
        List<String> peers = List.of();
        @Option(names = "--ca", paramLabel = "PEM", description = "Also trust primaries signed by this CA.")
        Path ca;
        @Option(names = "--keep", description = "Recovery points kept per disk (default: ${DEFAULT-VALUE}).")
        int keep = 24;
        @Option(names = "--keep-days", description = "Drop recovery points older than this (default: ${DEFAULT-VALUE}).")
        int keepDays = 30;

        @Override
        public Integer call() throws Exception {
            Identity me = Identity.load(stateDir.path);
            DiskImage.Tools tools = DeltaCommand.tools();
            if (peers.isEmpty() && ca == null) {
                throw new IllegalArgumentException("give at least one --peer fingerprint or a --ca");
            }
            try (Receiver r = new Receiver(Tls.listen(Tls.context(me, Set.copyOf(peers), ca), HostPort.parse(listen)),
                    stateDir.path.resolve("replicas"), tools, new ReplicaDisk.Retention(keep, java.time.Duration.ofDays(keepDays)))
                    .start()) {
                System.out.println("standby listening on " + listen + " as " + me.fingerprint());
                CountDownLatch stop = new CountDownLatch(1);
                Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown));
                stop.await();
            }
            return 0;
        }
    }

    @Command(name = "ship", mixinStandardHelpOptions = true,
            description = "Send delta files to a standby, resuming where an earlier attempt stopped.")
    static final class Ship implements Callable<Integer> {
        @Mixin
        StateDir stateDir;
        @Option(names = "--to", required = true, paramLabel = "HOST:PORT")
        String to;
        @Option(names = "--peer", paramLabel = "FINGERPRINT", description = "The pinned standby.")
        List<String> peers = List.of();
        @Option(names = "--ca", paramLabel = "PEM", description = "Also trust a standby signed by this CA.")
        Path ca;
        @Option(names = "--rate", paramLabel = "SCHEDULE",
                description = "Link limit, e.g. '1mbit' or 'Mon-Fri 08:00-18:00: 256kbit; otherwise 4mbit'.")
        String rate;
        @Parameters(paramLabel = "DELTA")
        List<Path> deltas;

        @Override
        public Integer call() throws Exception {
            RateSchedule schedule = rate == null ? RateSchedule.constant(1e12) : RateSchedule.parse(rate);
            TokenBucket bucket = new TokenBucket(() -> schedule.rateAt(ZonedDateTime.now()));
            if (peers.isEmpty() && ca == null) {
                throw new IllegalArgumentException("give the standby's --peer fingerprint or a --ca");
            }
            Sender s = new Sender(Tls.context(Identity.load(stateDir.path), Set.copyOf(peers), ca), HostPort.parse(to), bucket,
                    30_000);
            for (Path d : deltas) {
                DeltaHeader h;
                try (InputStream in = new BufferedInputStream(Files.newInputStream(d))) {
                    h = DeltaReader.readHeader(in);
                }
                Sender.Shipped r = s.ship(new Spool.Entry(h.domain(), h.disk(), h.basePoint(), h.newPoint(), d,
                        Files.size(d)));
                System.out.printf("%s: standby at point %d (resumed at byte %d, sent %d, %.2f Mbit/s on the wire)%n",
                        d, r.ack().point(), r.resumedAt(), r.sentBytes(), r.goodputBytesPerSecond() * 8 / 1e6);
            }
            return 0;
        }
    }

    @Command(name = "points", mixinStandardHelpOptions = true,
            description = "List the recovery points a standby keeps for a domain's disk, or roll it to one.")
    static final class Points implements Callable<Integer> {
        @Mixin
        StateDir stateDir;
        @Parameters(index = "0", paramLabel = "DOMAIN-UUID")
        UUID domain;
        @Option(names = "--disk", description = "Disk target (default: ${DEFAULT-VALUE}).")
        String disk = "vda";
        @Option(names = "--roll", paramLabel = "K", description = "Roll the replica back to kept point K (standby stopped).")
        Integer roll;

        @Override
        public Integer call() throws Exception {
            ReplicaDisk d = new ReplicaDisk(stateDir.path.resolve("replicas"), domain, disk, DeltaCommand.tools(), Integer.MAX_VALUE);
            if (roll != null) {
                d.rollTo(roll);
            }
            ReplicaDisk.State s = d.state();
            System.out.printf("%s %s: at point %d%s%n", domain, disk, s.point(),
                    s.pending() == 0 ? "" : " (applying " + s.pending() + ")");
            for (ReplicaDisk.Point p : d.points()) {
                System.out.printf("  point %-6d %s  %s%n", p.point(), p.date(), p.snapshot());
            }
            return 0;
        }
    }
}
