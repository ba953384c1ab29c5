package io.amirror.tools;

import io.amirror.lab.Lab;
import io.amirror.lab.LabOptions;
import io.amirror.lab.LabSmoke;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.util.concurrent.Callable;

/** {@code amirror lab ...}: the real-VM lab that tests, the demo and the benchmarks use. */
@Command(name = "lab", mixinStandardHelpOptions = true,
        description = "The real-VM lab: libvirtd, QEMU (TCG) and a small guest driven over its serial console.",
        subcommands = {LabCommand.Smoke.class})
public final class LabCommand {

    @Command(name = "smoke", mixinStandardHelpOptions = true,
            description = "Boot a lab guest, write known bytes to its disk from inside it, power it off and "
                    + "check that the qcow2 image holds them. Installs and starts what is missing (as root).")
    static final class Smoke implements Callable<Integer> {
        @Option(names = "--seed", description = "Seed of the bytes written (default: ${DEFAULT-VALUE}).")
        long seed = 1;

        @Option(names = "--no-install", description = "Do not install missing Debian packages; fail instead.")
        boolean noInstall;

        @Override
        public Integer call() {
            return runSmoke(System.out, seed, !noInstall);
        }
    }

    static int runSmoke(PrintStream out, long seed, boolean install) {
        out.println("lab: preparing host (libvirtd, QEMU, guest kit)...");
        try (Lab lab = Lab.open(LabOptions.defaults().withInstallMissing(install))) {
            out.println("lab: booting a guest and writing from inside it...");
            LabSmoke.Report r = LabSmoke.run(lab, seed);
            out.printf("guest kernel %s, booted in %.1f s%n", r.guestKernel(), r.bootTime().toMillis() / 1000.0);
            for (LabSmoke.Check c : r.checks()) {
                out.printf("  write of %6d bytes at offset %10d: %s%n", c.length(), c.offset(),
                        c.matches() ? "in the image" : "MISSING from the image");
            }
            out.printf("  untouched range stays zero: %s%n", r.untouchedStaysZero() ? "yes" : "NO");
            out.println(r.ok() ? "lab smoke: OK" : "lab smoke: FAILED");
            return r.ok() ? 0 : 1;
        }
    }
}
