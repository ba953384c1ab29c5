package io.amirror.bench;

import io.amirror.capture.CaptureResult;
import io.amirror.capture.DomainCapture;
import io.amirror.delta.XzBlockCodec;
import io.amirror.lab.DiskSpec;
import io.amirror.lab.DomainSpec;
import io.amirror.lab.Lab;
import io.amirror.lab.LabDomain;
import io.amirror.primary.Replication;
import io.amirror.spool.Spool;
import io.amirror.util.FileTrees;

import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Does the cost of a point follow the dirty bytes or the disk size, and does the heap stay flat?
 * Through amirror's real pipeline (pull backup, refinement, xz, spool): one domain with a sparse
 * 1 GiB disk and one with a sparse 64 GiB disk, each with the same 8 MiB written and then the same
 * 4 MiB changed (at the far end of the disk); then 8 domains captured at once. The heap is read
 * after a GC at each step, in this process, which does the capturing.
 */
public final class ScaleBench {
    private static final long MIB = 1 << 20;

    public record Row(String what, long diskBytes, int domains, long dataRead, long delta, double seconds, long heapMiB,
                      long mapBytes) {
    }

    private ScaleBench() {
    }

    public static List<Row> run(Lab lab, PrintStream progress) throws Exception {
        Path work = Files.createTempDirectory(lab.options().workDir(), "scale-");
        ExecutorService pool = Executors.newFixedThreadPool(2);
        List<Row> rows = new ArrayList<>();
        DomainCapture capture = new DomainCapture(new DomainCapture.Options(lab.host().tool("qemu-nbd"),
                lab.host().tool("qemu-img"), lab.options().workDir().resolve("jobs"), Duration.ofSeconds(300)));
        try {
            for (long size : new long[] {1L << 30, 64L << 30}) {
                try (LabDomain vm = lab.createDomain(new DomainSpec(128, List.of(DiskSpec.qcow2("vda", size,
                        DiskSpec.Content.BLANK)), false)).start()) {
                    Path state = work.resolve("one-" + (size >> 30));
                    Replication r = Replication.ofDomain(vm.libvirtDomain(), state, capture,
                            new Spool(state.resolve("spool"), 8L << 30), pool, 2);
                    vm.console().check("dd if=/dev/urandom of=/dev/vda bs=1M seek=16 count=8 conv=fsync 2>/dev/null");
                    rows.add(point(r, "first point", size, 1, state, progress));
                    long far = size / MIB - 64;
                    vm.console().check("dd if=/dev/urandom of=/dev/vda bs=1M seek=" + far + " count=4 conv=fsync 2>/dev/null");
                    rows.add(point(r, "next point, 4 MiB changed", size, 1, state, progress));
                }
            }
            rows.add(many(lab, capture, pool, work, 8, progress));
            return rows;
        } finally {
            pool.shutdownNow();
            FileTrees.deleteQuietly(work);
        }
    }

    private static Row point(Replication r, String what, long size, int domains, Path state, PrintStream progress)
            throws Exception {
        long t0 = System.nanoTime();
        Replication.Captured c = r.capture(XzBlockCodec.Preset.parse("1"));
        double seconds = (System.nanoTime() - t0) / 1e9;
        r.acknowledged(c); // as if the standby took it: the next point is incremental
        long delta = c.deltas().stream().mapToLong(d -> d.entry().size()).sum();
        Row row = new Row(what, size, domains, c.capture().dataBytes(), delta, seconds, heapMiB(),
                Files.size(r.mapDirectory().resolve("vda.map")));
        progress.printf("%s of a %d GiB disk: %d bytes read, %d bytes of delta, %.1f s, heap %d MiB%n", what, size >> 30,
                row.dataRead(), delta, seconds, row.heapMiB());
        return row;
    }

    /** {@code n} domains with 256 MiB disks, 4 MiB written on each, captured at once (two at a time in flight). */
    private static Row many(Lab lab, DomainCapture capture, ExecutorService pool, Path work, int n, PrintStream progress)
            throws Exception {
        List<LabDomain> vms = new ArrayList<>();
        try {
            List<Replication> rs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                LabDomain vm = lab.createDomain(new DomainSpec(128, List.of(DiskSpec.qcow2("vda", 256 * MIB,
                        DiskSpec.Content.BLANK)), false)).start();
                vms.add(vm);
                Path state = work.resolve("many-" + i);
                rs.add(Replication.ofDomain(vm.libvirtDomain(), state, capture, new Spool(state.resolve("spool"), 1L << 30),
                        pool, 2));
            }
            for (LabDomain vm : vms) {
                vm.console().check("dd if=/dev/urandom of=/dev/vda bs=1M seek=8 count=4 conv=fsync 2>/dev/null");
            }
            ExecutorService cycles = Executors.newFixedThreadPool(n);
            long t0 = System.nanoTime();
            List<Future<Replication.Captured>> fs = new ArrayList<>();
            for (Replication r : rs) {
                fs.add(cycles.submit(() -> r.capture(XzBlockCodec.Preset.parse("1"))));
            }
            long read = 0;
            long delta = 0;
            for (Future<Replication.Captured> f : fs) {
                Replication.Captured c = f.get();
                read += c.capture().dataBytes();
                delta += c.deltas().stream().mapToLong(d -> d.entry().size()).sum();
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            cycles.shutdown();
            Row row = new Row(n + " domains at once, first points", 256 * MIB, n, read, delta, seconds, heapMiB(), 0);
            progress.printf("%d domains captured at once: %d bytes read, %d bytes of delta, %.1f s, heap %d MiB%n", n, read,
                    delta, seconds, row.heapMiB());
            return row;
        } finally {
            for (LabDomain vm : vms) {
                vm.close();
            }
        }
    }

    private static long heapMiB() {
        System.gc();
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed() >> 20;
    }

    public static void print(List<Row> rows, PrintStream out) {
        out.println();
        out.println("| step | disk | domains | bytes read | delta bytes | seconds | heap after GC (MiB) | hash map file |");
        out.println("|---|---:|---:|---:|---:|---:|---:|---:|");
        for (Row r : rows) {
            out.printf("| %s | %s | %d | %,d | %,d | %.1f | %d | %s |%n", r.what(),
                    r.diskBytes() >= 1L << 30 ? (r.diskBytes() >> 30) + " GiB" : (r.diskBytes() >> 20) + " MiB", r.domains(),
                    r.dataRead(), r.delta(), r.seconds(), r.heapMiB(), r.mapBytes() == 0 ? "-" : String.format("%,d", r.mapBytes()));
        }
    }
}
