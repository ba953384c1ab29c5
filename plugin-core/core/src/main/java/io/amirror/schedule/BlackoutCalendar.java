package io.amirror.schedule;

import io.amirror.util.WeekWindow;
import org.quartz.impl.calendar.BaseCalendar;

import java.time.Instant;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.util.List;

/**
 * A Quartz calendar that excludes a policy's blackout windows: a trigger whose fire time falls in a
 * window skips that fire (it is not a misfire), and fires again at its first time after the window.
 * Windows are read in the host's time zone, as the admin wrote them.
 */
public final class BlackoutCalendar extends BaseCalendar {
    private static final long serialVersionUID = 1L;
    private static final long STEP = 60_000;
    /** Windows last at most a day, so the next included minute is never more than a week away. */
    private static final long HORIZON = 8L * 24 * 3600 * 1000;

    private final List<WeekWindow> windows;
    private final ZoneId zone;

    public BlackoutCalendar(List<WeekWindow> windows, ZoneId zone) {
        this.windows = List.copyOf(windows);
        this.zone = zone;
        setDescription("blackouts " + windows);
    }

    public boolean inBlackout(Instant t) {
        ZonedDateTime z = t.atZone(zone);
        for (WeekWindow w : windows) {
            if (w.contains(z)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public boolean isTimeIncluded(long timeStamp) {
        return super.isTimeIncluded(timeStamp) && !inBlackout(Instant.ofEpochMilli(timeStamp));
    }

    @Override
    public long getNextIncludedTime(long timeStamp) {
        long t = Math.max(super.getNextIncludedTime(timeStamp), timeStamp + 1);
        long end = timeStamp + HORIZON;
        while (!isTimeIncluded(t)) {
            // jump to the next whole minute: windows have minute resolution
            t = (t / STEP + 1) * STEP;
            if (t > end) {
                throw new IllegalStateException("blackouts " + windows + " leave no time free in a week");
            }
        }
        return t;
    }

    @Override
    public Object clone() {
        return new BlackoutCalendar(windows, zone);
    }
}
