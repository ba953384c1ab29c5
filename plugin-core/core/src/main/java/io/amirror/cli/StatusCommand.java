package io.amirror.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.control.ControlClient;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.concurrent.Callable;

/**
 * {@code amirror status}: what the primary daemon is doing, per domain. With {@code --watch} it
 * reads the status again every few seconds until interrupted: a table redrawn in place on a
 * terminal, or one compact JSON document per line with {@code --json} (for scripts to follow).
 * A daemon that stops answering is reported and asked again at the next read.
 */
@Command(name = "status", mixinStandardHelpOptions = true, footer = ExitCodes.HELP,
        description = "Show each replicated domain: its state, the newest point on the standby and its age against "
                + "the RPO, pending bytes, rate and ETA.")
final class StatusCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;
    @Mixin
    LinkCommands.StateDir stateDir;
    @Option(names = "--json", description = "Print the status as JSON (schema: 'amirror policy schema status').")
    boolean json;
    @Option(names = "--watch", arity = "0..1", paramLabel = "SECONDS", fallbackValue = "2",
            description = "Read the status again every SECONDS (default 2, 1 to 3600) until interrupted.")
    Integer watch;

    private static final ObjectMapper JSON = new ObjectMapper();

    @Override
    public Integer call() throws Exception {
        if (watch == null) {
            JsonNode s = read();
            System.out.println(json ? JSON.writerWithDefaultPrettyPrinter().writeValueAsString(s) : table(s));
            return healthy(s) ? ExitCodes.OK : ExitCodes.NOT_HEALTHY;
        }
        if (watch < 1 || watch > 3600) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--watch takes 1 to 3600 seconds, not " + watch);
        }
        boolean terminal = System.console() != null && !json;
        while (!Thread.currentThread().isInterrupted()) {
            String shown;
            try {
                JsonNode s = read();
                shown = json ? JSON.writeValueAsString(s) : table(s);
            } catch (IOException | IllegalStateException e) { // unreachable, or a refusal: say so, ask again
                shown = json ? JSON.createObjectNode().put("error", e.getMessage()).toString()
                        : "amirror status: " + e.getMessage() + "; asking again in " + watch + " s";
            }
            // a terminal gets the table redrawn in place; a pipe or file gets one read after another
            System.out.print(terminal ? "\033[H\033[2J" + shown + System.lineSeparator() : shown + System.lineSeparator()
                    + (json ? "" : System.lineSeparator()));
            System.out.flush();
            Thread.sleep(watch * 1000L);
        }
        return ExitCodes.OK;
    }

    private JsonNode read() throws IOException {
        ControlClient.Reply r = ControlClient.forState(stateDir.path).status();
        if (r.code() != 200) {
            throw new IllegalStateException("the daemon answered: " + r.error());
        }
        return r.body();
    }

    private static boolean healthy(JsonNode s) {
        boolean healthy = true;
        for (JsonNode d : s.path("domains")) {
            healthy &= !"missed".equals(d.path("rpoState").asText()) && d.path("lastError").isNull();
        }
        return healthy && s.path("policyErrors").isEmpty();
    }

    /** The human form: a header, one row per domain, and indented lines for what needs attention. */
    static String table(JsonNode s) {
        StringWriter buf = new StringWriter();
        PrintWriter out = new PrintWriter(buf);
        out.printf("amirror %s on %s, up since %s; policies: %s%n", s.path("version").asText(),
                s.path("host").asText(), s.path("startedAt").asText(), s.path("policies"));
        out.printf("%-20s %-12s %-9s %-7s %-22s %-10s %-13s %s%n", "DOMAIN", "POLICY", "STATE", "POINT",
                "AGE / RPO", "PENDING", "RATE", "ETA");
        for (JsonNode d : s.path("domains")) {
            String age = d.path("rpoSeconds").isNull() ? "-" : Progress.duration(d.path("rpoSeconds").asLong());
            String rpo = age + " / " + Progress.duration(d.path("rpoTargetSeconds").asLong()) + " "
                    + d.path("rpoState").asText();
            long pending = d.path("pendingBytes").asLong() - d.path("shippedBytes").asLong();
            out.printf("%-20s %-12s %-9s %-7s %-22s %-10s %-13s %s%n", d.path("domain").asText(),
                    d.path("policy").asText(), d.path("phase").asText(),
                    d.path("lastPoint").isNull() ? "-" : d.path("lastPoint").asText(), rpo,
                    Progress.bytes(pending), d.path("rateBitsPerSecond").asDouble() == 0 ? "-"
                            : Progress.rate(d.path("rateBitsPerSecond").asDouble()),
                    d.path("etaSeconds").isNull() ? "-" : Progress.duration(d.path("etaSeconds").asLong()));
            String phase = d.path("phase").asText();
            if (phase.equals("shipping") || phase.equals("verifying") || phase.equals("capturing") && d.path("capture").isObject()) {
                out.printf("  %s%n", Progress.statusLine(d));
            }
            if (d.path("pointsAcknowledged").asLong() > 0) {
                out.printf("  since the daemon started: %d point(s), %s of deltas sent, cut to ack %s last%s%n",
                        d.path("pointsAcknowledged").asLong(), Progress.bytes(d.path("deltaBytesSent").asLong()),
                        String.format("%.1f s", d.path("lastPointLagSeconds").asDouble()),
                        d.path("worstRpoSeconds").isNull() ? ""
                                : ", RPO achieved " + Progress.duration(d.path("worstRpoSeconds").asLong()));
            }
            if (!d.path("lastError").isNull()) {
                out.printf("  last cycle failed at %s%s: %s%n", d.path("lastErrorAt").asText(),
                        d.path("standbyRefusal").isTextual() ? " (the standby refuses: "
                                + d.path("standbyRefusal").asText().replace('_', ' ') + ")" : "",
                        d.path("lastError").asText());
            }
            if (d.path("lastVerify").isTextual() && d.path("lastVerify").asText().contains("DIFFERS")) {
                out.printf("  last verify: %s%n", d.path("lastVerify").asText());
            }
            if (d.path("lastRepair").isTextual()) {
                out.printf("  last repair: %s%n", d.path("lastRepair").asText());
            }
        }
        for (JsonNode e : s.path("policyErrors")) {
            out.printf("policy error: %s: %s: %s%n", e.path("file").asText(), e.path("field").asText(),
                    e.path("problem").asText());
        }
        out.flush();
        return buf.toString().stripTrailing();
    }
}
