package io.amirror.transport;

import java.util.function.DoubleSupplier;

/**
 * Limits the bytes per second that all connections together put on the wire. Callers reserve
 * tokens for what they are about to write and sleep off any deficit outside the lock, so
 * concurrent senders are served in turn (each write is small, see {@link ShapedSocket}) and a
 * stalled one holds nothing back. The rate is read on every call: a new schedule window applies to
 * the next write, also in a running transfer.
 *
 * <p>The bucket holds at most {@link #BURST_SECONDS} of tokens, so an idle link does not save up a
 * burst that a shaper downstream would drop or queue.
 */
public final class TokenBucket {
    static final double BURST_SECONDS = 0.05;
    private final DoubleSupplier bytesPerSecond;
    private double tokens;
    private long last = System.nanoTime();
    private long granted;
    private long firstGrant;
    private long lastGrant;

    public TokenBucket(DoubleSupplier bytesPerSecond) {
        this.bytesPerSecond = bytesPerSecond;
    }

    /** Blocks until {@code bytes} may go on the wire. */
    public void acquire(int bytes) throws InterruptedException {
        long waitNanos;
        synchronized (this) {
            double rate = bytesPerSecond.getAsDouble();
            long now = System.nanoTime();
            double capacity = Math.max(rate * BURST_SECONDS, 1500);
            tokens = Math.min(capacity, tokens + (now - last) / 1e9 * rate);
            last = now;
            tokens -= bytes;
            waitNanos = tokens >= 0 ? 0 : (long) (-tokens / rate * 1e9);
            granted += bytes;
            firstGrant = firstGrant == 0 ? now : firstGrant;
            lastGrant = now + waitNanos;
        }
        if (waitNanos > 0) {
            Thread.sleep(waitNanos / 1_000_000, (int) (waitNanos % 1_000_000));
        }
    }

    /** Bytes let through so far, and the span from the first grant to the last one ends, for goodput. */
    public synchronized long grantedBytes() {
        return granted;
    }

    public synchronized double grantSeconds() {
        return (lastGrant - firstGrant) / 1e9;
    }
}
