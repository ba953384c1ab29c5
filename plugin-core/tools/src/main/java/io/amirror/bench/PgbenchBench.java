package io.amirror.bench;

import io.amirror.capture.DomainCapture;
import io.amirror.delta.XzBlockCodec;
import io.amirror.lab.DebianGuest;
import io.amirror.lab.Lab;
import io.amirror.lab.LabDomain;
import io.amirror.lab.PostgresWorkload;
import io.amirror.primary.Replication;
import io.amirror.spool.Spool;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Bytes of a pgbench "day" on the lab's real Debian server, per disk, through amirror's real
 * pipeline, against the reference: xz -9e of the 4 KiB blocks that truly changed. The guest boots
 * (UEFI, PostgreSQL on its data disk), a first point is taken at preset 1 (the first copy is not
 * what is measured), then each "day" runs {@code transactions} pgbench transactions and takes one
 * point at {@code preset}, acknowledged as the standby would.
 */
public final class PgbenchBench {

    /** One disk of one point: its changed 4 KiB blocks (raw, xz -9e) and amirror's delta at {@code preset}. */
    public record DiskPoint(String disk, String preset, long changed4k, long xz9e, long amirror, double seconds) {
        double ratio() {
            return (double) amirror / Math.max(1, xz9e);
        }
    }

    private PgbenchBench() {
    }

    public static List<DiskPoint> run(Lab lab, int days, int transactions, XzBlockCodec.Preset preset, PrintStream progress)
            throws Exception {
        Path work = Files.createTempDirectory("amirror-bench-pgbench-");
        ExecutorService pool = Executors.newFixedThreadPool(2);
        List<DiskPoint> out = new ArrayList<>();
        try (LabDomain vm = DebianGuest.create(lab)) {
            Duration boot = DebianGuest.bootToAgent(vm, Duration.ofMinutes(6));
            PostgresWorkload pg = new PostgresWorkload(vm.agent()).awaitReady(Duration.ofMinutes(3));
            progress.printf("Debian guest up: agent after %d s%n", boot.toSeconds());
            DomainCapture capture = new DomainCapture(new DomainCapture.Options(lab.host().tool("qemu-nbd"),
                    lab.host().tool("qemu-img"), lab.options().workDir().resolve("jobs"), Duration.ofSeconds(300)));
            Replication repl = Replication.ofDomain(vm.libvirtDomain(), work, capture,
                    new Spool(work.resolve("spool"), 16L << 30), pool, 2);
            long t0 = System.nanoTime();
            repl.acknowledged(repl.capture(new XzBlockCodec.Preset(1, false)));
            progress.printf("first point: %d s%n", (System.nanoTime() - t0) / 1_000_000_000);
            for (int day = 1; day <= days; day++) {
                long t1 = System.nanoTime();
                pg.run(transactions);
                progress.printf("day %d: %d pgbench transactions in %d s%n", day, transactions,
                        (System.nanoTime() - t1) / 1_000_000_000);
                DeltaBench.MeasuringSink[] sink = new DeltaBench.MeasuringSink[1];
                String name = "day" + day;
                long t = System.nanoTime();
                Replication.Captured cap = repl.capture(preset,
                        enc -> sink[0] = new DeltaBench.MeasuringSink(enc, repl.mapDirectory(), work, name));
                double seconds = (System.nanoTime() - t) / 1e9;
                for (var d : cap.deltas()) {
                    String disk = d.disk();
                    Path changed = sink[0].changedFile(disk);
                    DiskPoint p = new DiskPoint(disk, preset.toString(), Files.size(changed),
                            DeltaBench.compressedSize(changed, "xz", "-9e", "-T1", "-c"), d.entry().size(), seconds);
                    out.add(p);
                    progress.printf("day %d %s at %s: changed 4K %,d B | xz -9e %,d B | amirror %,d B (%.2fx) | "
                            + "capture+encode %.1f s%n", day, disk, p.preset(), p.changed4k(), p.xz9e(), p.amirror(),
                            p.ratio(), seconds);
                    Files.deleteIfExists(sink[0].extentsFile(disk));
                    Files.deleteIfExists(changed);
                }
                repl.acknowledged(cap);
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    public static void print(List<DiskPoint> points, PrintStream out) {
        out.println("| disk | preset | changed 4 KiB blocks | xz -9e of them (reference) | amirror delta | amirror / reference | capture+encode s |");
        out.println("|---|---|---|---|---|---|---|");
        for (DiskPoint p : points) {
            out.printf("| %s | %s | %,d | %,d | %,d | %.2f | %.1f |%n", p.disk(), p.preset(), p.changed4k(), p.xz9e(),
                    p.amirror(), p.ratio(), p.seconds());
        }
    }
}
