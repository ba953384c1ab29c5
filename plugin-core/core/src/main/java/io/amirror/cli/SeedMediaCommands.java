package io.amirror.cli;

import io.amirror.capture.DomainCapture;
import io.amirror.config.Policy;
import io.amirror.config.PolicyLoader;
import io.amirror.config.PrimaryConfig;
import io.amirror.config.StandbyConfig;
import io.amirror.delta.DeltaEncoder;
import io.amirror.delta.XzBlockCodec;
import io.amirror.image.DiskImage;
import io.amirror.libvirt.LibvirtSession;
import io.amirror.primary.Replication;
import io.amirror.spool.Spool;
import io.amirror.standby.SeedMedia;
import io.amirror.transport.ReplicaManifest;
import org.libvirt.Domain;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** {@code amirror seed export|import|cancel}: a domain's first point carried on removable media. */
final class SeedMediaCommands {
    private SeedMediaCommands() {
    }

    @Command(name = "export", mixinStandardHelpOptions = true,
            description = {"On the primary: capture DOMAIN's first point and write it to DIR (removable media): "
                    + "xz deltas with their checksums, and the replica manifest. Until the standby has imported it, "
                    + "the daemon sends nothing of that point over the link; its next point carries only what "
                    + "changed since the export.",
                    "Run it before the domain's first cycle (before a policy covers it, or while the daemon is stopped)."})
    static final class Export implements Callable<Integer> {
        @Mixin
        PrimarySettings settings;
        @Option(names = "--policy", paramLabel = "FILE", description = "The domain's policy: its network map and "
                + "retention go into the manifest.")
        Path policy;
        @Option(names = "--preset", defaultValue = "9", description = "xz preset (default: 9; the media has room, "
                + "the time is the export's).")
        String preset;
        @Parameters(index = "0", paramLabel = "DOMAIN")
        String domain;
        @Parameters(index = "1", paramLabel = "DIR")
        Path dir;

        @Override
        public Integer call() throws Exception {
            PrimaryConfig cfg = settings.config();
            Policy p = policy == null ? null : PolicyLoader.load(policy);
            DiskImage.Tools tools = DiskImage.Tools.installed();
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try (LibvirtSession libvirt = new LibvirtSession(cfg.libvirtUri())) {
                Domain d = libvirt.call(c -> c.domainLookupByName(domain));
                Replication r = Replication.ofDomain(d, cfg.stateDir(), new DomainCapture(new DomainCapture.Options(
                        tools.qemuNbd(), tools.qemuImg(), cfg.scratchDir(), Duration.ofSeconds(120))),
                        new Spool(cfg.stateDir().resolve("spool"), cfg.spoolLimitBytes()), pool, 2);
                long t0 = System.nanoTime();
                Replication.Captured c = r.captureSeed(XzBlockCodec.Preset.parse(preset));
                ReplicaManifest m = new ReplicaManifest(r.uuid(), d.getName(), c.spooled().newPoint(), d.getXMLDesc(3),
                        p == null ? Map.of() : p.replica().networks(),
                        p == null ? Map.of() : p.replica().bridges(),
                        p == null ? PolicyLoader.DEFAULT_KEEP : p.keepPoints(),
                        (p == null ? Duration.ofDays(PolicyLoader.DEFAULT_KEEP_DAYS) : p.keepAge()).toSeconds(), null);
                List<DeltaEncoder.DiskDelta> deltas = c.deltas();
                SeedMedia.Index index = SeedMedia.write(dir, r.uuid(), d.getName(), c.spooled().newPoint(),
                        deltas.stream().map(x -> x.entry().file()).toList(),
                        deltas.stream().map(DeltaEncoder.DiskDelta::disk).toList(), m);
                for (SeedMedia.Disk x : index.disks()) {
                    System.out.printf("%s %s: point %d, %d bytes of delta written to %s%n", domain, x.disk(), x.newPoint(),
                            x.size(), dir.resolve(x.file()));
                }
                System.out.printf("seed of %s (%s) written in %.1f s; on the standby: amirror seed import %s%n", domain,
                        r.uuid(), (System.nanoTime() - t0) / 1e9, dir);
                return 0;
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Command(name = "import", mixinStandardHelpOptions = true,
            description = "On the standby: verify the seed in DIR and apply it to the replica, as if it had arrived "
                    + "over the link. DIR must hold plain files only (no symbolic links); the seed's manifest is "
                    + "stored for its own domain only.")
    static final class Import implements Callable<Integer> {
        @Mixin
        LinkCommands.StateDir stateDir;
        @Option(names = "--config", paramLabel = "FILE", description = "The standby's configuration, for its "
                + "limits.maxDiskBytes (default: ${DEFAULT-VALUE}; a missing file: 16 TiB).")
        Path config = StandbyConfig.DEFAULT_FILE;
        @Parameters(index = "0", paramLabel = "DIR")
        Path dir;

        @Override
        public Integer call() throws Exception {
            long t0 = System.nanoTime();
            long maxDiskBytes = StandbyConfig.maxDiskBytes(config);
            SeedMedia.Index index = SeedMedia.read(dir);
            for (String line : SeedMedia.importInto(dir, StandbyCommands.replicas(stateDir), DiskImage.Tools.installed(),
                    maxDiskBytes)) {
                System.out.println(index.name() + " " + line);
            }
            System.out.printf("seed of %s (%s) imported in %.1f s%n", index.name(), index.uuid(),
                    (System.nanoTime() - t0) / 1e9);
            return 0;
        }
    }

    @Command(name = "cancel", mixinStandardHelpOptions = true,
            description = "On the primary: stop waiting for the standby to import DOMAIN's seed; its point goes over "
                    + "the link at the next cycle.")
    static final class Cancel implements Callable<Integer> {
        @Mixin
        PrimarySettings settings;

        @Parameters(index = "0", paramLabel = "DOMAIN")
        String domain;

        @Override
        public Integer call() throws Exception {
            PrimaryConfig cfg = settings.config();
            try (LibvirtSession libvirt = new LibvirtSession(cfg.libvirtUri())) {
                Domain d = libvirt.call(c -> c.domainLookupByName(domain));
                boolean waiting = Replication.cancelSeed(cfg.stateDir(), UUID.fromString(d.getUUIDString()));
                System.out.println(waiting ? domain + ": the seed's point will go over "
                        + "the link" : domain + ": no seed was waiting");
            }
            return 0;
        }
    }
}
