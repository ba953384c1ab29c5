package io.amirror.cli;

import com.sun.management.OperatingSystemMXBean;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;

/** What this process has cost so far: CPU time, and the most heap it held. For commands that report it. */
final class ProcessCost {
    private ProcessCost() {
    }

    static double cpuSeconds() {
        var os = ManagementFactory.getOperatingSystemMXBean();
        return os instanceof OperatingSystemMXBean b ? b.getProcessCpuTime() / 1e9 : -1;
    }

    /** The sum of the heap pools' peaks: an upper bound of the heap's peak. */
    static long heapPeakMiB() {
        long bytes = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
            if (p.getType() == MemoryType.HEAP && p.getPeakUsage() != null) {
                bytes += p.getPeakUsage().getUsed();
            }
        }
        return bytes >> 20;
    }
}
