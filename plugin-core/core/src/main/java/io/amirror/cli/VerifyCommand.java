package io.amirror.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.amirror.control.ControlClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** {@code amirror verify DOMAIN}: the standby's replica against the primary's record, by hashes only. */
@Command(name = "verify", mixinStandardHelpOptions = true, footer = ExitCodes.HELP,
        description = {"Compare the standby's replica of DOMAIN at the last point with what the primary sent, by "
                + "content hashes: the standby reads its replica and returns 16 bytes per group of blocks (1 MiB, "
                + "larger on disks over 32 GiB); no data crosses the link.",
                "Exit 0 if identical, 5 if a group differs or could not be compared."})
final class VerifyCommand implements Callable<Integer> {
    @Mixin
    LinkCommands.StateDir stateDir;
    @Parameters(paramLabel = "DOMAIN")
    String domain;
    @Option(names = "--json", description = "Print the report as JSON.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        ControlClient c = ControlClient.forState(stateDir.path);
        CompletableFuture<ControlClient.Reply> call = CompletableFuture
                .supplyAsync(() -> {
                    try {
                        return c.verify(domain);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
        String last = "";
        while (!call.isDone()) { // the standby reads its replica: show how far, from the daemon's status
            for (JsonNode d : c.status().body().path("domains")) {
                String line = d.path("domain").asText().equals(domain) ? Progress.statusLine(d) : last;
                if (!json && !line.equals(last)) {
                    System.err.print("\r" + line + "    ");
                    last = line;
                }
            }
            try {
                call.get(500, TimeUnit.MILLISECONDS);
            } catch (TimeoutException stillRunning) {
                // poll again
            }
        }
        if (!last.isEmpty()) {
            System.err.println();
        }
        ControlClient.Reply r;
        try {
            r = call.join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof UncheckedIOException u ? u.getCause() : e;
        }
        if (r.code() != 200) {
            throw new IllegalStateException(r.error());
        }
        JsonNode rep = r.body();
        boolean identical = true;
        StringBuilder out = new StringBuilder();
        out.append(String.format("%s at point %d (%.1f s):%n", domain, rep.path("point").asInt(), rep.path("seconds").asDouble()));
        for (JsonNode d : rep.path("disks")) {
            long group = d.path("groupBytes").asLong();
            int groups = d.path("groups").asInt();
            int unknown = d.path("unknown").asInt();
            JsonNode bad = d.path("mismatches");
            identical &= bad.isEmpty() && unknown == 0;
            out.append(String.format("  %s: %d of %d groups of %s identical", d.path("disk").asText(),
                    d.path("matching").asInt(), groups, Progress.bytes(group)));
            if (unknown > 0) {
                out.append(String.format(", %d not known to the primary (a full sync makes them known)", unknown));
            }
            out.append(String.format("; %s of summary received%n", Progress.bytes(d.path("summaryBytes").asLong())));
            for (JsonNode m : bad) {
                out.append(String.format("    DIFFERS: bytes %d to %d%n", m.get(0).asLong(), m.get(0).asLong() + m.get(1).asLong()));
            }
        }
        System.out.print(json ? rep.toPrettyString() + "\n" : out + (identical ? "replica identical\n"
                : "replica DIFFERS from what the primary sent; the next cycle sends the differing groups again\n"));
        return identical ? ExitCodes.OK : ExitCodes.NOT_HEALTHY;
    }
}
