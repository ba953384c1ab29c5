package io.amirror.standby;

import io.amirror.config.ConfigError;
import io.amirror.control.Metrics;
import io.amirror.control.PrimaryControl;
import io.amirror.control.StatusReport;
import io.amirror.control.VerifyReport;
import io.amirror.util.Exec;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.amirror.standby.LoopbackStandby.entry;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The alert rules and the dashboard shipped in {@code monitoring/}: Prometheus's own
 * {@code promtool} checks the rules and runs their unit tests ({@code amirror.rules.test.yml}: each
 * alert fires on the series that should fire it), and every metric the rules and the dashboard
 * name is in a real scrape of a primary's metrics or a standby's (one with a replica and a drill).
 */
@Tag("real") // promtool (Debian's prometheus), real qemu-img and sockets
class MonitoringRulesTest {
    static final Path MONITORING = Path.of(System.getProperty("basedir", "."), "..", "..", "monitoring").normalize();
    static final Pattern METRIC = Pattern.compile("\\bamirror_[a-z_]+\\b");
    static LoopbackStandby f;

    @BeforeAll
    static void fixture() throws IOException {
        f = LoopbackStandby.get();
    }

    @Test
    void promtoolChecksTheRulesAndTheirTestsPass() {
        Exec.Result check = Exec.run(Duration.ofMinutes(1), Exec.tool("promtool"), "check", "rules",
                MONITORING.resolve("amirror.rules.yml").toString());
        assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
        Exec.Result test = Exec.run(Duration.ofMinutes(1), Exec.tool("promtool"), "test", "rules",
                MONITORING.resolve("amirror.rules.test.yml").toString());
        assertEquals(0, test.exitCode(), (test.stdout() + test.stderr()));
        assertTrue((test.stdout() + test.stderr()).contains("SUCCESS"), (test.stdout() + test.stderr()));
    }

    @Test
    void everyMetricTheRulesAndTheDashboardNameIsScrapedFromADaemon(@TempDir Path state) throws Exception {
        Set<String> used = new TreeSet<>();
        for (String file : List.of("amirror.rules.yml", "amirror-dashboard.json")) {
            Matcher m = METRIC.matcher(Files.readString(MONITORING.resolve(file)));
            while (m.find()) {
                used.add(m.group());
            }
        }
        assertTrue(used.size() > 20, "the rules and dashboard name the metrics: " + used);

        Set<String> scraped = new TreeSet<>();
        ByteArrayOutputStream primary = new ByteArrayOutputStream();
        new Metrics(primaryWithOneDomain()).write(primary);
        scraped.addAll(series(primary.toString()));
        try (StandbyService s = f.start(state)) {
            org.junit.jupiter.api.Assertions.assertThrows(io.amirror.transport.Sender.RefusedException.class,
                    () -> f.sender(s).ship(entry(f.d12, 1, 2))); // a refusal (base mismatch) to count
            f.sender(s).ship(entry(f.d01, 0, 1));
            ReplicaDomain rd = new ReplicaDomain(LoopbackStandby.replicas(state), LoopbackStandby.DOM, f.tools);
            rd.recordDrill(new DrillReport("0a1b2c3d", "files", LoopbackStandby.DOM.toString(), 1, null, "files-drill",
                    "isolated", Instant.now().minusSeconds(60).toString(), Instant.now().toString(), 31.5, List.of(),
                    null, false, "the check failed", List.of()));
            ByteArrayOutputStream standby = new ByteArrayOutputStream();
            s.metrics().write(standby);
            scraped.addAll(series(standby.toString()));
        }
        Set<String> missing = new TreeSet<>(used);
        missing.removeAll(scraped);
        assertEquals(Set.of(), missing, "named by the rules or the dashboard, but in no scrape: " + scraped);
    }

    /** The metric names of a scrape's samples (not its HELP and TYPE lines, which a series without samples keeps). */
    private static Set<String> series(String scrape) {
        Set<String> out = new TreeSet<>();
        for (String line : scrape.split("\n")) {
            if (!line.startsWith("#") && !line.isBlank()) {
                out.add(line.replaceFirst("[{ ].*", ""));
            }
        }
        return out;
    }

    private static PrimaryControl primaryWithOneDomain() {
        return new PrimaryControl() {
            @Override
            public StatusReport status() {
                return new StatusReport("host", "0.1", "2026-01-01T00:00:00Z", Instant.now().toString(), List.of("office"),
                        List.of(), List.of(new StatusReport.Domain("files", "5eed0000-0000-4000-8000-000000000001", "office",
                        "10.0.0.2:10809", "shipping", 3, "2026-01-01T00:00:00Z", 60L, 900, 1800, "missed", 1000, 10, 8e6, 5L,
                        null, "CRASH", 3, 1, "no space", "2026-01-01T00:00:00Z", null, null, null, 1000L, 2.0, null, null,
                        1000, 3, 2.0, 70L, "no_space", null, null, null, 72L, "sha256:00")));
            }

            @Override
            public Optional<Instant> requestSync(String guest) {
                return Optional.empty();
            }

            @Override
            public VerifyReport verify(String guest) {
                throw new UnsupportedOperationException();
            }

            @Override
            public List<ConfigError> reload() {
                return List.of();
            }
        };
    }
}
