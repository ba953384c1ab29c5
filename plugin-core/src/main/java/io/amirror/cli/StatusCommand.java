package io.amirror.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.control.ControlClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/** {@code amirror status}: what the primary daemon is doing, per domain. */
@Command(name = "status", mixinStandardHelpOptions = true, footer = ExitCodes.HELP,
        description = "Show each replicated domain: its state, the newest point on the standby and its age against "
                + "the RPO, pending bytes, rate and ETA.")
final class StatusCommand implements Callable<Integer> {
    @Mixin
    LinkCommands.StateDir stateDir;
    @Option(names = "--json", description = "Print the status as JSON (schema: 'amirror policy schema status').")
    boolean json;

    @Override
    public Integer call() throws Exception {
        ControlClient.Reply r = ControlClient.forState(stateDir.path).status();
        if (r.code() != 200) {
            throw new IllegalStateException("the daemon answered: " + r.error());
        }
        JsonNode s = r.body();
        if (json) {
            System.out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(s));
        } else {
            print(s);
        }
        boolean healthy = true;
        for (JsonNode d : s.path("domains")) {
            healthy &= !"missed".equals(d.path("rpoState").asText()) && d.path("lastError").isNull();
        }
        return healthy && s.path("policyErrors").isEmpty() ? ExitCodes.OK : ExitCodes.NOT_HEALTHY;
    }

    private static void print(JsonNode s) {
        System.out.printf("amirror %s on %s, up since %s; policies: %s%n", s.path("version").asText(),
                s.path("host").asText(), s.path("startedAt").asText(), s.path("policies"));
        System.out.printf("%-20s %-12s %-9s %-7s %-22s %-10s %-13s %s%n", "DOMAIN", "POLICY", "STATE", "POINT",
                "AGE / RPO", "PENDING", "RATE", "ETA");
        for (JsonNode d : s.path("domains")) {
            String age = d.path("rpoSeconds").isNull() ? "-" : Progress.duration(d.path("rpoSeconds").asLong());
            String rpo = age + " / " + Progress.duration(d.path("rpoTargetSeconds").asLong()) + " "
                    + d.path("rpoState").asText();
            long pending = d.path("pendingBytes").asLong() - d.path("shippedBytes").asLong();
            System.out.printf("%-20s %-12s %-9s %-7s %-22s %-10s %-13s %s%n", d.path("domain").asText(),
                    d.path("policy").asText(), d.path("phase").asText(),
                    d.path("lastPoint").isNull() ? "-" : d.path("lastPoint").asText(), rpo,
                    Progress.bytes(pending), d.path("rateBitsPerSecond").asDouble() == 0 ? "-"
                            : Progress.rate(d.path("rateBitsPerSecond").asDouble()),
                    d.path("etaSeconds").isNull() ? "-" : Progress.duration(d.path("etaSeconds").asLong()));
            if (!d.path("lastError").isNull()) {
                System.out.printf("  last cycle failed at %s: %s%n", d.path("lastErrorAt").asText(),
                        d.path("lastError").asText());
            }
            if (d.path("lastVerify").isTextual() && d.path("lastVerify").asText().contains("DIFFERS")) {
                System.out.printf("  last verify: %s%n", d.path("lastVerify").asText());
            }
            if (d.path("lastRepair").isTextual()) {
                System.out.printf("  last repair: %s%n", d.path("lastRepair").asText());
            }
        }
        for (JsonNode e : s.path("policyErrors")) {
            System.out.printf("policy error: %s: %s: %s%n", e.path("file").asText(), e.path("field").asText(),
                    e.path("problem").asText());
        }
    }
}
