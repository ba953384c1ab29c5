package io.amirror.schedule;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;

/**
 * Notices a jump of the wall clock: every {@code period} it compares how far the wall clock moved
 * ({@link System#currentTimeMillis}) with how much time passed ({@link System#nanoTime}, which no
 * clock setting moves); a difference beyond {@code tolerance} is a jump, reported to the listener
 * with its size (negative: the clock went back). Quartz computes every next fire time on the wall
 * clock, so after a jump back of an hour it would wait an hour more; {@link ReplicationScheduler}
 * reschedules its triggers when told. A slewing clock (NTP's usual way) moves far less than the
 * tolerance in a period and is no jump.
 */
final class ClockJumpWatch implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ClockJumpWatch.class);

    private final LongSupplier wall;
    private final LongSupplier nanos;
    private final long toleranceMs;
    private final LongConsumer onJump;
    private long lastWall;
    private long lastNanos;
    private ScheduledExecutorService timer;

    /** {@code onJump} gets the jump in milliseconds, wall clock minus elapsed time. */
    ClockJumpWatch(LongSupplier wall, LongSupplier nanos, long toleranceMs, LongConsumer onJump) {
        this.wall = wall;
        this.nanos = nanos;
        this.toleranceMs = toleranceMs;
        this.onJump = onJump;
        this.lastWall = wall.getAsLong();
        this.lastNanos = nanos.getAsLong();
    }

    ClockJumpWatch(long toleranceMs, LongConsumer onJump) {
        this(System::currentTimeMillis, System::nanoTime, toleranceMs, onJump);
    }

    /** One comparison (the timer's, or a test's): the jump since the last one, reported if beyond the tolerance. */
    synchronized long check() {
        long w = wall.getAsLong();
        long n = nanos.getAsLong();
        long jump = (w - lastWall) - (n - lastNanos) / 1_000_000;
        lastWall = w;
        lastNanos = n;
        if (Math.abs(jump) > toleranceMs) {
            try {
                onJump.accept(jump);
            } catch (RuntimeException e) {
                log.warn("after a clock jump of {} ms: {}", jump, e.toString());
            }
            return jump;
        }
        return 0;
    }

    /** Checks every {@code periodMs} on a daemon thread until closed. */
    synchronized void start(long periodMs) {
        if (timer != null) {
            return;
        }
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "amirror-clock-watch");
            t.setDaemon(true);
            return t;
        });
        check(); // from now
        timer.scheduleWithFixedDelay(this::check, periodMs, periodMs, TimeUnit.MILLISECONDS);
    }

    @Override
    public synchronized void close() {
        if (timer != null) {
            timer.shutdownNow();
            timer = null;
        }
    }
}
