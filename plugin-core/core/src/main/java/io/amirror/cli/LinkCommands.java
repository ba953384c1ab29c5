package io.amirror.cli;

import io.amirror.delta.DeltaHeader;
import io.amirror.delta.DeltaReader;
import io.amirror.spool.Spool;
import io.amirror.transport.Identity;
import io.amirror.transport.ReplicaManifest;
import io.amirror.transport.Sender;
import io.amirror.transport.Tls;
import io.amirror.transport.TokenBucket;
import io.amirror.util.HostPort;
import io.amirror.util.WeeklyRate;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.BufferedInputStream;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

/** The commands of the link between primary and standby: identity, and shipping delta files by hand. */
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
            String n = name != null ? name : InetAddress.getLocalHost().getHostName();
            Identity id = Identity.loadOrCreate(stateDir.path, n);
            System.out.println(id.fingerprint());
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
        @Option(names = "--progress", description = "Show a progress line (bar, bytes, rate, ETA) on stderr while sending.")
        boolean progress;
        @Option(names = "--manifest", paramLabel = "FILE", description = "After the deltas, describe the domain to the "
                + "standby with this replica manifest (JSON), so it defines the replica domain.")
        Path manifest;
        @Parameters(paramLabel = "DELTA", arity = "0..*")
        List<Path> deltas = List.of();

        @Override
        public Integer call() throws Exception {
            WeeklyRate schedule = rate == null ? WeeklyRate.constant(1e12) : WeeklyRate.parse(rate);
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
                long size = Files.size(d);
                long t0 = System.nanoTime();
                long[] shown = {0, 0}; // last time shown, bytes held at the start
                Sender.Shipped r = s.ship(new Spool.Entry(h.domain(), h.disk(), h.basePoint(), h.newPoint(), d, size),
                        held -> {
                            long now = System.nanoTime();
                            if (!progress || now - shown[0] < 500_000_000L && held < size) {
                                return;
                            }
                            if (shown[0] == 0) {
                                shown[1] = held;
                            }
                            shown[0] = now;
                            double seconds = (now - t0) / 1e9;
                            double bps = seconds <= 0 ? 0 : (held - shown[1]) * 8 / seconds;
                            System.err.print("\r" + Progress.transfer("shipping", held, size, bps,
                                    bps > 0 ? (long) Math.ceil((size - held) * 8 / bps) : null) + "    ");
                        }, true);
                if (progress) {
                    System.err.println();
                }
                System.out.printf("%s: standby at point %d (resumed at byte %d, sent %d, %.2f Mbit/s on the wire)%n",
                        d, r.ack().point(), r.resumedAt(), r.sentBytes(), r.goodputBytesPerSecond() * 8 / 1e6);
            }
            System.out.printf("ship process: cpu %.2f s, heap peak %d MiB%n", ProcessCost.cpuSeconds(), ProcessCost.heapPeakMiB());
            if (manifest != null) {
                var m = ReplicaManifest.fromJson(Files.readAllBytes(manifest));
                s.describe(m.uuid(), m.point(), m.toXz());
                System.out.printf("%s described to the standby at point %d%n", m.name(), m.point());
            }
            return 0;
        }
    }
}
