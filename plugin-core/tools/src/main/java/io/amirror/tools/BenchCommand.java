package io.amirror.tools;

import io.amirror.bench.CopyBench;
import io.amirror.bench.DeltaBench;
import io.amirror.bench.PgbenchBench;
import io.amirror.delta.XzBlockCodec;
import io.amirror.bench.ScaleBench;
import io.amirror.lab.Lab;
import io.amirror.lab.LabOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/** {@code amirror bench ...}: measured figures for BENCHMARKS.md. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks on the real-VM lab (needs root).",
        subcommands = {BenchCommand.Delta.class, BenchCommand.Copy.class, BenchCommand.Scale.class, BenchCommand.Pgbench.class})
public final class BenchCommand {

    /** The office workload every benchmark runs. */
    static final class Workload {
        @Option(names = "--days", description = "Office days after the first sync (default: ${DEFAULT-VALUE}).")
        int days = 3;
        @Option(names = "--seed", description = "Workload seed (default: ${DEFAULT-VALUE}).")
        long seed = 1;
        @Option(names = "--disk-mib", description = "Guest disk size in MiB (default: ${DEFAULT-VALUE}).")
        int diskMiB = 256;
    }

    @Command(name = "delta", mixinStandardHelpOptions = true,
            description = "Bytes per office day through amirror's pipeline against the references, and xz speeds.")
    static final class Delta implements Callable<Integer> {
        @Mixin
        Workload w;
        @Option(names = "--peer", description = "Also run virtnbdbackup (-z, lz4) on the same guest each day, after amirror.")
        boolean peer;

        @Override
        public Integer call() throws Exception {
            try (Lab lab = Lab.open(LabOptions.defaults())) {
                DeltaBench.print(DeltaBench.run(lab, w.days, w.seed, w.diskMiB, peer, System.out), System.out);
            }
            return 0;
        }
    }

    @Command(name = "pgbench", mixinStandardHelpOptions = true,
            description = "Bytes per pgbench day on the lab's Debian server (UEFI, PostgreSQL), per disk, against xz -9e "
                    + "of the changed 4 KiB blocks.")
    static final class Pgbench implements Callable<Integer> {
        @Option(names = "--days", description = "pgbench days after the first point (default: ${DEFAULT-VALUE}).")
        int days = 2;
        @Option(names = "--transactions", description = "Transactions per day (default: ${DEFAULT-VALUE}).")
        int transactions = 4000;
        @Option(names = "--preset", description = "xz preset of the points, as a policy's compression (default: ${DEFAULT-VALUE}).")
        String preset = "6";

        @Override
        public Integer call() throws Exception {
            try (Lab lab = Lab.open(LabOptions.defaults())) {
                PgbenchBench.print(PgbenchBench.run(lab, days, transactions, XzBlockCodec.Preset.parse(preset), System.out),
                        System.out);
            }
            return 0;
        }
    }

    @Command(name = "copy", mixinStandardHelpOptions = true,
            description = "Per office day: amirror with and without COPY frames, rsync (zstd -19), xz -9e of the changed "
                    + "and of the truly new blocks.")
    static final class Copy implements Callable<Integer> {
        @Mixin
        Workload w;

        @Override
        public Integer call() throws Exception {
            try (Lab lab = Lab.open(LabOptions.defaults())) {
                CopyBench.print(CopyBench.run(lab, w.days, w.seed, w.diskMiB, System.out), System.out);
            }
            return 0;
        }
    }

    @Command(name = "scale", mixinStandardHelpOptions = true,
            description = "Point cost and heap against disk size (1 GiB and 64 GiB sparse disks) and with 8 domains at once.")
    static final class Scale implements Callable<Integer> {
        @Override
        public Integer call() throws Exception {
            try (Lab lab = Lab.open(LabOptions.defaults())) {
                ScaleBench.print(ScaleBench.run(lab, System.out), System.out);
            }
            return 0;
        }
    }
}
