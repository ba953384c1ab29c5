package io.amirror.bench;

import io.amirror.util.WeeklyRate;
import io.amirror.capture.CaptureSink;
import io.amirror.capture.DomainCapture;
import io.amirror.delta.BlockHash;
import io.amirror.delta.DeltaFormat;
import io.amirror.delta.PresetChooser;
import io.amirror.delta.ReplicaHashMap;
import io.amirror.delta.XzBlockCodec;
import io.amirror.lab.DiskSpec;
import io.amirror.lab.DomainSpec;
import io.amirror.lab.Lab;
import io.amirror.lab.LabDomain;
import io.amirror.lab.OfficeWorkload;
import io.amirror.libvirt.DiskInfo;
import io.amirror.primary.Replication;
import io.amirror.spool.Spool;
import io.amirror.util.Exec;
import io.amirror.util.FileTrees;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Bytes per office day, measured on a real guest through amirror's real pipeline, side by side with
 * the references: the 4 KiB blocks that truly changed (raw, and xz -9e: the reference), the 64 KiB
 * dirty extents a cluster-level incremental sends (raw, and lz4 as the peer compresses them), and
 * amirror's delta as it lands in the spool with the preset chosen for a 1 Mbit/s link. Then the
 * compression speed of each preset on one and two threads, on the changed blocks of the busiest day.
 */
public final class DeltaBench {

    /**
     * @param peerPlain bytes virtnbdbackup wrote for the day without compression; -1: not run
     * @param peerLz4   the same with its lz4 compression ({@code -z}); -1: not run
     */
    public record Day(int day, String what, long changed4k, long xz9e, long extents64k, long lz4, long amirror,
                      String preset, double seconds, long peerPlain, long peerLz4) {
        double ratio() {
            return (double) amirror / Math.max(1, xz9e);
        }
    }

    public record Speed(XzBlockCodec.Preset preset, int threads, double inMBps, double outMBps, long bytes) {
    }

    public record Report(List<Day> days, List<Speed> speeds, String chosen1, String chosen10, long sample) {
    }

    private DeltaBench() {
    }

    /**
     * Tees captured extents into files, per disk: all DATA extents ({@code NAME-DISK-extents.bin}),
     * and the 4 KiB blocks the replica lacks ({@code NAME-DISK-changed.bin}), by the disk's replica
     * hash map in {@code maps} (as the refinement reads it before the capture updates it).
     */
    static final class MeasuringSink implements CaptureSink {
        final CaptureSink next;
        final Path maps;
        final Path work;
        final String name;
        OutputStream extents;
        OutputStream changed;
        ReplicaHashMap map;

        MeasuringSink(CaptureSink next, Path maps, Path work, String name) {
            this.next = next;
            this.maps = maps;
            this.work = work;
            this.name = name;
        }

        Path extentsFile(String disk) {
            return work.resolve(name + "-" + disk + "-extents.bin");
        }

        Path changedFile(String disk) {
            return work.resolve(name + "-" + disk + "-changed.bin");
        }

        @Override
        public void beginDisk(DiskInfo disk, long size) throws IOException {
            next.beginDisk(disk, size);
            map = ReplicaHashMap.open(maps.resolve(disk.target() + ".map"), size);
            extents = new BufferedOutputStream(Files.newOutputStream(extentsFile(disk.target())), 1 << 20);
            changed = new BufferedOutputStream(Files.newOutputStream(changedFile(disk.target())), 1 << 20);
        }

        @Override
        public void zero(long offset, long length) throws IOException {
            next.zero(offset, length);
        }

        @Override
        public void data(long offset, byte[] data) throws IOException {
            extents.write(data);
            int bs = DeltaFormat.BLOCK_SIZE;
            byte[] known = map.read(offset / bs, (data.length + bs - 1) / bs);
            for (int i = 0; i * bs < data.length; i++) {
                int n = Math.min(bs, data.length - i * bs);
                if (!BlockHash.isZero(data, i * bs, n)
                        && !ReplicaHashMap.matches(known, i, BlockHash.of(data, i * bs, n))) {
                    changed.write(data, i * bs, n);
                }
            }
            next.data(offset, data);
        }

