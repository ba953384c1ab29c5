package io.amirror.util;

import java.time.DayOfWeek;
import java.time.LocalTime;
import java.time.ZonedDateTime;
import java.time.format.DateTimeParseException;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;

/**
 * A span of the week as admins write it: days ({@code Mon}, {@code Mon-Fri}, {@code Fri-Mon}) and
 * a time range on each of those days, {@code from} inclusive, {@code to} exclusive ({@code 24:00}
 * for the end of the day). Used for rate windows and blackouts.
 */
public record WeekWindow(Set<DayOfWeek> days, LocalTime from, LocalTime to) {

    public static WeekWindow parse(String days, String from, String to) {
        String[] ends = days.trim().split("-", -1);
        if (ends.length > 2) {
            throw new IllegalArgumentException("'" + days + "' is not a day or a range of days like Mon-Fri");
        }
        DayOfWeek a = day(ends[0]);
        DayOfWeek b = ends.length == 1 ? a : day(ends[1]);
        Set<DayOfWeek> set = EnumSet.noneOf(DayOfWeek.class);
        for (DayOfWeek d = a; ; d = d.plus(1)) {
            set.add(d);
            if (d == b) {
                break;
            }
        }
        LocalTime f = time(from);
        LocalTime t = to.trim().equals("24:00") ? LocalTime.MAX : time(to);
        if (!f.isBefore(t)) {
            throw new IllegalArgumentException("the window " + days + " " + from + "-" + to + " ends before it starts");
        }
        return new WeekWindow(set, f, t);
    }

    private static LocalTime time(String hhmm) {
        String s = hhmm.trim();
        try {
            return LocalTime.parse(s.length() == 4 ? "0" + s : s);
        } catch (DateTimeParseException e) {
            throw new IllegalArgumentException("'" + hhmm + "' is not a time like 08:00");
        }
    }

    private static DayOfWeek day(String s) {
        for (DayOfWeek d : DayOfWeek.values()) {
            if (d.name().substring(0, 3).equalsIgnoreCase(s.trim())) {
                return d;
            }
        }
        throw new IllegalArgumentException("'" + s + "' is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)");
    }

    /** As written: {@code Mon-Fri 09:00-09:30}, {@code Sat 22:00-24:00}. */
    @Override
    public String toString() {
        DayOfWeek start = DayOfWeek.MONDAY;
        if (days.size() < 7) {
            for (DayOfWeek d : days) {
                if (!days.contains(d.minus(1))) {
                    start = d; // the only day whose eve is outside: the span is contiguous, possibly over Sunday
                }
            }
        }
        DayOfWeek end = start.plus(days.size() - 1);
        String span = start == end ? name(start) : name(start) + "-" + name(end);
        return span + " " + from + "-" + (to.equals(LocalTime.MAX) ? "24:00" : to.toString());
    }

    private static String name(DayOfWeek d) {
        return d.name().charAt(0) + d.name().substring(1, 3).toLowerCase(Locale.ROOT);
    }

    public boolean contains(ZonedDateTime t) {
        LocalTime lt = t.toLocalTime();
        return days.contains(t.getDayOfWeek()) && !lt.isBefore(from) && (lt.isBefore(to) || to.equals(LocalTime.MAX));
    }
}
