package io.amirror.transport;

import io.amirror.transport.Receiver.Drop;
import io.amirror.transport.Receiver.Limits;
import io.amirror.transport.Receiver.Stats;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.time.Duration;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The receiver's connection counts against its {@link Limits}: connections still in their TLS
 * handshake, in total and per remote address, and authenticated ones; and what was dropped, by
 * reason, each drop logged unless its like was logged lately ({@link LogThrottle}).
 */
final class Admission {
    private static final Logger log = LoggerFactory.getLogger(Receiver.class);
    static final Duration LOG_INTERVAL = Duration.ofMinutes(1);

    private final Limits limits;
    private final LogThrottle throttle;
    private final Map<InetAddress, Integer> pendingFrom = new HashMap<>();
    private int pending;
    private int authenticated;
    private final Map<Drop, AtomicLong> dropped = new EnumMap<>(Drop.class);

    Admission(Limits limits, LogThrottle throttle) {
        this.limits = limits;
        this.throttle = throttle;
        for (Drop d : Drop.values()) {
            dropped.put(d, new AtomicLong());
        }
    }

    Admission(Limits limits) {
        this(limits, new LogThrottle(LOG_INTERVAL, System::nanoTime));
    }

    /** A new connection from {@code from} before its handshake: null when admitted, else why not. */
    synchronized Drop enter(InetAddress from) {
        if (pending >= limits.pending()) {
            return Drop.PENDING_FULL;
        }
        int n = pendingFrom.getOrDefault(from, 0);
        if (n >= limits.pendingPerAddress()) {
            return Drop.ADDRESS_FULL;
        }
        pending++;
        pendingFrom.put(from, n + 1);
        return null;
    }

    /** An admitted connection from {@code from} finished its handshake, or ended before (or never started). */
    synchronized void handshaken(InetAddress from) {
        pending--;
        pendingFrom.computeIfPresent(from, (a, n) -> n > 1 ? n - 1 : null);
    }

    /** A handshaken connection asks to be served: false beyond the bound of authenticated ones. */
    synchronized boolean authenticate() {
        if (authenticated >= limits.authenticated()) {
            return false;
        }
        authenticated++;
        return true;
    }

    /** An authenticated connection ended. */
    synchronized void leave() {
        authenticated--;
    }

    /**
     * Counts a connection from {@code from} dropped for {@code why}, and logs it unless one like it
     * was logged lately; {@code detail} may say more (empty: nothing).
     */
    void drop(Drop why, InetAddress from, String detail) {
        dropped.get(why).incrementAndGet();
        String address = from.getHostAddress();
        long unlogged = throttle.pass(why.name(), address);
        if (unlogged >= 0) {
            log.warn("dropped a connection from {}: {}{}{}", address, why.describe(limits),
                    detail.isEmpty() ? "" : ": " + detail,
                    unlogged == 0 ? "" : " (and " + unlogged + " more like it since the last such line)");
        }
    }

    /** As {@link LogThrottle#pass} for a failure of the listener itself (no address). */
    long throttled(String failure) {
        return throttle.pass(failure, "the listener");
    }

    synchronized Stats stats() {
        Map<Drop, Long> counts = new EnumMap<>(Drop.class);
        dropped.forEach((d, n) -> counts.put(d, n.get()));
        return new Stats(pending, authenticated, counts);
    }
}