        @Override
        public void endDisk() throws IOException {
            next.endDisk();
            map.close();
            extents.close();
            changed.close();
        }
    }

    public static Report run(Lab lab, int days, long seed, int diskMiB, PrintStream progress) throws Exception {
        return run(lab, days, seed, diskMiB, false, progress);
    }

    /**
     * @param peer also run virtnbdbackup (Debian package) each day: a full backup on day 1,
     *             incrementals after, plain and with its lz4 compression. It refuses a domain that
     *             holds checkpoints it did not make (and one chain per domain), so each runs on a twin
     *             guest: same disk, same seeded workload, step for step in the same run.
     */
    public static Report run(Lab lab, int days, long seed, int diskMiB, boolean peer, PrintStream progress)
            throws Exception {
        Path work = Files.createTempDirectory("amirror-bench-");
        ExecutorService pool = Executors.newFixedThreadPool(2);
        long size = (long) diskMiB << 20;
        try (LabDomain vm = lab.createDomain(DomainSpec.oneDisk(size, DiskSpec.Content.EXT4)).start()) {
            DomainCapture capture = new DomainCapture(new DomainCapture.Options(lab.host().tool("qemu-nbd"),
                    lab.host().tool("qemu-img"), lab.options().workDir().resolve("jobs"), Duration.ofSeconds(120)));
            Replication repl = Replication.ofDomain(vm.libvirtDomain(), work, capture,
                    new Spool(work.resolve("spool"), 8L << 30), pool, 2);
            OfficeWorkload office = new OfficeWorkload(vm.console(), "/dev/" + vm.spec().testDataTarget(), seed);
            List<LabDomain> twins = new ArrayList<>(); // virtnbdbackup plain, then with lz4
            List<OfficeWorkload> twinOffices = new ArrayList<>();
            for (int i = 0; peer && i < 2; i++) {
                LabDomain t = lab.createDomain(DomainSpec.oneDisk(size, DiskSpec.Content.EXT4)).start();
                twins.add(t);
                twinOffices.add(new OfficeWorkload(t.console(), "/dev/" + t.spec().testDataTarget(), seed));
            }
            List<Day> results = new ArrayList<>();
            Path previousChanged = null;
            for (int day = 1; day <= days + 1; day++) {
                boolean trim = day == days + 1;
                String what = day == 1 ? "first sync: share, database, log"
                        : trim ? "office day + deletes + fstrim" : "office day";
                office.workDay(day, trim);
                for (OfficeWorkload twinOffice : twinOffices) { // the same day on the twins
                    twinOffice.workDay(day, trim);
                }
                XzBlockCodec.Preset preset = previousChanged == null ? new XzBlockCodec.Preset(6, false)
                        : choose(previousChanged, WeeklyRate.parseRate("1mbit"));
                MeasuringSink[] sink = new MeasuringSink[1];
                String dayName = "day" + day;
                long t0 = System.nanoTime();
                Replication.Captured cap = repl.capture(preset,
                        enc -> sink[0] = new MeasuringSink(enc, repl.mapDirectory(), work, dayName));
                Path extents = sink[0].extentsFile("vda");
                Path changed = sink[0].changedFile("vda");
                double seconds = (System.nanoTime() - t0) / 1e9;
                long amirror = cap.deltas().get(0).entry().size();
                repl.acknowledged(cap);
                long peerPlain = peer ? virtnbdbackup(lab, twins.get(0).name(), work.resolve("peer-plain"), day == 1, false) : -1;
                long peerLz4 = peer ? virtnbdbackup(lab, twins.get(1).name(), work.resolve("peer-lz4"), day == 1, true) : -1;
                Day d = new Day(day, what, Files.size(changed), compressedSize(changed, "xz", "-9e", "-T1", "-c"),
                        Files.size(extents), compressedSize(extents, "lz4", "-1", "-c"), amirror, preset.toString(), seconds,
                        peerPlain, peerLz4);
                results.add(d);
                progress.printf("day %d (%s): %s%n", day, what, row(d));
                if (previousChanged != null) {
                    Files.deleteIfExists(previousChanged);
                }
                Files.deleteIfExists(extents);
                previousChanged = day == 1 ? null : changed;
                if (day == 1) {
                    Files.deleteIfExists(changed);
                }
            }
            // speeds on the busiest office day's changed blocks
            Day busiest = results.stream().skip(1).max((a, b) -> Long.compare(a.changed4k(), b.changed4k())).orElseThrow();
            byte[] sample = Files.readAllBytes(previousChanged);
            List<Speed> speeds = speeds(sample, pool);
            String c1 = PresetChooser.calibrate(sample, Math.min(sample.length, 2 << 20), WeeklyRate.parseRate("1mbit"), 2).toString();
            String c10 = PresetChooser.calibrate(sample, Math.min(sample.length, 2 << 20), WeeklyRate.parseRate("10mbit"), 2).toString();
            progress.println("speeds measured on the changed blocks of day " + busiest.day() + " and the last day");
            for (LabDomain t : twins) {
                t.close();
            }
            return new Report(results, speeds, c1, c10, sample.length);
        } finally {
            pool.shutdownNow();
            FileTrees.deleteQuietly(work);
        }
    }

