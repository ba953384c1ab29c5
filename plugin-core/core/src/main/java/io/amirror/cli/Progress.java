package io.amirror.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.amirror.util.Units;

/** Human forms of bytes, rates, durations and a progress bar, for the CLI's output. */
public final class Progress {
    private Progress() {
    }

    public static String bytes(long b) {
        return Units.bytes(b);
    }

    public static String rate(double bitsPerSecond) {
        return bitsPerSecond >= 1e6 ? String.format("%.2f Mbit/s", bitsPerSecond / 1e6)
                : String.format("%.0f kbit/s", bitsPerSecond / 1e3);
    }

    public static String duration(long seconds) {
        return Units.duration(seconds);
    }

    /** {@code [#########...........]  45%}, 20 cells wide. */
    public static String bar(long done, long total) {
        int cells = 20;
        double f = total <= 0 ? 0 : Math.min(1, (double) done / total);
        int full = (int) Math.round(f * cells);
        return "[" + "#".repeat(full) + ".".repeat(cells - full) + "] " + String.format("%3d%%", Math.round(f * 100));
    }

    /** One line of a domain's status while it works: the phase, or a progress bar with rate and ETA. */
    public static String statusLine(JsonNode d) {
        String phase = d.path("phase").asText();
        if (phase.equals("capturing") && d.path("capture").isObject()) {
            return capture(d.path("capture"));
        }
        if (!phase.equals("shipping") && !phase.equals("verifying")) {
            return phase.equals("idle") ? "waiting for the cycle to start" : phase + "...";
        }
        return transfer(phase, d.path("shippedBytes").asLong(), d.path("pendingBytes").asLong(),
                d.path("rateBitsPerSecond").asDouble(), d.path("etaSeconds").isNull() ? null : d.path("etaSeconds").asLong());
    }

    /**
     * {@code capturing [####......]  40% read 1.20 GB of 3.00 GB, 48.0 MB/s, ETA 38s (disk 1 of 2; read whole:
     * vdb)}: a capture's reads, from status's {@code capture}; the total grows as each disk is planned.
     */
    public static String capture(JsonNode c) {
        long done = c.path("bytesRead").asLong();
        long total = c.path("bytesToRead").asLong();
        double rate = c.path("readBytesPerSecond").asDouble();
        int disks = c.path("disks").asInt();
        StringBuilder b = new StringBuilder("capturing " + bar(done, total) + " read " + bytes(done) + " of " + bytes(total)
                + (rate > 0 ? ", " + bytes((long) rate) + "/s" : "")
                + (c.path("etaSeconds").isNull() || c.path("etaSeconds").isMissingNode() ? ""
                        : ", ETA " + duration(c.path("etaSeconds").asLong())));
        java.util.List<String> notes = new java.util.ArrayList<>();
        if (disks > 1) {
            notes.add("disk " + Math.max(1, c.path("disksPlanned").asInt()) + " of " + disks);
        }
        if (!c.path("readWhole").isEmpty()) {
            java.util.List<String> whole = new java.util.ArrayList<>();
            c.path("readWhole").forEach(n -> whole.add(n.asText()));
            notes.add("read whole: " + String.join(", ", whole));
        }
        return notes.isEmpty() ? b.toString() : b.append(" (").append(String.join("; ", notes)).append(")").toString();
    }

    /**
     * {@code shipping [####......]  40% 1.20 MB of 3.00 MB, 950 kbit/s, ETA 16s}: a transfer in
     * progress; the rate is left out while unknown (0), the ETA when null.
     */
    public static String transfer(String what, long done, long total, double bitsPerSecond, Long etaSeconds) {
        return what + " " + bar(done, total) + " " + bytes(done) + " of " + bytes(total)
                + (bitsPerSecond > 0 ? ", " + rate(bitsPerSecond) : "")
                + (etaSeconds == null ? "" : ", ETA " + duration(etaSeconds));
    }
}
