package io.amirror.lab;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * The lab's end-to-end check: boot a guest, write known bytes at known offsets of its disk from
 * inside it (aligned, unaligned, across a 64 KiB cluster boundary), power it off, and read the bytes
 * back from the qcow2 on the host. It proves that guest writes reach the image, which every capture
 * test relies on.
 */
public final class LabSmoke {

    /** One write and whether the image holds it afterwards. */
    public record Check(long offset, int length, boolean matches) {
    }

    public record Report(String guestKernel, Duration bootTime, List<Check> checks, boolean untouchedStaysZero) {
        public boolean ok() {
            return untouchedStaysZero && checks.stream().allMatch(Check::matches);
        }
    }

    /** Offsets and lengths chosen to cover aligned, unaligned and cluster-straddling writes. */
    static final long[][] WRITES = {
        {0, 4096},
        {3 * 65536 + 100, 1000},
        {5 * 65536 - 2048, 4096},
        {40L << 20, 65536},
    };
    static final long UNTOUCHED = 20L << 20;

    private LabSmoke() {
    }

    public static Report run(Lab lab, long seed) {
        try (LabDomain vm = lab.createDomain(DomainSpec.oneDisk(64L << 20, DiskSpec.Content.BLANK))) {
            long t0 = System.nanoTime();
            vm.start();
            Duration boot = Duration.ofNanos(System.nanoTime() - t0);
            String kernel = vm.console().check("uname -r").strip();
            Random rnd = new Random(seed);
            List<byte[]> written = new ArrayList<>();
            for (long[] w : WRITES) {
                byte[] data = new byte[(int) w[1]];
                rnd.nextBytes(data);
                vm.console().writeBytes("/dev/vda", w[0], data);
                written.add(data);
            }
            vm.powerOff(Duration.ofSeconds(60));
            List<Check> checks = new ArrayList<>();
            for (int i = 0; i < WRITES.length; i++) {
                byte[] back = lab.qemuImg().read(vm.image("vda"), "qcow2", WRITES[i][0], (int) WRITES[i][1]);
                checks.add(new Check(WRITES[i][0], (int) WRITES[i][1], Arrays.equals(back, written.get(i))));
            }
            byte[] untouched = lab.qemuImg().read(vm.image("vda"), "qcow2", UNTOUCHED, 4096);
            boolean zero = Arrays.equals(untouched, new byte[4096]);
            return new Report(kernel, boot, checks, zero);
        }
    }
}
