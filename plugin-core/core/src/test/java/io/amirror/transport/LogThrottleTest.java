package io.amirror.transport;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The log of dropped connections stays short whatever the flood: one line per kind a minute, with the count. */
class LogThrottleTest {
    static final long MINUTE = Duration.ofMinutes(1).toNanos();

    final AtomicLong now = new AtomicLong(1_000);
    final LogThrottle throttle = new LogThrottle(Duration.ofMinutes(1), now::get);

    @Test
    void theFirstOfAKindIsLoggedThenOneAMinuteWithTheCountBetween() {
        assertEquals(0, throttle.pass("ADDRESS_FULL", "10.0.0.5"));
        for (int i = 0; i < 1000; i++) {
            now.addAndGet(MINUTE / 2000);
            assertEquals(-1, throttle.pass("ADDRESS_FULL", "10.0.0.5"));
        }
        now.addAndGet(MINUTE / 2);
        assertEquals(1000, throttle.pass("ADDRESS_FULL", "10.0.0.5"), "a minute later: one line, with the 1000 unlogged");
        assertEquals(-1, throttle.pass("ADDRESS_FULL", "10.0.0.5"));
        now.addAndGet(MINUTE);
        assertEquals(1, throttle.pass("ADDRESS_FULL", "10.0.0.5"));
    }

    @Test
    void addressesAndReasonsAreKindsOfTheirOwn() {
        assertEquals(0, throttle.pass("ADDRESS_FULL", "10.0.0.5"));
        assertEquals(0, throttle.pass("ADDRESS_FULL", "10.0.0.6"));
        assertEquals(0, throttle.pass("HANDSHAKE_TIMEOUT", "10.0.0.5"));
        assertEquals(-1, throttle.pass("ADDRESS_FULL", "10.0.0.6"));
    }

    @Test
    void aFloodFromManyAddressesSharesOneKindPerReasonOnceTheTableIsFull() {
        for (int i = 0; i < LogThrottle.MAX_KINDS; i++) {
            assertEquals(0, throttle.pass("ADDRESS_FULL", "10.1." + (i >> 8) + "." + (i & 255)));
        }
        assertEquals(0, throttle.pass("ADDRESS_FULL", "10.9.0.1"), "the first of the rest is logged");
        for (int i = 2; i < 5000; i++) {
            assertEquals(-1, throttle.pass("ADDRESS_FULL", "10.9." + (i >> 8) + "." + (i & 255)), "the rest are counted");
        }
        assertEquals(0, throttle.pass("PENDING_FULL", "10.9.0.1"), "per reason");
        // a minute later the old kinds are forgotten, so addresses get lines of their own again
        now.addAndGet(MINUTE);
        assertEquals(0, throttle.pass("ADDRESS_FULL", "10.9.0.2"));
        assertEquals(-1, throttle.pass("ADDRESS_FULL", "10.9.0.2"));
    }
}
