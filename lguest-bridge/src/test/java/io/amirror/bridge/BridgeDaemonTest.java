package io.amirror.bridge;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.config.SchemaCheck;
import io.amirror.control.ControlClient;
import io.amirror.image.DiskImage;
import io.amirror.lab.AmirrorProcess;
import io.amirror.lab.LoopbackStandby;
import io.amirror.standby.ReplicaDisk;
import io.amirror.standby.StandbyLayout;
import io.amirror.standby.StandbyService;
import io.amirror.transport.Identity;
import io.amirror.util.Exec;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static io.amirror.lab.Cli.cli;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A bridge guest under the primary daemon: a real bridge ({@code amirror bridge serve}) written by
 * {@code qemu-io}, a standby receiver on loopback, and {@code amirror primary} with the guest's
 * bridge policy. The daemon replicates it on its schedule and on request; {@code amirror status
 * --json}, the metrics, {@code amirror verify} and the RPO alert show it through the same code as a
 * libvirt domain. libvirt's built-in test driver stands in for libvirtd: no domain of it is covered.
 */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class BridgeDaemonTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void theDaemonReplicatesABridgeGuestWithStatusMetricsVerifyAndAlerts(@TempDir Path dir) throws Exception {
        Path image = dir.resolve("pbx.raw");
        Files.write(image, new byte[4 << 20]);
        Path socket = dir.resolve("pbx.sock");
        Path primary = dir.resolve("primary");
        Path policies = Files.createDirectories(dir.resolve("policies.d"));
        Path alerts = dir.resolve("alerts.txt");
        Identity me = Identity.loadOrCreate(primary, "primary");
        Identity standbyId = Identity.loadOrCreate(dir.resolve("standby"), "standby");
        DiskImage.Tools tools = DiskImage.Tools.installed();
        try (StandbyService standby = LoopbackStandby.start(dir, standbyId, me.fingerprint(), tools)) {
            Path policy = policies.resolve("pbx.json");
            Files.writeString(policy, """
                    {"name": "pbx", "source": "bridge", "domains": {"names": ["pbx"]},
                     "bridge": {"image": "%s", "socket": "%s"},
                     "standby": {"address": "127.0.0.1:%d", "fingerprint": "%s"},
                     "rpo": {"interval": "10s"}, "compression": "1",
                     "alerts": {"rpoMissedAfter": "12s",
                                "command": ["/bin/sh", "-c", "echo \\"$AMIRROR_DOMAIN $AMIRROR_EVENT\\" >> %s"]}}
                    """.formatted(image, socket, standby.port(), standbyId.fingerprint(), alerts));
            AmirrorProcess bridge = AmirrorProcess.start(null, dir.resolve("serve.log"), "bridge", "serve",
                    "--policy", policy.toString()).awaitLog("bridge serving", 30_000);
            try (AmirrorProcess daemon = AmirrorProcess.start(null, dir.resolve("primary.log"), "primary", "--state",
                    primary.toString(), "--policies", policies.toString(), "--control", "127.0.0.1:0", "--scratch",
                    Files.createDirectories(dir.resolve("scratch")).toString(), "--libvirt", "test:///default")
                    .awaitLog("primary running", 60_000)) {
                Exec.run(List.of(Exec.tool("qemu-io"), "-f", "raw", "-c", "write -P 0x5a 1M 256k",
                        "nbd+unix:///?socket=" + socket), null, Map.of(), Duration.ofSeconds(30)).orThrow();
                String synced = cli(dir, "sync", 0, "sync", "--state", primary.toString(), "pbx", "--wait");
                assertTrue(synced.contains("standby holds point"), synced);
                BridgeState st = BridgeState.read(dir.resolve("pbx.raw.amirror"));
                ReplicaDisk replica = new ReplicaDisk(StandbyLayout.of(dir).replicas(), st.uuid(), "vda", tools, 3);
                Exec.Result cmp = Exec.run(List.of(tools.qemuImg().toString(), "compare", "-U", "-f", "raw", "-F",
                        "qcow2", image.toString(), replica.image().toString()), null, Map.of(), Duration.ofSeconds(60));
                assertEquals(0, cmp.exitCode(), cmp.stdout() + cmp.stderr());

                // status --json: valid against its schema, the guest with its point, age and state
                JsonNode status = JSON.readTree(cli(dir, "status", 0, "status", "--json", "--state", primary.toString()));
                assertEquals(List.of(), SchemaCheck.named(SchemaCheck.STATUS).check(status, "status"));
                JsonNode g = status.path("domains").get(0);
                assertEquals("pbx", g.path("domain").asText(), status.toString());
                assertEquals(st.uuid().toString(), g.path("uuid").asText());
                assertEquals("pbx", g.path("policy").asText());
                assertTrue(g.path("lastPoint").asInt() >= 1, g.toString());
                assertTrue(g.path("rpoSeconds").isIntegralNumber() && g.path("rpoSeconds").asLong() < 12, g.toString());
                assertEquals("ok", g.path("rpoState").asText(), g.toString());
                assertEquals(10, g.path("rpoTargetSeconds").asInt());
                assertEquals("CRASH", g.path("consistency").asText(), "a bridge point is crash-consistent");
                assertTrue(g.path("pointsAcknowledged").asInt() >= 1, g.toString());

                // metrics: the same series as a libvirt domain's
                String metrics = ControlClient.forState(primary).metrics();
                assertTrue(metrics.contains("amirror_rpo_seconds{domain=\"pbx\",policy=\"pbx\"}"), metrics);
                assertTrue(metrics.contains("amirror_last_point_timestamp_seconds{domain=\"pbx\",policy=\"pbx\"}"), metrics);
                assertTrue(metrics.contains("amirror_cycles_total{domain=\"pbx\",policy=\"pbx\"}"), metrics);

                // verify: the standby's replica against the primary's record, by group digests
                String verified = cli(dir, "verify", 0, "verify", "--state", primary.toString(), "pbx");
                assertTrue(verified.contains("replica identical"), verified);

                // the bridge stops: cycles fail, the newest point ages past the alert threshold, the alert runs once
                bridge.close();
                long deadline = System.currentTimeMillis() + 60_000;
                while (!(Files.exists(alerts) && Files.readString(alerts).contains("pbx rpo-missed"))
                        && System.currentTimeMillis() < deadline) {
                    Thread.sleep(500);
                }
                assertTrue(Files.exists(alerts) && Files.readString(alerts).contains("pbx rpo-missed"),
                        "no RPO alert for the bridge guest; daemon log: " + daemon.output());
                JsonNode missed = JSON.readTree(cli(dir, "status-missed", 5, "status", "--json", "--state",
                        primary.toString())).path("domains").get(0);
                assertEquals("missed", missed.path("rpoState").asText(), missed.toString());
                assertTrue(missed.path("errors").asInt() >= 1, missed.toString());
                assertTrue(missed.path("lastError").asText().contains("no bridge answers"), missed.toString());
            } finally {
                bridge.close();
            }
        }
    }
}
