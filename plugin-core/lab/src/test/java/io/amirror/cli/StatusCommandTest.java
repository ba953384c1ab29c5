package io.amirror.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.lab.AmirrorProcess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StatusCommandTest {

    private static final String STATUS = """
            {"host": "office", "version": "dev", "startedAt": "2026-11-26T10:00:00Z", "now": "2026-11-26T10:05:00Z",
             "policies": ["office"], "policyErrors": [],
             "domains": [{"domain": "files", "policy": "office", "phase": "shipping", "lastPoint": 7,
               "rpoSeconds": 50, "rpoTargetSeconds": 900, "rpoState": "ok", "pendingBytes": 2000000,
               "shippedBytes": 500000, "rateBitsPerSecond": 950000, "etaSeconds": 13, "lastError": null,
               "cycles": 9, "errors": 0, "deltaBytesSent": 4200000, "pointsAcknowledged": 6,
               "lastPointLagSeconds": 12.5, "worstRpoSeconds": 1040}]}
            """;

    @Test
    void theTableShowsTheTransferAndTheRpoAchieved() throws Exception {
        String t = StatusCommand.table(new ObjectMapper().readTree(STATUS));
        assertTrue(t.contains("shipping [#####...............]  25% 500.0 kB of 2.00 MB, 950 kbit/s, ETA 13s"), t);
        assertTrue(t.contains("since the daemon started: 6 point(s), 4.20 MB of deltas sent, cut to ack 12.5 s last, "
                + "RPO achieved 17m20s"), t);
        assertTrue(t.contains("1.50 MB"), "pending: " + t);
    }

    @Test
    void watchRefusesAnIntervalOutOfRange() {
        assertEquals(2, Main.execute("status", "--state", "/nonexistent", "--watch", "0"));
    }

    /** Without a daemon, a watch says so at each read and goes on; one JSON document per line for scripts. */
    @Test
    void aWatchOutlivesAnAbsentDaemon(@TempDir Path state) throws Exception {
        try (AmirrorProcess p = AmirrorProcess.start(null, state.resolve("watch.log"), "status", "--state",
                state.toString(), "--json", "--watch", "1")) {
            long deadline = System.currentTimeMillis() + 30_000;
            while (p.output().lines().filter(l -> l.startsWith("{")).count() < 2 && System.currentTimeMillis() < deadline) {
                Thread.sleep(100);
            }
            List<String> docs = p.output().lines().filter(l -> l.startsWith("{")).toList();
            assertTrue(docs.size() >= 2 && p.alive(), p.output());
            JsonNode first = new ObjectMapper().readTree(docs.get(0));
            assertTrue(first.path("error").asText().contains("control"), first.toString());
        }
    }
}
