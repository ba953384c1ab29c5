package io.amirror.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.amirror.config.ConfigException;
import io.amirror.config.DrillPlan;
import io.amirror.config.Durations;
import io.amirror.config.StandbyConfig;
import io.amirror.drill.DrillScheduler;
import io.amirror.drill.ReplicaDrill;
import io.amirror.image.DiskImage;
import io.amirror.standby.DrillReport;
import io.amirror.standby.ReplicaFailover;
import io.amirror.standby.Promotion;
import io.amirror.standby.ReplicaDefinition;
import io.amirror.standby.ReplicaDisk;
import io.amirror.standby.SeedSource;
import io.amirror.standby.ReplicaDomain;
import io.amirror.standby.ReplicaReport;
import io.amirror.standby.StandbyLayout;
import io.amirror.standby.StandbyService;
import io.amirror.util.ShellText;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** The standby's commands: receive, list points, fail over, and the hook's check at a replica's start. */
final class StandbyCommands {
    static final String DEFAULT_LIBVIRT = "qemu:///system";

    private StandbyCommands() {
    }

    static Path replicas(LinkCommands.StateDir s) {
        return StandbyLayout.of(s.path).replicas();
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
            StandbyLayout layout = StandbyLayout.of(state);
            StandbyConfig.ReplicaLimits file = StandbyConfig.replicaLimits(StandbyConfig.DEFAULT_FILE);
            List<Path> dirs = new ArrayList<>(file.kernelDirs());
            dirs.addAll(kernelDirs);
            return new ReplicaDefinition.Options(suffix, socketDir != null ? socketDir : layout.sockets(),
                    layout.stateDir(), ReplicaDefinition.Allowlist.of(new StandbyConfig.ReplicaLimits(file.networks(),
                    file.bridges(), dirs, file.emulator(), file.firmwareDir())));
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
        @Option(names = "--allow-switchover", description = "Take planned switchovers from the replicas' owners "
                + "(\"switchover\": {\"allow\": true}): promote, start, and replicate back ('amirror switchover').")
        boolean allowSwitchover;
        @Option(names = "--metrics", paramLabel = "HOST:PORT", description = "Serve Prometheus metrics at /metrics there "
                + "(\"metrics\": {\"listen\": ...}; port 0 picks a free one).")
        String metrics;

        /** The options given on this command line, as fields of the configuration file. */
        ObjectNode overrides() {
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
            if (allowSwitchover) {
                o.putObject("switchover").put("allow", true);
            }
            if (metrics != null) {
                o.putObject("metrics").put("listen", metrics);
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
            if (cfg.defineReplicas()) {
                try {
                    for (String id : ReplicaDrill.sweep(StandbyLayout.of(cfg.stateDir()), cfg.libvirtUri())) {
                        System.out.println("removed what drill " + id + " left behind (its process was killed)");
                    }
                } catch (IOException | RuntimeException e) {
                    System.err.println("amirror: the leftovers of killed drills were not swept: " + e.getMessage());
                }
            }
            try (StandbyService standby = StandbyService.start(cfg);
                 DrillScheduler drills = DrillScheduler.start(cfg.defineReplicas() ? cfg.drills() : DrillPlan.NONE,
                         StandbyLayout.of(cfg.stateDir()), cfg.libvirtUri(), cfg.socketDirOrDefault(),
                         DiskImage.Tools.installed());
                 SwitchoverRoles wayBack = SwitchoverRoles.ofStandby(cfg)) {
                System.out.println(standby.describe());
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
                + "longer ago is stale, e.g. 1h (a number and s, m, h or d); the age counts from the primary's cut time "
                + "when the point carries one.")
        String maxAge;

        @Override
        public Integer call() throws Exception {
            Duration limit = maxAge == null ? null : Durations.parse(maxAge);
            Instant now = Instant.now();
            List<ReplicaReport.Entry> entries = ReplicaReport.of(replicas(stateDir), DiskImage.Tools.installed(), now,
                    limit);
            if (json) {
                var doc = new LinkedHashMap<String, Object>();
                doc.put("now", now.toString());
                doc.put("maxAgeSeconds", limit == null ? null : limit.toSeconds());
                doc.put("replicas", entries);
                System.out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(doc));
            } else {
                // the replica domain's name first (what virsh shows on this host); the primary's name and the
                // UUID below it, since two primaries may each send a domain of the same name
                int width = Math.max(24, entries.stream().mapToInt(e -> replicaColumn(e).length() + 1).max().orElse(0));
                System.out.printf("%-" + width + "s %-7s %-22s %-8s %-7s %-10s %s%n", "REPLICA", "POINT", "APPLIED", "AGE",
                        "KEPT", "ON DISK", "STATE");
                for (var e : entries) {
                    System.out.printf("%-" + width + "s %-7s %-22s %-8s %-7d %-10s %s%n", replicaColumn(e),
                            e.point() == null ? "-" : e.point(),
                            e.appliedAt() == null ? "-" : e.appliedAt().replaceFirst("\\.\\d+Z$", "Z"),
                            e.ageSeconds() == null ? "-" : Progress.duration(e.ageSeconds()),
                            e.disks().stream().mapToInt(d -> d.points().size()).min().orElse(0),
                            Progress.bytes(e.disks().stream().mapToLong(ReplicaReport.Disk::allocatedBytes).sum()),
                            e.health().equals("stale") ? "STALE (older than " + maxAge + ")"
                                    : e.health().equals("promoted") ? "PROMOTED at point " + e.promoted().point() + " on "
                                    + e.promoted().at() + (e.promoted().committed() ? "" : " (a trial: not committed)")
                                    : e.health());
                    System.out.println("  of: " + (e.domain() != null ? e.domain() : "(name not known yet)") + ", uuid "
                            + e.uuid() + (e.replicaDomain() != null ? "" : " (no replica domain defined)"));
                    if (e.owner() != null) {
                        System.out.println("  owner: " + e.owner().tenant() + (e.owner().tenant().equals(
                                e.owner().fingerprint()) ? "" : " (" + e.owner().fingerprint() + ")"));
                    }
                    if (e.definition() != null && (e.definition().refused() != null || e.definition().dropped() > 0)) {
                        System.out.println("  definition: " + e.definition().summary());
                        e.definition().changes().forEach(c -> System.out.println("    " + c));
                    }
                    if (e.lastStart() != null) {
                        // the summary and output came from the guest: shown as printable text only
                        System.out.println("  last start: " + e.lastStart().startedAt() + " at point "
                                + e.lastStart().point() + ": " + (e.lastStart().passed() ? "" : "NOT UP: ")
                                + ShellText.printable(e.lastStart().summary()));
                    }
                    if (e.drilling() != null) {
                        System.out.println("  drill " + e.drilling().id() + " under way since " + e.drilling().since()
                                + " at point " + e.drilling().point() + " (kept until it ends)");
                    }
                    if (e.lastDrill() != null) {
                        DrillReport r = e.lastDrill();
                        System.out.println("  last drill: " + r.endedAt() + " at point " + r.point() + ": "
                                + (r.passed() ? "passed" : "FAILED") + (r.bootSeconds() == null ? ""
                                : String.format(", up in %.0f s", r.bootSeconds())) + ": " + ShellText.printable(r.summary()));
                    }
                }
            }
            return entries.stream().anyMatch(e -> e.health().equals("stale")) ? ExitCodes.NOT_HEALTHY : ExitCodes.OK;
        }

        private static String replicaColumn(ReplicaReport.Entry e) {
            return e.replicaDomain() != null ? e.replicaDomain() : e.domain() != null ? e.domain() : e.uuid();
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
                    d.promoted().map(p -> ", PROMOTED at point " + p.point() + " on " + p.at()
                            + (p.committed() ? "" : " (a trial: --point K tries another once it is shut down, --commit "
                            + "makes it final)")).orElse(""));
            d.failoverPoint().ifPresent(k -> System.out.println("  the next start rolls to point " + k));
            for (String disk : d.diskNames()) {
                ReplicaDisk r = d.disk(disk);
                ReplicaDisk.State s = r.state();
                System.out.printf("  %s: at point %d%s%n", disk, s.point(), s.pending() == 0 ? "" : " (applying " + s.pending() + ")");
                for (ReplicaDisk.Point p : r.points()) {
                    System.out.printf("    point %-6d %s%s%n", p.point(), p.date(),
                            p.cutAt() == null ? "" : "  cut on the primary " + p.cutAt());
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
                            + "--no-start only chooses the point for that start.",
                    "A failover is a trial until --commit: shut the domain down and fail over again with --point K to "
                            + "try another kept point (newer points are kept until then)."})
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
        @Option(names = "--no-check", description = "Do not wait for the started guest's agent nor run the policy's "
                + "boot check (by default failover waits for both and exits 5 when the guest did not come up).")
        boolean noCheck;
        @Option(names = "--commit", description = "Make the failover's point final. Until then the failover is a "
                + "trial: with the domain shut down, --point K tries another kept point (what the guest wrote since "
                + "its start is discarded), and the newer points stay.")
        boolean commit;

        @Override
        public Integer call() throws Exception {
            ReplicaDomain d = find(stateDir, domain);
            String label = d.definedName().orElse(domain);
            ReplicaFailover failover = new ReplicaFailover(d, label, definition.libvirtUri,
                    definition.options(stateDir.path), System.out::println).checkingGuest(!noCheck);
            if (commit) {
                if (point != null || noStart) {
                    throw new IllegalArgumentException("--commit takes no --point nor --no-start: it makes the "
                            + "running failover's point final");
                }
                failover.commit();
                return ExitCodes.OK;
            }
            if (point != null) {
                failover.choosePoint(point);
                if (noStart) {
                    System.out.println(label + ": the next start rolls the replica to point " + point);
                    return 0;
                }
            }
            failover.run(!noStart);
            return failover.guestUp().map(r -> r.passed() ? ExitCodes.OK : ExitCodes.NOT_HEALTHY).orElse(ExitCodes.OK);
        }
    }

    @Command(name = "seed", mixinStandardHelpOptions = true, description = "Start replicas without a full copy over the link: from a copy already on "
            + "the standby (adopt), or from removable media (export on the primary, import on the standby).",
            subcommands = {Seed.Adopt.class, SeedMediaCommands.Export.class, SeedMediaCommands.Import.class,
                SeedMediaCommands.Cancel.class})
    static final class Seed {
        @Command(name = "adopt", mixinStandardHelpOptions = true,
                description = {"Make IMAGE (an older copy of the disk: a backup, or the old primary's disk after a "
                        + "failover) the start of the replica of DOMAIN-UUID's DISK. It is copied into the replica and "
                        + "hashed here; the primary fetches the hashes (16 bytes per 4 KiB) before its first point and "
                        + "sends only the blocks that differ.",
                        "IMAGE is a raw or qcow2 file or block device that holds the whole disk itself: one with a "
                                + "backing file or an external data file, an encrypted one, or one larger than the "
                                + "standby's limits.maxDiskBytes is refused, and nothing is made.",
                        "For failback: on the old primary, run a standby, adopt the old disk for the promoted domain's "
                                + "UUID, and replicate the promoted domain back to it."})
        static final class Adopt implements Callable<Integer> {
            @Mixin
            LinkCommands.StateDir stateDir;
            @Parameters(index = "0", paramLabel = "DOMAIN-UUID")
            UUID domain;
            @Option(names = "--disk", required = true, description = "The disk's target, e.g. vda.")
            String disk;
            @Option(names = "--image", required = true, paramLabel = "IMAGE", description = "The copy (raw or qcow2).")
            Path image;
            @Option(names = "--format", paramLabel = "raw|qcow2", description = "The copy's format (default: what "
                    + "qemu-img finds; give raw for a raw disk, whose guest may have written anything at its start).")
            String format;
            @Option(names = "--config", paramLabel = "FILE", description = "The standby's configuration, for its "
                    + "limits.maxDiskBytes (default: ${DEFAULT-VALUE}; a missing file: 16 TiB).")
            Path config = StandbyConfig.DEFAULT_FILE;

            @Override
            public Integer call() throws Exception {
                DiskImage.Tools tools = DiskImage.Tools.installed();
                ReplicaDomain d = new ReplicaDomain(replicas(stateDir), domain, tools);
                ReplicaDisk r = d.disk(disk, ReplicaDisk.Retention.count(Integer.MAX_VALUE));
                long t0 = System.nanoTime();
                // probed before the replica's directory or lock is made: a refused copy leaves nothing behind
                SeedSource source = SeedSource.probe(image, format, StandbyConfig.maxDiskBytes(config), tools);
                try (ReplicaDomain.Lock lock = d.lock()) {
                    r.adopt(source);
                }
                System.out.printf("%s %s: seeded from %s (%s, %d bytes) in %.1f s; the primary's first point sends only "
                        + "what differs%n", domain, disk, image, source.format(), source.virtualSize(),
                        (System.nanoTime() - t0) / 1e9);
                return 0;
            }
        }
    }

    @Command(name = "replica", mixinStandardHelpOptions = true, description = "What the libvirt hook runs on the standby. Each reads the domain XML "
            + "on stdin, passes any domain that is not an amirror replica untouched, and calls no libvirt.",
            subcommands = {Replica.Prepare.class, Replica.Started.class, Replica.Released.class})
    static final class Replica {
        /** The wait for a replica's lock, shared by the hook's three steps. */
        static final class Wait {
            @Option(names = "--wait", paramLabel = "SECONDS", description = "How long to wait for the replica's lock "
                    + "(a transfer lets go when it sees the start, an apply when it ends); default: ${DEFAULT-VALUE}.")
            long seconds = Promotion.DEFAULT_WAIT.toSeconds();

            Duration duration() {
                if (seconds < 1 || seconds > 3600) {
                    throw new IllegalArgumentException("--wait must be 1 to 3600 seconds, not " + seconds);
                }
                return Duration.ofSeconds(seconds);
            }
        }

        static String readXml() throws IOException {
            return new String(System.in.readNBytes(16 << 20), StandardCharsets.UTF_8);
        }

        static void tell(Optional<Promotion.Start> start, String last) {
            if (start.isPresent() && !start.get().outcome().earlier()) {
                String name = ShellText.printable(start.get().name()); // a name is data, not terminal codes
                start.get().outcome().steps().forEach(s -> System.err.println("amirror: " + name + ": " + s));
                if (last != null) {
                    System.err.println("amirror: " + name + ": " + last + start.get().outcome().point());
                }
            }
        }

        /** One of the hook's steps: what it does with the domain XML, and its last line when it changed something. */
        abstract static class Step implements Callable<Integer> {
            @Mixin
            Wait wait;

            abstract Optional<Promotion.Start> run(String xml, DiskImage.Tools tools, Duration wait) throws IOException;

            String lastLine() {
                return null;
            }

            @Override
            public Integer call() throws Exception {
                tell(run(readXml(), DiskImage.Tools.installed(), wait.duration()), lastLine());
                return 0;
            }
        }

        @Command(name = "prepare", mixinStandardHelpOptions = true,
                description = "At libvirt's 'prepare begin': if the domain is an amirror replica, make it ready to "
                        + "start (see failover) or refuse the start with the reason. The standby takes no delta for "
                        + "it until the start is seen running (then it is promoted) or failed (then it is a replica "
                        + "again).")
        static final class Prepare extends Step {
            @Override
            Optional<Promotion.Start> run(String xml, DiskImage.Tools tools, Duration wait) throws IOException {
                return Promotion.prepareStart(xml, tools, wait);
            }

            @Override
            String lastLine() {
                return "replica ready to start at point ";
            }
        }

        @Command(name = "started", mixinStandardHelpOptions = true,
                description = "At libvirt's 'started begin': a replica domain runs, so its replica is promoted: the "
                        + "live disk, which takes nothing more from the old primary.")
        static final class Started extends Step {
            @Override
            Optional<Promotion.Start> run(String xml, DiskImage.Tools tools, Duration wait) throws IOException {
                return Promotion.startedHook(xml, tools, wait);
            }
        }

        @Command(name = "released", mixinStandardHelpOptions = true,
                description = "At libvirt's 'release end': a replica domain whose start failed is a replica again; "
                        + "after a promoted domain's stop nothing changes.")
        static final class Released extends Step {
            @Override
            Optional<Promotion.Start> run(String xml, DiskImage.Tools tools, Duration wait) throws IOException {
                return Promotion.releasedHook(xml, tools, wait);
            }
        }
    }
}