    /**
     * Runs virtnbdbackup on the guest's vda (full or incremental, lz4) into {@code dir}; returns the
     * bytes it wrote: every file that is new or grew.
     */
    static long virtnbdbackup(Lab lab, String domain, Path dir, boolean full, boolean lz4) throws IOException {
        Map<Path, Long> before = sizes(dir);
        Files.createDirectories(dir);
        List<String> cmd = new ArrayList<>(List.of("virtnbdbackup", "-U", lab.options().libvirtUri(), "-d", domain, "-l",
                full ? "full" : "inc", "-o", dir.toString(), "-i", "vda", "-n"));
        if (lz4) {
            cmd.add("-z");
        }
        Exec.run(cmd, null, Map.of(), Duration.ofMinutes(20)).orThrow();
        long wrote = 0;
        for (var e : sizes(dir).entrySet()) {
            wrote += Math.max(0, e.getValue() - before.getOrDefault(e.getKey(), 0L));
        }
        return wrote;
    }

    private static Map<Path, Long> sizes(Path dir) throws IOException {
        Map<Path, Long> out = new HashMap<>();
        if (Files.isDirectory(dir)) {
            try (var s = Files.walk(dir)) {
                for (Path p : s.filter(Files::isRegularFile).toList()) {
                    out.put(p, Files.size(p));
                }
            }
        }
        return out;
    }

    static XzBlockCodec.Preset choose(Path changed, double linkBytesPerSecond) throws IOException {
        byte[] all = Files.readAllBytes(changed);
        if (all.length < 64 * 1024) {
            return PresetChooser.CANDIDATES.get(0);
        }
        int n = Math.min(all.length, 2 << 20);
        return PresetChooser.calibrate(all, n, linkBytesPerSecond, 2);
    }

    static long compressedSize(Path file, String tool, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(tool);
        cmd.addAll(List.of(args));
        cmd.add(file.toString());
        String sh = String.join(" ", cmd) + " | wc -c";
        return Long.parseLong(Exec.run(Duration.ofMinutes(10), "sh", "-c", sh).orThrow().stdout().strip());
    }

