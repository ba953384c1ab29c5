package io.amirror.transport;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Which of many like events get a log line: the first of a kind (a reason and an address), then at
 * most one per kind an interval, told how many went unlogged since the line before. A flood of
 * connections, from one address or from many, cannot flood the log.
 */
final class LogThrottle {
    /** Kinds remembered at most; beyond, new addresses share one kind per reason (a flood from many). */
    static final int MAX_KINDS = 1024;

    private static final class Kind {
        long loggedAt;
        long unlogged;

        Kind(long loggedAt) {
            this.loggedAt = loggedAt;
        }
    }

    private final long intervalNanos;
    private final LongSupplier nanoClock;
    private final Map<String, Kind> kinds = new HashMap<>();

    LogThrottle(Duration interval, LongSupplier nanoClock) {
        this.intervalNanos = interval.toNanos();
        this.nanoClock = nanoClock;
    }

    /**
     * One more event of {@code reason} from {@code address}: -1 while the last line about them is
     * younger than the interval (log nothing), else the number of their events left unlogged since
     * that line (log one now, saying so when it is not 0).
     */
    synchronized long pass(String reason, String address) {
        long now = nanoClock.getAsLong();
        String kind = reason + " from " + address;
        Kind k = kinds.get(kind);
        if (k == null && kinds.size() >= MAX_KINDS) {
            kinds.values().removeIf(old -> now - old.loggedAt >= intervalNanos);
            if (kinds.size() >= MAX_KINDS) {
                kind = reason + " from elsewhere";
                k = kinds.get(kind);
            }
        }
        if (k != null && now - k.loggedAt < intervalNanos) {
            k.unlogged++;
            return -1;
        }
        kinds.put(kind, new Kind(now));
        return k == null ? 0 : k.unlogged;
    }
}
