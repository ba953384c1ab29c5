package io.amirror.primary;

import io.amirror.capture.CaptureProgress;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * The progress of one capture's reads, for status: bytes read of the bytes planned so far (each
 * disk's DATA extents, known once its plan is made), the read rate over the last seconds and the
 * time left at that rate. Thread-safe: the capture reports while status reads. Pure but for its clock.
 */
public final class CaptureMeter implements CaptureProgress {

    /**
     * One read of the meter.
     *
     * @param disks          disks the capture reads; 0 until it says
     * @param disksPlanned   disks whose plan is made: {@code bytesToRead} holds theirs
     * @param readRate       bytes per second over the last {@link #WINDOW_NANOS}; 0 until a rate is known
     * @param etaSeconds     the time left for the planned bytes at that rate, null while unknown
     * @param readWhole      the disks read in full so far (no dirty bitmap: raw files, block devices)
     */
    public record View(int disks, int disksPlanned, long bytesToRead, long bytesRead, double readRate, Long etaSeconds,
                       List<String> readWhole) {
    }

    static final long WINDOW_NANOS = 10_000_000_000L;
    private static final long SAMPLE_NANOS = 500_000_000L;

    private final LongSupplier clock;
    private int disks;
    private int disksPlanned;
    private long toRead;
    private long read;
    private final List<String> whole = new ArrayList<>();
    /** (time, bytes read then), at most one per half second, none older than the window. */
    private final ArrayDeque<long[]> samples = new ArrayDeque<>();

    public CaptureMeter(LongSupplier nanoClock) {
        this.clock = nanoClock;
    }

    public CaptureMeter() {
        this(System::nanoTime);
    }

    @Override
    public synchronized void starting(int diskCount) {
        disks = diskCount;
    }

    @Override
    public synchronized void planned(String disk, long bytesToRead, boolean readWhole) {
        disksPlanned++;
        toRead += bytesToRead;
        if (readWhole) {
            whole.add(disk);
        }
        sample(clock.getAsLong(), true);
    }

    @Override
    public synchronized void read(String disk, long bytes) {
        read += bytes;
        sample(clock.getAsLong(), false);
    }

    private void sample(long now, boolean force) {
        if (force || samples.isEmpty() || now - samples.peekLast()[0] >= SAMPLE_NANOS) {
            samples.addLast(new long[] {now, read});
        }
        while (samples.size() > 1 && now - samples.peekFirst()[0] > WINDOW_NANOS) {
            samples.pollFirst();
        }
    }

    public synchronized View view() {
        long now = clock.getAsLong();
        double rate = 0;
        long[] oldest = null; // the oldest sample within the window; none: nothing read for a whole window
        for (long[] sample : samples) {
            if (now - sample[0] <= WINDOW_NANOS) {
                oldest = sample;
                break;
            }
        }
        if (oldest != null && now - oldest[0] >= 1_000_000_000L) {
            rate = (read - oldest[1]) / ((now - oldest[0]) / 1e9);
        }
        Long eta = rate > 0 ? (long) Math.ceil((toRead - read) / rate) : null;
        if (disks > 0 && disksPlanned < disks) {
            eta = null; // the disks not planned yet would come on top: no honest estimate
        }
        return new View(disks, disksPlanned, toRead, read, rate, eta, List.copyOf(whole));
    }
}