    /** Compresses the sample in 4 MiB blocks at each candidate preset, on 1 and 2 threads. */
    static List<Speed> speeds(byte[] sample, ExecutorService pool) throws Exception {
        int block = 4 << 20;
        byte[] data = sample;
        while (data.length < 8 << 20) { // at least two blocks, so two threads have work
            byte[] twice = new byte[data.length * 2];
            System.arraycopy(data, 0, twice, 0, data.length);
            System.arraycopy(data, 0, twice, data.length, data.length);
            data = twice;
        }
        List<Speed> out = new ArrayList<>();
        for (XzBlockCodec.Preset p : PresetChooser.CANDIDATES) {
            for (int threads = 1; threads <= 2; threads++) {
                long t0 = System.nanoTime();
                long stored = 0;
                List<Future<Integer>> fs = new ArrayList<>();
                ExecutorService ex = threads == 2 ? pool : Executors.newSingleThreadExecutor();
                final byte[] d = data;
                for (int off = 0; off < d.length; off += block) {
                    final int o = off;
                    final int n = Math.min(block, d.length - off);
                    fs.add(ex.submit(() -> XzBlockCodec.compress(Arrays.copyOfRange(d, o, o + n), n, p).length));
                }
                for (Future<Integer> f : fs) {
                    stored += f.get();
                }
                if (threads == 1) {
                    ex.shutdown();
                }
                double s = (System.nanoTime() - t0) / 1e9;
                out.add(new Speed(p, threads, d.length / s / 1e6, stored / s / 1e6, stored));
            }
        }
        return out;
    }

    static String row(Day d) {
        return String.format("changed 4K %,d B | xz -9e %,d B | 64K extents %,d B | lz4 %,d B | amirror %,d B (preset %s, %.2fx xz -9e) | %.1f s%s",
                d.changed4k(), d.xz9e(), d.extents64k(), d.lz4(), d.amirror(), d.preset(), d.ratio(), d.seconds(),
                d.peerLz4() < 0 ? "" : String.format(" | virtnbdbackup %,d B, -z %,d B (amirror %.3fx of it)",
                        d.peerPlain(), d.peerLz4(), (double) d.amirror() / Math.max(1, d.peerLz4())));
    }

    public static void print(Report r, PrintStream out) {
        out.println();
        boolean peer = r.days().stream().anyMatch(d -> d.peerLz4() >= 0);
        out.println("| day | workload | changed 4 KiB blocks | xz -9e of them (reference) | 64 KiB extents raw | 64 KiB extents lz4 | amirror delta | amirror / reference | lz4 / reference | raw extents / reference | capture+encode s |"
                + (peer ? " virtnbdbackup | virtnbdbackup -z | amirror / virtnbdbackup -z |" : ""));
        out.println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + (peer ? "---:|---:|---:|" : ""));
        for (Day d : r.days()) {
            double ref = Math.max(1, d.xz9e());
            out.printf("| %d | %s | %,d | %,d | %,d | %,d | %,d (xz %s) | %.2f | %.1f | %.1f | %.1f |%s%n", d.day(), d.what(),
                    d.changed4k(), d.xz9e(), d.extents64k(), d.lz4(), d.amirror(), d.preset(), d.amirror() / ref,
                    d.lz4() / ref, d.extents64k() / ref, d.seconds(), peer ? String.format(" %,d | %,d | %.3f |",
                            d.peerPlain(), d.peerLz4(), (double) d.amirror() / Math.max(1, d.peerLz4())) : "");
        }
        out.println();
        out.printf("Preset chosen for 1 Mbit/s: %s; for 10 Mbit/s: %s (2 threads, sample of %,d bytes).%n", r.chosen1(),
                r.chosen10(), r.sample());
        out.println();
        out.println("| xz preset | threads | input MB/s | output MB/s | output vs 1 Mbit/s (0.125 MB/s) | output vs 10 Mbit/s (1.25 MB/s) |");
        out.println("|---|---:|---:|---:|---:|---:|");
        for (Speed s : r.speeds()) {
            out.printf("| %s | %d | %.2f | %.3f | %.1fx | %.2fx |%n", s.preset(), s.threads(), s.inMBps(), s.outMBps(),
                    s.outMBps() / 0.125, s.outMBps() / 1.25);
        }
    }
}
