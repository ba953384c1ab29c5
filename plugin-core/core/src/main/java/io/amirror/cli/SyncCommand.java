package io.amirror.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.amirror.control.ControlClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.Callable;

/** {@code amirror sync DOMAIN [--wait]}: one cycle now, outside the schedule. */
@Command(name = "sync", mixinStandardHelpOptions = true, footer = ExitCodes.HELP,
        description = "Run one replication cycle of DOMAIN now (also inside a blackout). With --wait, show its progress "
                + "and return when the standby holds the new point.")
final class SyncCommand implements Callable<Integer> {
    @Mixin
    LinkCommands.StateDir stateDir;
    @Parameters(paramLabel = "DOMAIN")
    String domain;
    @Option(names = "--wait", description = "Wait for the cycle to end, with a progress bar.")
    boolean wait;
    @Option(names = "--timeout", description = "Give up waiting after this many seconds (default: ${DEFAULT-VALUE}).")
    long timeoutSeconds = 24 * 3600;

    @Override
    public Integer call() throws Exception {
        ControlClient c = ControlClient.forState(stateDir.path);
        ControlClient.Reply r = c.sync(domain);
        if (r.code() != 202) {
            throw new IllegalStateException(r.error());
        }
        Instant requested = Instant.parse(r.body().path("requestedAt").asText());
        System.out.println("cycle of " + domain + " requested");
        if (!wait) {
            return ExitCodes.OK;
        }
        JsonNode d = awaitCycle(c, domain, requested, Instant.now().plus(Duration.ofSeconds(timeoutSeconds)));
        if (d == null) {
            System.out.println("still running after " + timeoutSeconds + " s; see 'amirror status'");
            return ExitCodes.FAILED;
        }
        if (failed(d)) {
            System.out.println("cycle failed: " + d.path("lastError").asText());
            return ExitCodes.NOT_HEALTHY;
        }
        System.out.printf("standby holds point %s of %s (%s of delta, cycle %.1f s)%n",
                d.path("lastPoint").asText(), domain, Progress.bytes(d.path("lastCycleDeltaBytes").asLong()),
                d.path("lastCycleSeconds").asDouble());
        return ExitCodes.OK;
    }

    /**
     * Waits for the first cycle of {@code domain} that started at or after {@code requested} to
     * end, showing its progress on stderr; returns the domain's status then, or null at the
     * deadline. See {@link #failed} for how it ended.
     */
    static JsonNode awaitCycle(ControlClient c, String domain, Instant requested, Instant deadline) throws Exception {
        String last = "";
        while (Instant.now().isBefore(deadline)) {
            JsonNode d = find(c.status().body(), domain);
            if (d == null) {
                throw new IllegalStateException("domain " + domain + " is no longer covered by a policy");
            }
            Instant started = instant(d.path("lastCycleStartedAt"));
            Instant ended = instant(d.path("lastCycleEndedAt"));
            if (started != null && !started.isBefore(requested) && ended != null && !ended.isBefore(started)) {
                System.err.println();
                return d;
            }
            String line = Progress.statusLine(d);
            if (!line.equals(last)) {
                System.err.print("\r" + line + "    ");
                last = line;
            }
            Thread.sleep(500);
        }
        System.err.println();
        return null;
    }

    /** Whether the cycle {@link #awaitCycle} saw end failed. */
    static boolean failed(JsonNode d) {
        Instant ended = instant(d.path("lastCycleEndedAt"));
        return ended != null && ended.equals(instant(d.path("lastErrorAt")));
    }

    static JsonNode find(JsonNode status, String domain) {
        for (JsonNode d : status.path("domains")) {
            if (domain.equals(d.path("domain").asText())) {
                return d;
            }
        }
        return null;
    }

    private static Instant instant(JsonNode n) {
        return n == null || n.isNull() || n.isMissingNode() ? null : Instant.parse(n.asText());
    }
}
