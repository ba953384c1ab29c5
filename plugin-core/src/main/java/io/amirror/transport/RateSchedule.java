package io.amirror.transport;

import io.amirror.delta.PresetChooser;

import java.time.DayOfWeek;
import java.time.LocalTime;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A link rate that depends on the time of the week, written as an admin says it:
 * {@code Mon-Fri 08:00-18:00: 256kbit; Sat 09:00-12:00: 1mbit; otherwise 4mbit}. The first window
 * that contains the moment wins; {@code otherwise} is required. A single rate ({@code 2mbit})
 * means always.
 */
public final class RateSchedule {

    record Window(Set<DayOfWeek> days, LocalTime from, LocalTime to, double bytesPerSecond) {
        boolean contains(ZonedDateTime t) {
            LocalTime lt = t.toLocalTime();
            return days.contains(t.getDayOfWeek()) && !lt.isBefore(from) && lt.isBefore(to);
        }
    }

    private static final Pattern WINDOW = Pattern.compile(
            "([A-Za-z]{3})(?:-([A-Za-z]{3}))?\\s+(\\d{1,2}:\\d{2})-(\\d{1,2}:\\d{2})\\s*:\\s*(\\S+)");
    private final List<Window> windows;
    private final double otherwise;

    private RateSchedule(List<Window> windows, double otherwise) {
        this.windows = List.copyOf(windows);
        this.otherwise = otherwise;
    }

    public static RateSchedule constant(double bytesPerSecond) {
        return new RateSchedule(List.of(), bytesPerSecond);
    }

    public static RateSchedule parse(String text) {
        List<Window> ws = new ArrayList<>();
        Double otherwise = null;
        for (String part : text.split("[;,]")) {
            String p = part.trim();
            if (p.isEmpty()) {
                continue;
            }
            if (p.toLowerCase(Locale.ROOT).startsWith("otherwise")) {
                otherwise = PresetChooser.parseRate(p.substring("otherwise".length()).replace(":", "").trim());
                continue;
            }
            Matcher m = WINDOW.matcher(p);
            if (!m.matches()) {
                if (ws.isEmpty() && otherwise == null && !text.contains(";") && !text.contains(",")) {
                    return constant(PresetChooser.parseRate(p));
                }
                throw new IllegalArgumentException("cannot read rate window '" + p
                        + "' (example: Mon-Fri 08:00-18:00: 256kbit; otherwise 4mbit)");
            }
            DayOfWeek a = day(m.group(1));
            DayOfWeek b = m.group(2) == null ? a : day(m.group(2));
            Set<DayOfWeek> days = EnumSet.noneOf(DayOfWeek.class);
            for (DayOfWeek d = a; ; d = d.plus(1)) {
                days.add(d);
                if (d == b) {
                    break;
                }
            }
            LocalTime from = LocalTime.parse(pad(m.group(3)));
            LocalTime to = m.group(4).equals("24:00") ? LocalTime.MAX : LocalTime.parse(pad(m.group(4)));
            if (!from.isBefore(to)) {
                throw new IllegalArgumentException("window '" + p + "' ends before it starts");
            }
            ws.add(new Window(days, from, to, PresetChooser.parseRate(m.group(5))));
        }
        if (otherwise == null) {
            throw new IllegalArgumentException("a rate schedule needs 'otherwise RATE' for the time outside its windows");
        }
        return new RateSchedule(ws, otherwise);
    }

    private static String pad(String hhmm) {
        return hhmm.length() == 4 ? "0" + hhmm : hhmm;
    }

    private static DayOfWeek day(String s) {
        for (DayOfWeek d : DayOfWeek.values()) {
            if (d.name().substring(0, 3).equalsIgnoreCase(s)) {
                return d;
            }
        }
        throw new IllegalArgumentException("not a day: " + s + " (Mon, Tue, ... Sun)");
    }

    /** Bytes per second allowed at {@code t}. */
    public double rateAt(ZonedDateTime t) {
        for (Window w : windows) {
            if (w.contains(t)) {
                return w.bytesPerSecond();
            }
        }
        return otherwise;
    }
}
