package io.amirror.bench;

import io.amirror.delta.BlockHash;
import io.amirror.delta.DeltaFiles;
import io.amirror.delta.XzBlockCodec;
import io.amirror.image.DiskImage;
import io.amirror.lab.DiskSpec;
import io.amirror.lab.DomainSpec;
import io.amirror.lab.Lab;
import io.amirror.lab.LabDomain;
import io.amirror.lab.OfficeWorkload;
import io.amirror.util.Exec;
import io.amirror.util.FileTrees;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * COPY frames against the alternatives, per office day, in one run on one guest: the disk is taken
 * (guest paused, raw copy) before and after each day, and from the same two images it measures
 * amirror's delta with and without COPY ({@code delta create}: the source index is built from the
 * old image, as the pipeline builds it from the replica hash map), rsync of the image in place with
 * its delta algorithm and zstd -19 (bytes both ways, through a pipe as if remote), xz -9e of the
 * changed 4 KiB blocks, and xz -9e of the changed blocks the old disk holds nowhere (truly new).
 */
public final class CopyBench {
    private static final int BS = 4096;

    public record Day(int day, String what, long changedBlocks, long reusedBlocks, long xzChanged, long xzNew,
                      long amirrorWithout, long amirrorWith, long copyBlocks, long rsyncSent, long rsyncReceived) {
        long rsync() {
            return rsyncSent + rsyncReceived;
        }

        /** The acceptance bound: 1.5 × xz -9e of the new blocks, plus 24 bytes per reused block. */
        long bound() {
            return (long) (1.5 * xzNew) + 24 * reusedBlocks;
        }
    }

    private CopyBench() {
    }

    public static List<Day> run(Lab lab, int days, long seed, int diskMiB, PrintStream progress) throws Exception {
        Path work = Files.createTempDirectory(lab.options().workDir(), "copy-bench-");
        List<Day> out = new ArrayList<>();
        try (LabDomain vm = lab.createDomain(DomainSpec.oneDisk((long) diskMiB << 20, DiskSpec.Content.EXT4)).start()) {
            OfficeWorkload office = new OfficeWorkload(vm.console(), "/dev/" + vm.spec().testDataTarget(), seed);
            office.workDay(1, false);
            Path before = take(lab, vm, work.resolve("day1.raw"));
            for (int day = 2; day <= days + 1; day++) {
                office.mount();
                boolean trim = day == days + 1;
                office.day(day, trim);
                boolean archive = day == 3 || days == 1;
                if (archive) {
                    office.archive(day);
                }
                office.unmount();
                String what = "office day" + (archive ? " + archive copy, log rotated" : "") + (trim ? " + deletes + fstrim" : "");
                Path after = take(lab, vm, work.resolve("day" + day + ".raw"));
                Day d = measure(lab, work, day, what, before, after);
                progress.printf("day %d (%s): changed %d blocks (%d reused), xz -9e changed %d, xz -9e new %d, amirror %d "
                                + "without COPY, %d with (%d COPY blocks), rsync %d + %d%n", d.day(), d.what(),
                        d.changedBlocks(), d.reusedBlocks(), d.xzChanged(), d.xzNew(), d.amirrorWithout(), d.amirrorWith(),
                        d.copyBlocks(), d.rsyncSent(), d.rsyncReceived());
                out.add(d);
                Files.delete(before);
                before = after;
            }
            return out;
        } finally {
            FileTrees.deleteQuietly(work);
        }
    }

    /** The guest's disk as a raw file, taken while the guest is paused. */
    private static Path take(Lab lab, LabDomain vm, Path raw) throws Exception {
        vm.libvirtDomain().suspend();
        try {
            Exec.run(List.of(lab.host().tool("qemu-img").toString(), "convert", "-U", "-O", "raw",
                    vm.image("vda").toString(), raw.toString()), null, Map.of(), Duration.ofMinutes(5)).orThrow();
        } finally {
            vm.libvirtDomain().resume();
        }
        return raw;
    }

    static Day measure(Lab lab, Path work, int day, String what, Path before, Path after) throws Exception {
        DiskImage.Tools tools = new DiskImage.Tools(lab.host().tool("qemu-img"), lab.host().tool("qemu-nbd"));
        // the old disk's blocks, by hash: what a COPY could reference
        Set<ByteBuffer> old = new HashSet<>();
        forEachBlock(before, null, (i, a, b) -> old.add(ByteBuffer.wrap(BlockHash.of(a, 0, BS))));
        Path changed = work.resolve("changed-" + day);
        Path fresh = work.resolve("new-" + day);
        long[] counts = new long[2];
        try (OutputStream c = new BufferedOutputStream(Files.newOutputStream(changed), 1 << 20);
             OutputStream n = new BufferedOutputStream(Files.newOutputStream(fresh), 1 << 20)) {
            forEachBlock(before, after, (i, a, b) -> {
                if (!Arrays.equals(a, b) && !BlockHash.isZero(b, 0, BS)) {
                    c.write(b);
                    counts[0]++;
                    if (old.contains(ByteBuffer.wrap(BlockHash.of(b, 0, BS)))) {
                        counts[1]++;
                    } else {
                        n.write(b);
                    }
                }
            });
        }
        long xzChanged = xz9e(changed);
        long xzNew = xz9e(fresh);
        long[] amirror = new long[2];
        long copies = 0;
        for (int k = 0; k < 2; k++) {
            Path delta = work.resolve("d" + day + "-" + k + ".amd");
            try (DiskImage a = DiskImage.open(before, false, tools); DiskImage b = DiskImage.open(after, false, tools)) {
                DeltaFiles.CreateResult r = DeltaFiles.create(a, b, delta, new DeltaFiles.CreateOptions(UUID.randomUUID(),
                        "vda", day - 1, day, XzBlockCodec.Preset.parse("9e"), 0, 2, 16 << 20), k == 1);
                if (k == 1) {
                    copies = r.refined().copyBlocks();
                }
            }
            amirror[k] = Files.size(delta);
            Files.delete(delta);
        }
        long[] rsync = rsync(work, before, after);
        Files.delete(changed);
        Files.delete(fresh);
        return new Day(day, what, counts[0], counts[1], xzChanged, xzNew, amirror[0], amirror[1], copies, rsync[0],
                rsync[1]);
    }

