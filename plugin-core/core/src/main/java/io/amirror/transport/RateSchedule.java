package io.amirror.transport;

import io.amirror.delta.PresetChooser;
import io.amirror.util.WeekWindow;

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
 * means always.
 */
public final class RateSchedule {

    record Window(WeekWindow span, double bytesPerSecond) {
        boolean contains(ZonedDateTime t) {
            return span.contains(t);
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
            String days = m.group(2) == null ? m.group(1) : m.group(1) + "-" + m.group(2);
            WeekWindow span;
            try {
                span = WeekWindow.parse(days, m.group(3), m.group(4));
            } catch (IllegalArgumentException bad) {
                throw new IllegalArgumentException("rate window '" + p + "': " + bad.getMessage());
            }
            ws.add(new Window(span, PresetChooser.parseRate(m.group(5))));
        }
        if (otherwise == null) {
            throw new IllegalArgumentException("a rate schedule needs 'otherwise RATE' for the time outside its windows");
        }
        return new RateSchedule(ws, otherwise);
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
