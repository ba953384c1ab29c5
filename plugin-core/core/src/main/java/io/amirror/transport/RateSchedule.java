package io.amirror.transport;

import io.amirror.util.WeeklyRate;

import java.time.ZonedDateTime;

/**
 * The link limit of a transfer by time of week, as {@link TokenBucket}s read it: a
 * {@link WeeklyRate} (which holds the grammar, {@code Mon-Fri 08:00-18:00: 256kbit; otherwise
 * 4mbit}), so policies can hold the same value without depending on the transport.
 */
public final class RateSchedule {
    private final WeeklyRate rate;

    private RateSchedule(WeeklyRate rate) {
        this.rate = rate;
    }

    public static RateSchedule of(WeeklyRate rate) {
        return new RateSchedule(rate);
    }

    public static RateSchedule constant(double bytesPerSecond) {
        return new RateSchedule(WeeklyRate.constant(bytesPerSecond));
    }

    public static RateSchedule parse(String text) {
        return new RateSchedule(WeeklyRate.parse(text));
    }

    /** Bytes per second allowed at {@code t}. */
    public double rateAt(ZonedDateTime t) {
        return rate.rateAt(t);
    }
}
