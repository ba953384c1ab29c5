package io.amirror.standby;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.cli.Main;
import io.amirror.cli.StdoutCapture;
import io.amirror.config.SchemaCheck;
import io.amirror.transport.Sender;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static io.amirror.standby.LoopbackStandby.DOM;
import static io.amirror.standby.LoopbackStandby.entry;
import static io.amirror.standby.LoopbackStandby.replicas;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code amirror replicas}: the standby's own view of what it holds, and its RPO check. */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class StandbyReplicasTest {
    static LoopbackStandby f;

    @BeforeAll
    static void fixture() throws IOException {
        f = LoopbackStandby.get();
    }

    @Test
    void theStandbyListsItsReplicasWithTheirAgeAndFlagsAStaleOne(@TempDir Path state) throws Exception {
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(r);
            s.ship(entry(f.d01, 0, 1));
            s.ship(entry(f.d12, 1, 2));
        }
        String out = StdoutCapture.of(() -> assertEquals(0, Main.execute("replicas",
                "--state", state.toString(), "--json")));
        JsonNode doc = new ObjectMapper().readTree(out);
        assertEquals(List.of(), SchemaCheck.named(SchemaCheck.REPLICAS).check(doc, "replicas --json"), out);
        JsonNode e = doc.path("replicas").get(0);
        assertEquals(DOM.toString(), e.path("uuid").asText());
        assertEquals(2, e.path("point").asInt());
        assertEquals("ok", e.path("health").asText());
        assertEquals("[1,2]", e.path("disks").get(0).path("points").toString());
        assertTrue(e.path("disks").get(0).path("allocatedBytes").asLong() > 9 << 20, "the replica holds 9+ MiB: " + out);
        // the age counts from the primary's cut time, which the delta carries (the fixture's deltas
        // were made when the test JVM built them, so it may be minutes before the apply)
        assertEquals("cut", e.path("ageFrom").asText(), out);
        java.time.Instant cut = java.time.Instant.parse(e.path("cutAt").asText());
        java.time.Instant at = java.time.Instant.parse(doc.path("now").asText());
        assertTrue(cut.isBefore(java.time.Instant.parse(e.path("appliedAt").asText()).plusSeconds(1)), out);
        assertTrue(Math.abs(java.time.Duration.between(cut, at).toSeconds() - e.path("ageSeconds").asLong()) <= 1, out);

        Thread.sleep(2_100); // a primary that went silent: the standby says so itself
        String stale = StdoutCapture.of(() -> assertEquals(5, Main.execute("replicas",
                "--state", state.toString(), "--max-age", "1s")));
        assertTrue(stale.contains("STALE (older than 1s)") && stale.contains(DOM.toString()), stale);
        assertTrue(stale.startsWith("REPLICA ") && stale.contains("\n  of: ") && stale.contains("uuid " + DOM), stale);
        // a promoted replica takes no more points: it is not stale, it is the domain now
        Files.writeString(replicas(state).resolve(DOM.toString()).resolve("promoted.json"),
                "{\"point\": 2, \"at\": \"2026-11-26T04:00:00Z\"}");
        String promoted = StdoutCapture.of(() -> assertEquals(0, Main.execute("replicas",
                "--state", state.toString(), "--max-age", "1s")));
        assertTrue(promoted.contains("PROMOTED at point 2"), promoted);
    }
}
