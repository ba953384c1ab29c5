package io.amirror.standby;

import io.amirror.config.StandbyConfig;
import io.amirror.transport.Sender;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.amirror.standby.LoopbackStandby.DOM;
import static io.amirror.standby.LoopbackStandby.UNLIMITED;
import static io.amirror.standby.LoopbackStandby.entry;
import static io.amirror.standby.LoopbackStandby.local;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The standby's metrics, scraped over HTTP from a real standby on loopback: the replica's point,
 * age and kept points once a delta is applied, the bytes received, a refusal by its reason, and a
 * connection of an unpinned peer dropped at its handshake.
 */
@Tag("real") // real qemu-img, real sockets
class StandbyMetricsTest {
    static LoopbackStandby f;

    @BeforeAll
    static void fixture() throws IOException {
        f = LoopbackStandby.get();
    }

    @Test
    void aScrapeShowsTheReplicasTheBytesTheRefusalsAndTheDroppedConnections(@TempDir Path state) throws Exception {
        StandbyConfig c = f.config(state, Set.of(f.primary.fingerprint()), null, LoopbackStandby.KEEP, 36500);
        StandbyConfig withMetrics = new StandbyConfig(c.stateDir(), c.listen(), c.listenText(), c.peers(), c.ca(),
                c.libvirtUri(), c.defineReplicas(), c.replicaSuffix(), c.socketDir(), c.keep(), c.keepDays(),
                c.replicaLimits(), c.tenants(), c.immutableDays(), c.maxDiskBytes(), c.drills(), false, local(0));
        try (StandbyService s = f.start(withMetrics)) {
            assertTrue(s.metricsPort() > 0);
            String before = scrape(s);
            assertTrue(before.contains("amirror_standby_free_bytes "), before);
            assertTrue(!before.contains("amirror_standby_point{"), "no replica yet: " + before);

            Sender sender = f.sender(s);
            assertThrows(Sender.RefusedException.class, () -> sender.ship(entry(f.d12, 1, 2)), "no point 1 yet");
            assertEquals(1, sender.ship(entry(f.d01, 0, 1)).ack().point());
            Sender intruder = f.sender(f.stranger, Set.of(f.standby.fingerprint()), local(s.port()), UNLIMITED);
            assertThrows(IOException.class, () -> intruder.ship(entry(f.d01, 0, 1)));

            String m = scrape(s);
            assertEquals(1, value(m, "amirror_standby_replicas"), m);
            String labels = "domain=\"\",replica=\"\",uuid=\"" + DOM + "\"";
            assertEquals(1, value(m, "amirror_standby_point{" + labels + "}"), m);
            assertEquals(1, value(m, "amirror_standby_kept_points{" + labels + "}"), m);
            assertEquals(0, value(m, "amirror_standby_promoted{" + labels + "}"), m);
            assertTrue(value(m, "amirror_standby_point_age_seconds{" + labels + "}") < 120, m);
            assertTrue(value(m, "amirror_standby_replica_bytes{" + labels + "}") > 0, m);
            assertTrue(value(m, "amirror_standby_received_bytes_total{uuid=\"" + DOM + "\"}") >= 1, m);
            assertEquals(1, value(m, "amirror_standby_disk_points_applied_total{uuid=\"" + DOM + "\"}"), m);
            assertEquals(1, value(m, "amirror_standby_refused_total{reason=\"base_mismatch\"}"), m);
            // the intruder's handshake fails on the standby's side after its own side gave up: wait for the count
            for (int i = 0; i < 50 && !scrape(s).contains("reason=\"handshake_failed\""); i++) {
                Thread.sleep(100);
            }
            assertEquals(1, value(scrape(s), "amirror_standby_connections_dropped_total{reason=\"handshake_failed\"}"));
        }
    }

    private static String scrape(StandbyService s) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + s.metricsPort() + "/metrics")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode());
        return r.body();
    }

    private static double value(String scrape, String series) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(series) + " (\\S+)$").matcher(scrape);
        assertTrue(m.find(), "no series " + series + " in:\n" + scrape);
        return Double.parseDouble(m.group(1));
    }
}
