package io.amirror.capture;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Watches a pull backup's scratch files while the point is read, and ends the job before they
 * can fill their file system.
 *
 * <p>While a pull backup runs, every guest write to a block not yet read first copies the old
 * block into the job's scratch file. On a busy guest and a slow read (a strong xz preset, a slow
 * spool disk) the scratch grows without bound, and once its file system is full QEMU fails the
 * guest's writes (QEMU's default for a copy-before-write error). So the watch measures the scratch
 * files and the file system's free space every {@link #PERIOD_MILLIS}, and when the scratch passes
 * the budget ({@link ScratchBudget}) or the free space falls under its reserve, it ends the job
 * ({@code abort}, virDomainAbortJob: QEMU drops the scratch, the guest's writes go on untouched).
 * The capture then fails with {@link ScratchOverflowException}, whose message has the bytes; the
 * point is discarded (its bitmap merges into its parent) and the next attempt adapts.
 *
 * <p>The caller closes the watch when the job ends, whatever the outcome.
 */
final class ScratchWatch implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ScratchWatch.class);
    static final long PERIOD_MILLIS = 250;

    private final Path jobDir;
    private final long limitBytes;
    private final long reserveBytes;
    private final Runnable abort;
    private final ScheduledExecutorService timer;
    private volatile String overflow;

    private ScratchWatch(Path jobDir, long limitBytes, long reserveBytes, Runnable abort) {
        this.jobDir = jobDir;
        this.limitBytes = limitBytes;
        this.reserveBytes = reserveBytes;
        this.abort = abort;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "scratch-watch");
            t.setDaemon(true);
            return t;
        });
    }

    /** Starts watching {@code jobDir}'s scratch files under {@code budget}; {@code abort} ends the job. */
    static ScratchWatch start(Path jobDir, ScratchBudget budget, Runnable abort) throws IOException {
        long free = Files.getFileStore(jobDir).getUsableSpace();
        ScratchWatch w = new ScratchWatch(jobDir, budget.limitFor(free), budget.reserveBytes(), abort);
        w.timer.scheduleWithFixedDelay(w::check, PERIOD_MILLIS, PERIOD_MILLIS, TimeUnit.MILLISECONDS);
        return w;
    }

    private void check() {
        if (overflow != null) {
            return;
        }
        try {
            long scratch = scratchBytes();
            long free = Files.getFileStore(jobDir).getUsableSpace();
            String why = null;
            if (scratch > limitBytes) {
                why = "the backup's scratch reached " + scratch + " bytes, over its budget of " + limitBytes;
            } else if (free < reserveBytes) {
                why = "the scratch file system has " + free + " bytes free, under the reserve of " + reserveBytes
                        + " (scratch " + scratch + " bytes)";
            }
            if (why != null) {
                overflow = why + ": the guest wrote faster than the point was read";
                log.warn("{}; ending the backup job so the guest's writes never fail", overflow);
                abort.run();
            }
        } catch (IOException | RuntimeException e) {
            // the job directory went with the job: nothing left to watch
        }
    }

    /** The bytes of the scratch files (qcow2 files that only grow while the job runs). */
    private long scratchBytes() throws IOException {
        long total = 0;
        try (Stream<Path> s = Files.list(jobDir)) {
            for (Path p : s.filter(p -> p.getFileName().toString().endsWith(".scratch")).toList()) {
                try {
                    total += Files.size(p);
                } catch (IOException gone) {
                    // removed with the job
                }
            }
        }
        return total;
    }

    /** Why the watch ended the job; null while it has not. */
    String overflow() {
        return overflow;
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
