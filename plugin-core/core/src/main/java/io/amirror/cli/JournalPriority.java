package io.amirror.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.pattern.ClassicConverter;
import ch.qos.logback.classic.spi.ILoggingEvent;

/**
 * The {@code <N>} prefix journald reads as a line's priority (sd-daemon(3)): ERROR is 3, WARN 4,
 * INFO 6, DEBUG and TRACE 7. Used by the journal log pattern of {@code logback.xml}.
 */
public final class JournalPriority extends ClassicConverter {
    @Override
    public String convert(ILoggingEvent event) {
        return "<" + priority(event.getLevel()) + ">";
    }

    static int priority(Level level) {
        return switch (level.toInt()) {
            case Level.ERROR_INT -> 3;
            case Level.WARN_INT -> 4;
            case Level.INFO_INT -> 6;
            default -> 7;
        };
    }
}
