package io.amirror.cli;

import io.amirror.image.DiskImage;
import io.amirror.standby.Promotion;
import io.amirror.standby.ReplicaDefiner;
import io.amirror.standby.ReplicaDefinition;
import io.amirror.standby.ReplicaDisk;
import io.amirror.standby.ReplicaDomain;
import io.amirror.standby.ReplicaManifest;
import io.amirror.transport.Identity;
import io.amirror.transport.Receiver;
import io.amirror.transport.Tls;
import io.amirror.util.HostPort;
import org.libvirt.Connect;
import org.libvirt.Domain;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import io.amirror.config.ConfigException;
import io.amirror.config.StandbyConfig;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** The standby's commands: receive, list points, fail over, and the hook's check at a replica's start. */
final class StandbyCommands {
    static final String DEFAULT_LIBVIRT = "qemu:///system";

    private StandbyCommands() {
    }

    static Path replicas(LinkCommands.StateDir s) {
        return s.path.resolve("replicas");
    }

    static ReplicaDomain find(LinkCommands.StateDir s, String domain) throws IOException {
        return ReplicaDomain.find(replicas(s), domain, DiskImage.Tools.installed()).orElseThrow(() -> new IllegalArgumentException(
                "this standby (" + s.path + ") holds no replica of '" + domain + "'; give the domain's name or UUID"));
    }

    /** Where the replica domain's sockets go, and how it is named. */
    static final class DefinitionOptions {
        @Option(names = "--libvirt", paramLabel = "URI", description = "The standby's libvirt (default: ${DEFAULT-VALUE}).")
        String libvirtUri = DEFAULT_LIBVIRT;
        @Option(names = "--replica-suffix", paramLabel = "TEXT",
                description = "Append TEXT to replica domain names (and derive their UUIDs) instead of keeping the "
                        + "primary's name and UUID; for a standby that is also a primary of the same domains.")
        String suffix = "";
        @Option(names = "--socket-dir", paramLabel = "DIR",
                description = "Where the replicas' console and channel sockets go (default: STATE/sockets).")
        Path socketDir;
        @Option(names = "--kernel-dir", paramLabel = "DIR",
                description = "A directory a replica's direct-boot kernel and initrd may come from (\"kernelDirs\"; "
                        + "repeatable). Without one, a replica that boots a kernel file is not defined.")
        List<Path> kernelDirs = List.of();

        /** For the commands outside the daemon: the limits of the standby's configuration file, with these options. */
        ReplicaDefinition.Options options(Path state) throws ConfigException {
            StandbyConfig.ReplicaLimits file = StandbyConfig.replicaLimits(StandbyConfig.DEFAULT_FILE);
            List<Path> dirs = new ArrayList<>(file.kernelDirs());
            dirs.addAll(kernelDirs);
            return new ReplicaDefinition.Options(suffix, socketDir != null ? socketDir : state.resolve("sockets"), state,
                    ReplicaDefinition.Allowlist.of(new StandbyConfig.ReplicaLimits(file.networks(), file.bridges(), dirs,
                            file.emulator(), file.firmwareDir())));
        }
    }

    @Command(name = "standby", mixinStandardHelpOptions = true, footer = ExitCodes.HELP,
            description = {"Receive deltas from pinned primaries, verify and apply them to the replicas, keep points, "
                    + "and keep each replica domain defined (shut off) in the standby's libvirt.",
                    "Settings come from the configuration file (default /etc/amirror/standby.json; 'amirror policy "
                            + "schema standby' lists them); options given here override it, and --peer adds to its "
                            + "peers."})
    static final class Standby implements Callable<Integer> {
        @Spec
        CommandSpec spec;
        @Mixin
        LinkCommands.StateDir stateDir;
        @Mixin
        DefinitionOptions definition;
        @Option(names = "--config", paramLabel = "FILE", description = "The configuration file (default: "
                + "/etc/amirror/standby.json; a missing default file means options only).")
        Path configFile;
        @Option(names = "--check", description = "Check the configuration (file and options), print it, and exit.")
        boolean check;
        @Option(names = "--listen", paramLabel = "HOST:PORT", description = "Where primaries connect (\"listen\").")
        String listen;
        @Option(names = "--peer", paramLabel = "FINGERPRINT", description = "A pinned primary, added to \"peers\".")
        List<String> peers = List.of();
        @Option(names = "--ca", paramLabel = "PEM", description = "Also trust primaries signed by this CA (\"ca\").")
        Path ca;
        @Option(names = "--keep", description = "Recovery points kept per disk until the primary's policy says "
                + "otherwise (default: 24).")
        Integer keep;
        @Option(names = "--keep-days", description = "Drop recovery points older than this, until the primary's policy "
                + "says otherwise (default: 30).")
        Integer keepDays;
        @Option(names = "--no-define", description = "Do not define replica domains in libvirt.")
        boolean noDefine;

