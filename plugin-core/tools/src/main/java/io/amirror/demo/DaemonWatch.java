package io.amirror.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.cli.Progress;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.function.Supplier;

/**
 * The demo's view of the primary daemon: it follows the output of {@code amirror status --json
 * --watch 1} (one status document per line; the process runs in the daemon's network namespace,
 * where the control API listens), keeps a live line on the screen (the standby's newest point and
 * its age against the policy's RPO, then the cycle's phase or the transfer's progress bar, rate
 * and ETA), and prints a line for each point the standby acknowledges and each failed cycle.
 */
final class DaemonWatch {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path log;
    private final String domain;
    private final PrintStream out;
    private long offset;
    /** Bytes after the last complete line: decoded only whole, so a character split between reads stays whole. */
    private final ByteArrayOutputStream partial = new ByteArrayOutputStream();
    private JsonNode latest;
    private Integer announcedPoint;
    private long announcedErrors;
    private int liveWidth;
    private boolean sawTransfer;

    DaemonWatch(Path watcherLog, String domain, PrintStream out) {
        this.log = watcherLog;
        this.domain = domain;
        this.out = out;
    }

    /** The domain's newest status, or null before the daemon reported it. */
    JsonNode latest() {
        return latest;
    }

    /** Whether a transfer's progress (bar, rate, ETA) was on the live line at least once. */
    boolean sawTransfer() {
        return sawTransfer;
    }

    /** Reads what the watcher wrote since the last call, announces new points and failures, redraws the live line. */
    void poll() throws IOException {
        if (!Files.exists(log)) {
            return;
        }
        try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "r")) {
            if (f.length() <= offset) {
                return;
            }
            f.seek(offset);
            byte[] fresh = new byte[(int) Math.min(f.length() - offset, 16 << 20)];
            f.readFully(fresh);
            offset += fresh.length;
            partial.write(fresh);
        }
        byte[] pending = partial.toByteArray();
        int end = pending.length;
        while (end > 0 && pending[end - 1] != '\n') {
            end--;
        }
        partial.reset();
        partial.write(pending, end, pending.length - end);
        String live = null;
        for (String raw : new String(pending, 0, end, StandardCharsets.UTF_8).split("\n")) {
            String line = raw.strip();
            if (!line.startsWith("{")) {
                continue; // the JVM's own chatter, if any
            }
            JsonNode doc = JSON.readTree(line);
            if (doc.has("error")) {
                live = "daemon: " + doc.path("error").asText();
                continue;
            }
            for (JsonNode d : doc.path("domains")) {
                if (d.path("domain").asText().equals(domain)) {
                    latest = d;
                    announce(d);
                    live = liveText(d, Instant.parse(doc.path("now").asText()));
                }
            }
        }
        if (live != null) {
            showLive(live);
        }
    }

    /**
     * Polls until the standby holds a point cut after {@code after}, i.e. one that has every write
     * made before it; returns that status.
     */
    JsonNode awaitPointCutAfter(Instant after, Duration timeout, Supplier<String> diagnostics) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            poll();
            if (latest != null && !latest.path("lastPointAt").isNull()
                    && Instant.parse(latest.path("lastPointAt").asText()).isAfter(after)) {
                return latest;
            }
            Thread.sleep(250);
        }
        endLive();
        throw new IllegalStateException("the standby got no point cut after " + after + " within " + timeout.toSeconds()
                + " s; last status: " + latest + "\n" + diagnostics.get());
    }

    private void announce(JsonNode d) {
        if (d.path("errors").asLong() > announcedErrors) {
            announcedErrors = d.path("errors").asLong();
            println("daemon: a cycle failed: " + d.path("lastError").asText() + " (the next one retries)");
        }
        if (d.path("lastPoint").isNull() || Integer.valueOf(d.path("lastPoint").asInt()).equals(announcedPoint)) {
            return;
        }
        int point = d.path("lastPoint").asInt();
        // two points can land between two reads (a scheduled one, then the hook's at a shutdown)
        String between = announcedPoint == null || point <= announcedPoint + 1 ? ""
                : point == announcedPoint + 2 ? "; point " + (point - 1) + " landed just before"
                : "; points " + (announcedPoint + 1) + " to " + (point - 1) + " landed just before";
        announcedPoint = point;
        println(String.format("point %d on the standby: %s of delta, %.1f s from cut to ack (%s)%s", point,
                Progress.bytes(d.path("lastCycleDeltaBytes").asLong()), d.path("lastPointLagSeconds").asDouble(),
                consistency(d.path("consistency").asText()), between));
    }

    private static String consistency(String c) {
        return switch (c) {
            case "SHUT_OFF" -> "guest shut off";
            case "QUIESCED" -> "quiesced";
            default -> "crash-consistent";
        };
    }

    private String liveText(JsonNode d, Instant now) {
        String standby = d.path("lastPoint").isNull() ? "no point on the standby yet"
                : "standby at point " + d.path("lastPoint").asInt() + ", " + d.path("rpoSeconds").asLong() + " s old";
        String rpo = " (RPO " + Progress.duration(d.path("rpoTargetSeconds").asLong()) + ")";
        String phase = d.path("phase").asText();
        String doing = switch (phase) {
            case "shipping", "verifying" -> {
                sawTransfer |= phase.equals("shipping");
                yield Progress.statusLine(d);
            }
            case "capturing" -> "capturing a point";
            default -> d.path("nextRunAt").isNull() ? "idle" : "next point in "
                    + Math.max(0, Duration.between(now, Instant.parse(d.path("nextRunAt").asText())).toSeconds()) + " s";
        };
        return standby + rpo + " | " + doing;
    }

    private void showLive(String text) {
        String padded = text.length() < liveWidth ? text + " ".repeat(liveWidth - text.length()) : text;
        liveWidth = text.length();
        out.print("\r  " + padded);
        out.flush();
    }

    /** Ends the live line, so what is printed next starts on a line of its own. */
    void endLive() {
        if (liveWidth > 0) {
            out.print("\r" + " ".repeat(liveWidth + 2) + "\r");
            out.flush();
            liveWidth = 0;
        }
    }

    void println(String line) {
        endLive();
        out.println(line);
    }
}
