package io.amirror.standby;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.lab.DiskSpec;
import io.amirror.lab.DomainSpec;
import io.amirror.lab.Lab;
import io.amirror.lab.LabDomain;
import io.amirror.lab.RealVmTest;
import io.amirror.util.Exec;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * amirror's Cockpit page in a real browser: Debian's Chromium, driven by playwright-core, against
 * a real cockpit-ws (a local session, no login) with the page installed from the package's
 * sources, on a host where a real primary daemon replicates a lab guest to a real standby. The
 * test reads both tables, presses "Sync now" and sees the standby's newest point change, opens a
 * drill's confirmation and cancels it; the screenshots go to the lab's work directory and to
 * {@code plugin-core/lab/target/cockpit-screenshots/}.
 */
@RealVmTest
class CockpitPageRealVmTest {
    static final Path PAGE = Path.of(System.getProperty("basedir", "."), "..", "..", "packaging", "src", "cockpit",
            "amirror").normalize();
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void thePageShowsBothSidesAndSyncNowCutsAPoint(Lab lab) throws Exception {
        Path cockpitWs = Path.of("/usr/lib/cockpit/cockpit-ws");
        assertTrue(Files.isExecutable(cockpitWs), "cockpit-ws is missing: apt-get install cockpit-ws cockpit-bridge "
                + "(./quickstart does)");
        assertTrue(Files.isExecutable(Path.of("/usr/bin/chromium")), "chromium is missing (./quickstart installs it)");
        Path node = Path.of(Exec.tool("node"));
        Path modules = playwright(lab);

        int metricsPort = freePort();
        try (ReplicationRun run = ReplicationRun.open(lab, "cockpit-")) {
            run.startStandby("--metrics", "127.0.0.1:" + metricsPort);
            LabDomain vm = lab.createDomain(DomainSpec.oneDisk(32L << 20, DiskSpec.Content.BLANK)).start();
            Process ws = null;
            try {
                Files.writeString(run.policies.resolve("lab.json"), "{\"name\": \"lab\", \"domains\": {\"names\": [\""
                        + vm.name() + "\"]}, " + run.standbyMember() + ", \"rpo\": {\"interval\": \"1h\"}}");
                run.startPrimary();
                int first = run.lastPointAfter(0, "first point", Duration.ofMinutes(3));
                vm.console().writeRandom("vda", 32, 4);

                // the page where the bridge finds packages: XDG_DATA_DIRS/cockpit/amirror
                Path data = Files.createDirectories(run.work.resolve("xdg").resolve("cockpit").resolve("amirror"));
                try (Stream<Path> files = Files.list(PAGE)) {
                    for (Path f : files.toList()) {
                        Files.copy(f, data.resolve(f.getFileName()));
                    }
                }
                int port = freePort();
                ProcessBuilder pb = new ProcessBuilder(cockpitWs.toString(), "--no-tls", "--address", "127.0.0.1",
                        "--port", String.valueOf(port), "--local-session=cockpit-bridge")
                        .redirectErrorStream(true).redirectOutput(run.work.resolve("cockpit-ws.log").toFile());
                pb.environment().put("XDG_DATA_DIRS", run.work.resolve("xdg") + ":/usr/local/share:/usr/share");
                ws = pb.start();
                awaitPort(port, Duration.ofSeconds(30));

                String url = "http://127.0.0.1:" + port + "/cockpit/@localhost/amirror/index.html#/?state="
                        + enc(run.primaryState.toString()) + "&standby=" + enc("127.0.0.1:" + metricsPort)
                        + "&standbyState=" + enc(run.standbyState.toString());
                Path shots = Files.createDirectories(run.work.resolve("screenshots"));
                Path script = Files.copy(Path.of(System.getProperty("basedir", "."), "src", "test", "resources", "cockpit",
                        "page.mjs"), modules.resolve("page.mjs"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                Exec.Result r = Exec.run(List.of(node.toString(), script.toString(), url, vm.name(), shots.toString()),
                        modules, Map.of(), Duration.ofMinutes(6));
                assertEquals(0, r.exitCode(), r.stdout() + r.stderr() + "\ncockpit-ws: "
                        + Files.readString(run.work.resolve("cockpit-ws.log")));
                String last = r.stdout().strip().lines().reduce((a, b) -> b).orElseThrow();
                JsonNode page = JSON.readTree(last);
                System.out.println("cockpit page: " + page);

                assertTrue(page.path("headings").toString().contains("primary")
                        && page.path("headings").toString().contains("standby"), page.toString());
                JsonNode row = page.path("primary").path(0);
                assertEquals(vm.name(), row.path(0).asText());
                assertTrue(page.path("pointBefore").asText().startsWith("point "), page.toString());
                int before = Integer.parseInt(page.path("pointBefore").asText().substring(6));
                int after = Integer.parseInt(page.path("pointAfter").asText().substring(6));
                assertTrue(before >= first && after > before, "Sync now cut a new point: " + page);
                assertEquals(after, run.status().path("lastPoint").asInt(), "the page shows what the daemon says");
                JsonNode replica = page.path("standbyAfter").path(0);
                assertEquals(vm.name() + "-replica", replica.path(0).asText(), page.toString());
                assertNotEquals("none yet", replica.path(2).asText());
                assertTrue(page.path("drillConfirmation").asText().contains("isolated network"), page.toString());

                Path kept = Files.createDirectories(Path.of(System.getProperty("basedir", "."), "target",
                        "cockpit-screenshots"));
                List<String> names = new ArrayList<>();
                try (Stream<Path> s = Files.list(shots)) {
                    for (Path p : s.toList()) {
                        Files.copy(p, kept.resolve(p.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                        names.add(p.getFileName().toString());
                    }
                }
                assertEquals(3, names.size(), names.toString());
                System.out.printf("cockpit page: first paint %d ms; point %d -> %d after Sync now; screenshots %s in %s%n",
                        page.path("firstPaintMillis").asLong(), before, after, names, kept);
            } finally {
                if (ws != null) {
                    ws.destroyForcibly();
                }
                run.killPrimary();
                vm.close();
                ReplicationRun.undefine(lab, vm.name() + "-replica");
            }
        }
    }

    /** playwright-core from npm, once per lab work directory (it drives the system's Chromium, downloading no browser). */
    private static Path playwright(Lab lab) throws IOException {
        Path dir = Files.createDirectories(lab.options().workDir().resolve("npm-playwright"));
        if (!Files.isDirectory(dir.resolve("node_modules").resolve("playwright-core"))) {
            Exec.Result r = Exec.run(List.of(Exec.tool("npm"), "install", "--no-audit", "--no-fund", "--prefix",
                    dir.toString(), "playwright-core@1"), dir, Map.of(), Duration.ofMinutes(5));
            assertEquals(0, r.exitCode(), "npm install playwright-core: " + r.stdout() + r.stderr());
        }
        return dir;
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static void awaitPort(int port, Duration wait) throws Exception {
        long deadline = System.nanoTime() + wait.toNanos();
        while (true) {
            try (Socket s = new Socket("127.0.0.1", port)) {
                return;
            } catch (IOException notYet) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("cockpit-ws did not listen on " + port);
                }
                Thread.sleep(200);
            }
        }
    }
}