        /** The options given on this command line, as fields of the configuration file. */
        com.fasterxml.jackson.databind.node.ObjectNode overrides() {
            var o = StandbyConfig.overrides();
            var given = spec.commandLine().getParseResult();
            if (given.hasMatchedOption("--state")) {
                o.put("stateDir", stateDir.path.toAbsolutePath().toString());
            }
            if (listen != null) {
                o.put("listen", listen);
            }
            if (!peers.isEmpty()) {
                peers.forEach(o.putArray("peers")::add);
            }
            if (ca != null) {
                o.put("ca", ca.toAbsolutePath().toString());
            }
            if (given.hasMatchedOption("--libvirt")) {
                o.put("libvirtUri", definition.libvirtUri);
            }
            var replicas = o.putObject("replicas");
            if (noDefine) {
                replicas.put("define", false);
            }
            if (given.hasMatchedOption("--replica-suffix")) {
                replicas.put("suffix", definition.suffix);
            }
            if (definition.socketDir != null) {
                replicas.put("socketDir", definition.socketDir.toAbsolutePath().toString());
            }
            if (!definition.kernelDirs.isEmpty()) {
                var dirs = replicas.putArray("kernelDirs");
                definition.kernelDirs.forEach(d -> dirs.add(d.toAbsolutePath().toString()));
            }
            var retention = o.putObject("retention");
            if (keep != null) {
                retention.put("keep", keep);
            }
            if (keepDays != null) {
                retention.put("maxAgeDays", keepDays);
            }
            if (replicas.isEmpty()) {
                o.remove("replicas");
            }
            if (retention.isEmpty()) {
                o.remove("retention");
            }
            return o;
        }

