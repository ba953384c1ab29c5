package io.amirror.util;

/** Human forms of byte counts and durations, one spelling for the CLI's output and the daemons' messages. */
public final class Units {
    private Units() {
    }

    /** {@code 512 B}, {@code 3.4 kB}, {@code 12.50 MB}, {@code 1.32 GB} (decimal units, as link rates are). */
    public static String bytes(long b) {
        if (b < 1_000) {
            return b + " B";
        }
        if (b < 1_000_000) {
            return String.format("%.1f kB", b / 1e3);
        }
        if (b < 1_000_000_000) {
            return String.format("%.2f MB", b / 1e6);
        }
        return String.format("%.2f GB", b / 1e9);
    }

    /** {@code 45s}, {@code 12m30s}, {@code 3h20m}. */
    public static String duration(long seconds) {
        if (seconds < 120) {
            return seconds + "s";
        }
        if (seconds < 7200) {
            return seconds / 60 + "m" + (seconds % 60 == 0 ? "" : seconds % 60 + "s");
        }
        return seconds / 3600 + "h" + (seconds % 3600 / 60 == 0 ? "" : seconds % 3600 / 60 + "m");
    }
}