    interface BlockVisitor {
        void block(long index, byte[] a, byte[] b) throws IOException;
    }

    private static void forEachBlock(Path a, Path b, BlockVisitor v) throws IOException {
        try (FileChannel ca = FileChannel.open(a, StandardOpenOption.READ);
             FileChannel cb = b == null ? null : FileChannel.open(b, StandardOpenOption.READ)) {
            ByteBuffer ba = ByteBuffer.allocate(1 << 20);
            ByteBuffer bb = ByteBuffer.allocate(1 << 20);
            for (long pos = 0; pos < ca.size(); pos += ba.capacity()) {
                ba.clear();
                bb.clear();
                ca.read(ba, pos);
                if (cb != null) {
                    cb.read(bb, pos);
                }
                for (int off = 0; off + BS <= ba.position(); off += BS) {
                    byte[] x = Arrays.copyOfRange(ba.array(), off, off + BS);
                    byte[] y = cb == null ? null : Arrays.copyOfRange(bb.array(), off, off + BS);
                    v.block((pos + off) / BS, x, y);
                }
            }
        }
    }

    private static long xz9e(Path f) throws IOException {
        if (Files.size(f) == 0) {
            return 0;
        }
        Exec.run(Duration.ofMinutes(10), "xz", "-9e", "-T1", "-k", "-f", f.toString()).orThrow();
        Path x = f.resolveSibling(f.getFileName() + ".xz");
        long n = Files.size(x);
        Files.delete(x);
        return n;
    }

    private static final Pattern SENT = Pattern.compile("Total bytes sent: ([0-9,]+)");
    private static final Pattern RECEIVED = Pattern.compile("Total bytes received: ([0-9,]+)");

    /**
     * rsync of the new image onto a copy of the old one, in place, with its delta algorithm and
     * zstd -19, through a pipe to a second rsync as if remote (a local copy would skip both).
     */
    static long[] rsync(Path work, Path before, Path after) throws Exception {
        Path target = work.resolve("rsync-target.raw");
        Files.copy(before, target, StandardCopyOption.REPLACE_EXISTING);
        Path rsh = work.resolve("local-rsh");
        Files.writeString(rsh, "#!/bin/sh\nshift\nexec \"$@\"\n");
        rsh.toFile().setExecutable(true);
        Exec.Result r = Exec.run(List.of("rsync", "--inplace", "--no-whole-file", "--compress",
                "--compress-choice=zstd", "--compress-level=19", "--stats", "-e", rsh.toString(), after.toString(),
                "localhost:" + target), null, Map.of(), Duration.ofMinutes(30)).orThrow();
        Matcher s = SENT.matcher(r.stdout());
        Matcher v = RECEIVED.matcher(r.stdout());
        if (!s.find() || !v.find()) {
            throw new IOException("no byte counts in rsync's --stats: " + r.stdout());
        }
        if (Files.mismatch(after, target) != -1) {
            throw new IOException("rsync did not reproduce the new image");
        }
        Files.delete(target);
        return new long[] {Long.parseLong(s.group(1).replace(",", "")), Long.parseLong(v.group(1).replace(",", ""))};
    }

    public static void print(List<Day> days, PrintStream out) {
        out.println();
        out.println("| day | workload | changed 4 KiB blocks | of them reused | xz -9e changed | xz -9e new | amirror without COPY "
                + "| amirror with COPY (COPY blocks) | rsync sent + received | bound 1.5 × new + 24/reused | with / rsync "
                + "| with / bound |");
        out.println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (Day d : days) {
            out.printf("| %d | %s | %,d | %,d | %,d | %,d | %,d | %,d (%,d) | %,d + %,d = %,d | %,d | %.2f | %.2f |%n",
                    d.day(), d.what(), d.changedBlocks(), d.reusedBlocks(), d.xzChanged(), d.xzNew(), d.amirrorWithout(),
                    d.amirrorWith(), d.copyBlocks(), d.rsyncSent(), d.rsyncReceived(), d.rsync(), d.bound(),
                    (double) d.amirrorWith() / Math.max(1, d.rsync()), (double) d.amirrorWith() / Math.max(1, d.bound()));
        }
    }
}
