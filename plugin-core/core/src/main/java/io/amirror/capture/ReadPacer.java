package io.amirror.capture;

import java.util.function.LongSupplier;

/**
 * Holds a reader to a rate: after each piece, it sleeps until the bytes read so far are due at that
 * rate. A reader slower than the rate for a while may catch up by at most one second's worth, so a
 * stall is not followed by a burst that starves the guest. Pure but for its clock and sleep.
 */
final class ReadPacer {

    /** How a pacer waits; tests pass a fake clock's advance. */
    interface Sleeper {
        void sleepNanos(long nanos) throws InterruptedException;
    }

    static final long NANOS = 1_000_000_000L;

    private final long bytesPerSecond;
    private final LongSupplier clock;
    private final Sleeper sleeper;
    private long start;
    private long paid; // bytes accounted since start

    /** @param bytesPerSecond the rate; 0: unbounded (never sleeps) */
    ReadPacer(long bytesPerSecond, LongSupplier nanoClock, Sleeper sleeper) {
        this.bytesPerSecond = bytesPerSecond;
        this.clock = nanoClock;
        this.sleeper = sleeper;
        this.start = nanoClock.getAsLong();
    }

    static ReadPacer of(long bytesPerSecond) {
        return new ReadPacer(bytesPerSecond, System::nanoTime,
                n -> Thread.sleep(n / 1_000_000L, (int) (n % 1_000_000L)));
    }

    /** {@code bytes} were just read: waits until they are due at the rate. */
    void paid(long bytes) {
        if (bytesPerSecond <= 0) {
            return;
        }
        long now = clock.getAsLong();
        long due = start + nanosFor(paid);
        if (now - due > NANOS) { // idle or slow for over a second: at most a second's credit
            start = now - NANOS;
            paid = 0;
        }
        paid += bytes;
        long wait = start + nanosFor(paid) - now;
        if (wait > 0) {
            try {
                sleeper.sleepNanos(wait);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while pacing a disk read", e);
            }
        }
    }

    private long nanosFor(long bytes) {
        // exact below 9 GB, without overflow beyond
        return bytes < Long.MAX_VALUE / NANOS ? bytes * NANOS / bytesPerSecond
                : (long) ((double) bytes / bytesPerSecond * NANOS);
    }
}
