package io.amirror.util;

import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A link rate that depends on the time of the week, written as an admin says it:
 * {@code Mon-Fri 08:00-18:00: 256kbit; Sat 09:00-12:00: 1mbit; otherwise 4mbit}. The first window
 * that contains the moment wins; {@code otherwise} is required. A single rate ({@code 2mbit})
 * means always. A plain value: policies hold it, the link's token bucket reads it.
 */
public final class WeeklyRate {

    record Window(WeekWindow span, double bytesPerSecond) {
        boolean contains(ZonedDateTime t) {
            return span.contains(t);
        }
    }

    private static final Pattern WINDOW = Pattern.compile(
            "([A-Za-z]{3})(?:-([A-Za-z]{3}))?\\s+(\\d{1,2}:\\d{2})-(\\d{1,2}:\\d{2})\\s*:\\s*(\\S+)");
    private final List<Window> windows;
    private final double otherwise;

    private WeeklyRate(List<Window> windows, double otherwise) {
        this.windows = List.copyOf(windows);
        this.otherwise = otherwise;
    }

    public static WeeklyRate constant(double bytesPerSecond) {
        return new WeeklyRate(List.of(), bytesPerSecond);
    }

    public static WeeklyRate parse(String text) {
        List<Window> ws = new ArrayList<>();
        Double otherwise = null;
        for (String part : text.split("[;,]")) {
            String p = part.trim();
            if (p.isEmpty()) {
                continue;
            }
            if (p.toLowerCase(Locale.ROOT).startsWith("otherwise")) {
                otherwise = parseRate(p.substring("otherwise".length()).replace(":", "").trim());
                continue;
            }
            Matcher m = WINDOW.matcher(p);
            if (!m.matches()) {
                if (ws.isEmpty() && otherwise == null && !text.contains(";") && !text.contains(",")) {
                    return constant(parseRate(p));
                }
                throw new IllegalArgumentException("cannot read rate window '" + p
                        + "' (example: Mon-Fri 08:00-18:00: 256kbit; otherwise 4mbit)");
            }
            String days = m.group(2) == null ? m.group(1) : m.group(1) + "-" + m.group(2);
            WeekWindow span;
            try {
                span = WeekWindow.parse(days, m.group(3), m.group(4));
            } catch (IllegalArgumentException bad) {
                throw new IllegalArgumentException("rate window '" + p + "': " + bad.getMessage());
            }
            ws.add(new Window(span, parseRate(m.group(5))));
        }
        if (otherwise == null) {
            throw new IllegalArgumentException("a rate schedule needs 'otherwise RATE' for the time outside its windows");
        }
        return new WeeklyRate(ws, otherwise);
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

    /** Parses rates like {@code 1mbit}, {@code 256kbit/s}, {@code 10Mbit}, {@code 2000000} (bits/s); returns bytes/s. */
    public static double parseRate(String s) {
        String t = s.trim().toLowerCase().replace("/s", "").replace("bps", "bit");
        double mult = 1;
        if (t.endsWith("kbit")) {
            mult = 1e3;
            t = t.substring(0, t.length() - 4);
        } else if (t.endsWith("mbit")) {
            mult = 1e6;
            t = t.substring(0, t.length() - 4);
        } else if (t.endsWith("gbit")) {
            mult = 1e9;
            t = t.substring(0, t.length() - 4);
        } else if (t.endsWith("bit")) {
            t = t.substring(0, t.length() - 3);
        }
        try {
            double bits = Double.parseDouble(t.trim()) * mult;
            if (!(bits > 0) || Double.isInfinite(bits)) {
                throw new NumberFormatException();
            }
            return bits / 8;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not a link rate: '" + s + "' (examples: 256kbit, 1mbit, 10Mbit/s)");
        }
    }
}