        @Override
        public Integer call() throws Exception {
            StandbyConfig cfg = StandbyConfig.load(configFile != null ? configFile : StandbyConfig.DEFAULT_FILE,
                    configFile != null, overrides());
            if (check) {
                System.out.println("standby configuration ok: " + cfg.describe());
                return ExitCodes.OK;
            }
            Identity me = Identity.load(cfg.stateDir());
            DiskImage.Tools tools = DiskImage.Tools.installed();
            Path absState = cfg.stateDir().toAbsolutePath();
            Receiver.ReplicaListener definer = !cfg.defineReplicas() ? d -> {
            } : new ReplicaDefiner(cfg.libvirtUri(), new ReplicaDefinition.Options(cfg.replicaSuffix(),
                    cfg.socketDirOrDefault(), absState, ReplicaDefinition.Allowlist.of(cfg.replicaLimits())));
            try (Receiver r = new Receiver(Tls.listen(Tls.context(me, Set.copyOf(cfg.peers()), cfg.ca()), cfg.listen()),
                    absState.resolve("replicas"), tools, new ReplicaDisk.Retention(cfg.keep(), cfg.keepAge()),
                    definer).start()) {
                System.out.println("standby listening on " + cfg.listenText() + " as " + me.fingerprint() + " ("
                        + cfg.describe() + ")");
                CountDownLatch stop = new CountDownLatch(1);
                Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown));
                stop.await();
            }
            return 0;
        }
    }

    @Command(name = "replicas", mixinStandardHelpOptions = true, footer = ExitCodes.HELP,
            description = {"On the standby: every replica it holds, with the point it is at, when that point was "
                    + "applied here and its age, the recovery points kept, and whether it was promoted.",
                    "With --max-age, a replica whose point is older is STALE and the exit status is 5: the standby's "
                            + "own RPO check, which still works when the primary's host or uplink is down."})
    static final class Replicas implements Callable<Integer> {
        @Mixin
        LinkCommands.StateDir stateDir;
        @Option(names = "--json", description = "Print the report as JSON (schema: 'amirror policy schema replicas').")
        boolean json;
        @Option(names = "--max-age", paramLabel = "DURATION", description = "A replica whose newest point was applied "
                + "longer ago is stale, e.g. 1h (a number and s, m, h or d).")
        String maxAge;

        @Override
        public Integer call() throws Exception {
            java.time.Duration limit = maxAge == null ? null : io.amirror.config.Durations.parse(maxAge);
            java.time.Instant now = java.time.Instant.now();
            List<io.amirror.standby.ReplicaReport.Entry> entries = io.amirror.standby.ReplicaReport.of(
                    replicas(stateDir), DiskImage.Tools.installed(), now, limit);
            if (json) {
                var doc = new java.util.LinkedHashMap<String, Object>();
                doc.put("now", now.toString());
                doc.put("maxAgeSeconds", limit == null ? null : limit.toSeconds());
                doc.put("replicas", entries);
                System.out.println(new com.fasterxml.jackson.databind.ObjectMapper().writerWithDefaultPrettyPrinter()
                        .writeValueAsString(doc));
            } else {
                System.out.printf("%-24s %-7s %-22s %-8s %-7s %-10s %s%n", "DOMAIN", "POINT", "APPLIED", "AGE", "KEPT",
                        "ON DISK", "STATE");
                for (var e : entries) {
                    System.out.printf("%-24s %-7s %-22s %-8s %-7d %-10s %s%n",
                            e.domain() != null ? e.domain() : e.uuid(), e.point() == null ? "-" : e.point(),
                            e.appliedAt() == null ? "-" : e.appliedAt().replaceFirst("\\.\\d+Z$", "Z"),
                            e.ageSeconds() == null ? "-" : Progress.duration(e.ageSeconds()),
                            e.disks().stream().mapToInt(d -> d.points().size()).min().orElse(0),
                            Progress.bytes(e.disks().stream().mapToLong(io.amirror.standby.ReplicaReport.Disk::allocatedBytes)
                                    .sum()),
                            e.health().equals("stale") ? "STALE (older than " + maxAge + ")"
                                    : e.health().equals("promoted") ? "PROMOTED at point " + e.promoted().point() + " on "
                                    + e.promoted().at() : e.health());
                    if (e.definition() != null && (e.definition().refused() != null || e.definition().dropped() > 0)) {
                        System.out.println("  definition: " + e.definition().summary());
                        e.definition().changes().forEach(c -> System.out.println("    " + c));
                    }
                }
            }
            return entries.stream().anyMatch(e -> e.health().equals("stale")) ? ExitCodes.NOT_HEALTHY : ExitCodes.OK;
        }
    }

    @Command(name = "points", mixinStandardHelpOptions = true,
            description = "List the recovery points a standby keeps for a domain, disk by disk.")
    static final class Points implements Callable<Integer> {
        @Mixin
        LinkCommands.StateDir stateDir;
        @Parameters(index = "0", paramLabel = "DOMAIN", description = "The domain's name (primary's or replica's) or UUID.")
        String domain;

        @Override
        public Integer call() throws Exception {
            ReplicaDomain d = find(stateDir, domain);
            var m = d.manifest();
            System.out.printf("%s (%s)%s%s%n", m.map(x -> x.name()).orElse("?"), d.uuid(),
                    d.definedName().map(n -> ", replica domain '" + n + "'").orElse(""),
                    d.promoted().map(p -> ", PROMOTED at point " + p.point() + " on " + p.at()).orElse(""));
            d.failoverPoint().ifPresent(k -> System.out.println("  the next start rolls to point " + k));
            for (String disk : d.diskNames()) {
                ReplicaDisk r = d.disk(disk);
                ReplicaDisk.State s = r.state();
                System.out.printf("  %s: at point %d%s%n", disk, s.point(), s.pending() == 0 ? "" : " (applying " + s.pending() + ")");
                for (ReplicaDisk.Point p : r.points()) {
                    System.out.printf("    point %-6d %s%n", p.point(), p.date());
                }
            }
            return 0;
        }
    }

    @Command(name = "failover", mixinStandardHelpOptions = true,
            description = {"On the standby: make the replica of DOMAIN the domain and start it. The replica finishes "
                    + "any pending apply and goes to the newest consistent point, or to --point K; from then on it "
                    + "receives nothing from the old primary.",
                    "A plain 'virsh start' of the replica does the same through the libvirt hook; --point K with "
                            + "--no-start only chooses the point for that start."})
    static final class Failover implements Callable<Integer> {
        @Mixin
        LinkCommands.StateDir stateDir;
        @Mixin
        DefinitionOptions definition;
        @Parameters(index = "0", paramLabel = "DOMAIN", description = "The domain's name (primary's or replica's) or UUID.")
        String domain;
        @Option(names = "--point", paramLabel = "K", description = "Start from kept recovery point K (see amirror points).")
        Integer point;
        @Option(names = "--no-start", description = "Only prepare (or only choose --point K); do not start the domain.")
        boolean noStart;

        @Override
        public Integer call() throws Exception {
            ReplicaDomain d = find(stateDir, domain);
            String label = d.definedName().orElse(domain);
            if (point != null) {
                if (d.promoted().isPresent()) {
                    throw new Promotion.Refused(label + " was already started as the domain at point "
                            + d.promoted().get().point() + "; its replica no longer has points to choose from");
                }
                d.requestFailoverPoint(point);
                if (noStart) {
                    System.out.println(label + ": the next start rolls the replica to point " + point);
                    return 0;
                }
            }
            if (!noStart && d.promoted().isEmpty()) { // the definition is current before the start (no lock held)
                new ReplicaDefiner(definition.libvirtUri, definition.options(stateDir.path.toAbsolutePath())).define(d);
            }
            Promotion.Outcome o = Promotion.prepare(d, label);
            o.steps().forEach(s -> System.out.println(label + ": " + s));
            System.out.println(label + ": replica at point " + o.point() + ", ready to run");
            if (noStart) {
                return 0;
            }
            if (d.manifest().map(ReplicaManifest::bridged).orElse(false)) {
                System.out.println(label + " is a bridge guest: start it with 'amirror bridge failover', or by hand from "
                        + "the replica image with its launcher: " + String.join(" ", d.manifest().get().launcher()));
                return 0;
            }
            String name = d.definedName().orElseThrow(() -> new IllegalStateException("the replica of " + domain
                    + " was never defined in libvirt; run the standby with libvirt, or define it by hand from "
                    + d.directory().resolve("manifest.json")));
            Connect c = new Connect(definition.libvirtUri);
            try {
                Domain dom = c.domainLookupByName(name);
                if (dom.isActive() == 1) {
                    System.out.println(name + " is running");
                } else {
                    dom.create();
                    System.out.println(name + " started");
                }
            } finally {
                c.close();
            }
            return 0;
        }
    }

    @Command(name = "seed", description = "Start replicas without a full copy over the link: from a copy already on "
            + "the standby (adopt), or from removable media (export on the primary, import on the standby).",
            subcommands = {Seed.Adopt.class, SeedMediaCommands.Export.class, SeedMediaCommands.Import.class,
                SeedMediaCommands.Cancel.class})
    static final class Seed {
        @Command(name = "adopt", mixinStandardHelpOptions = true,
                description = {"Make IMAGE (an older copy of the disk: a backup, or the old primary's disk after a "
                        + "failover) the start of the replica of DOMAIN-UUID's DISK. It is copied into the replica and "
                        + "hashed here; the primary fetches the hashes (16 bytes per 4 KiB) before its first point and "
                        + "sends only the blocks that differ.",
                        "For failback: on the old primary, run a standby, adopt the old disk for the promoted domain's "
                                + "UUID, and replicate the promoted domain back to it."})
        static final class Adopt implements Callable<Integer> {
            @Mixin
            LinkCommands.StateDir stateDir;
            @Parameters(index = "0", paramLabel = "DOMAIN-UUID")
            java.util.UUID domain;
            @Option(names = "--disk", required = true, description = "The disk's target, e.g. vda.")
            String disk;
            @Option(names = "--image", required = true, paramLabel = "IMAGE", description = "The copy (raw or qcow2).")
            Path image;

            @Override
            public Integer call() throws Exception {
                ReplicaDomain d = new ReplicaDomain(replicas(stateDir), domain, DiskImage.Tools.installed());
                ReplicaDisk r = d.disk(disk, ReplicaDisk.Retention.count(Integer.MAX_VALUE));
                long t0 = System.nanoTime();
                r.adopt(image);
                System.out.printf("%s %s: seeded from %s in %.1f s; the primary's first point sends only what differs%n",
                        domain, disk, image, (System.nanoTime() - t0) / 1e9);
                return 0;
            }
        }
    }

    @Command(name = "replica", description = "What the libvirt hook runs on the standby.",
            subcommands = {Replica.Prepare.class})
    static final class Replica {
        @Command(name = "prepare", mixinStandardHelpOptions = true,
                description = "Read a domain XML on stdin (libvirt's 'prepare begin' hook); if it is an amirror replica, "
                        + "make it ready to start (see failover) or refuse the start with the reason. Any other domain "
                        + "passes untouched. Calls no libvirt.")
        static final class Prepare implements Callable<Integer> {
            @Override
            public Integer call() throws Exception {
                String xml = new String(System.in.readNBytes(16 << 20), StandardCharsets.UTF_8);
                var marker = ReplicaDefinition.marker(xml);
                if (marker.isEmpty()) {
                    return 0;
                }
                String name = ReplicaDefinition.parse(xml).getDocumentElement().getElementsByTagName("name").item(0)
                        .getTextContent();
                ReplicaDomain d = new ReplicaDomain(marker.get().stateDir().resolve("replicas"), marker.get().source(),
                        DiskImage.Tools.installed());
                Promotion.Outcome o = Promotion.prepare(d, name);
                if (!o.earlier()) {
                    o.steps().forEach(s -> System.err.println("amirror: " + name + ": " + s));
                    System.err.println("amirror: " + name + ": replica promoted at point " + o.point());
                }
                return 0;
            }
        }
    }
}
