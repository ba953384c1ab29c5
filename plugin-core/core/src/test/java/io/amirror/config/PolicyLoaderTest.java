package io.amirror.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.quartz.CronExpression;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PolicyLoaderTest {
    static final Path EXAMPLES = Path.of("../../schemas/examples");
    static final String FP = "sha256:" + "ab".repeat(32);

    static String good(String extra) {
        return "{\"name\": \"p\", \"domains\": {\"names\": [\"web\"]}, \"standby\": {\"address\": \"10.0.0.2:10809\", "
                + "\"fingerprint\": \"" + FP + "\"}, \"rpo\": {\"interval\": \"15m\"}" + extra + "}";
    }

    static ConfigException refused(String json) {
        return assertThrows(ConfigException.class,
                () -> PolicyLoader.parse(json.getBytes(StandardCharsets.UTF_8), "/etc/amirror/policies.d/p.json"));
    }

    @Test
    void shippedExamplesAreValid() throws Exception {
        PolicyLoader.Loaded l = PolicyLoader.loadDir(EXAMPLES.resolve("policies"));
        assertEquals(List.of(), l.errors());
        assertEquals(4, l.policies().size());
        Policy pbx = l.policies().stream().filter(p -> p.name().equals("pbx")).findFirst().orElseThrow();
        assertTrue(pbx.bridged());
        assertEquals(Path.of("/srv/vm/pbx.raw"), pbx.bridge().image());
        assertEquals(Path.of("/srv/vm/pbx.raw.amirror"), pbx.bridge().state(), "the state beside the image by default");

        Policy office = l.policies().stream().filter(p -> p.name().equals("office")).findFirst().orElseThrow();
        assertEquals(Duration.ofMinutes(15), office.rpo().target());
        assertEquals(Duration.ofHours(1), office.alertAfter());
        assertTrue(office.quiesce());
        assertNull(office.compression(), "auto");
        assertEquals(Map.of("default", "office-lan"), office.replica().networks());
        assertEquals(Map.of("br0", "br-standby"), office.replica().bridges());
        assertEquals(new Policy.BootCheck(List.of("/usr/bin/pg_isready", "-q"), Duration.ofMinutes(10)), office.replica().bootCheck());
        assertEquals(48, office.keepPoints());
        assertFalse(office.bridged());
        assertEquals(Duration.ofDays(7), office.verifyEvery());
        assertEquals(List.of("/usr/local/bin/amirror-alert", "--to", "admin@example.net"), office.alertCommand());
        // 512 kbit/s on a Wednesday at 10:00, 2 Mbit/s at night
        var wed10 = ZonedDateTime.parse("2026-11-25T10:00:00Z[UTC]");
        assertEquals(64_000, office.bandwidth().rateAt(wed10), 1);
        assertEquals(250_000, office.bandwidth().rateAt(wed10.withHour(22)), 1);
        Policy nightly = l.policies().stream().filter(p -> p.name().equals("tagged-nightly")).findFirst().orElseThrow();
        assertEquals(Duration.ofDays(1), nightly.rpo().target());
        assertEquals("nightly", nightly.domains().tag());
        assertEquals("9e", nightly.compression(), "preset 9, extreme");
        PrimaryConfig c = PrimaryConfig.load(EXAMPLES.resolve("primary.json"), true);
        assertEquals(20L << 30, c.spoolLimitBytes());
        assertEquals(9750, c.controlListen().getPort());
        assertFalse(c.metricsToken(), "metrics need no token unless asked");
    }

    @Test
    void metricsCanAskForTheControlToken(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("primary.json");
        Files.writeString(f, "{\"control\": {\"listen\": \"127.0.0.1:9751\", \"metricsToken\": true}}");
        PrimaryConfig c = PrimaryConfig.load(f, true);
        assertTrue(c.metricsToken());
        assertEquals(9751, c.controlListen().getPort());
        assertTrue(c.withStateDir(dir).withControlListen(c.controlListen()).metricsToken(), "kept by the with* copies");
        assertFalse(PrimaryConfig.defaults().metricsToken());
        Files.writeString(f, "{\"control\": {\"metricsToken\": \"yes\"}}");
        ConfigException e = assertThrows(ConfigException.class, () -> PrimaryConfig.load(f, true));
        assertTrue(e.errors().stream().anyMatch(x -> x.field().equals("/control/metricsToken")), e.errors().toString());
        Files.writeString(f, "{\"control\": {\"metricToken\": true}}");
        assertThrows(ConfigException.class, () -> PrimaryConfig.load(f, true), "a misspelt field is refused");
    }

    @Test
    void minimalPolicyGetsDefaults() throws Exception {
        Policy p = PolicyLoader.parse(good("").getBytes(StandardCharsets.UTF_8), "p.json");
        assertEquals(PolicyLoader.DEFAULT_KEEP, p.keepPoints());
        assertEquals(Duration.ofMinutes(30), p.alertAfter(), "twice the RPO");
        assertNull(p.bandwidth());
        assertFalse(p.quiesce());
        assertEquals(50L << 20, p.fullReadRate(), "disks read whole: 50 MiB/s");
    }

    @Test
    void theReadRateOfDisksReadWholeIsBytesPerSecondOrUnlimited() throws Exception {
        assertEquals(8L << 20, PolicyLoader.parse(good(", \"fullReadRate\": \"8MiB/s\"").getBytes(StandardCharsets.UTF_8),
                "p.json").fullReadRate());
        assertEquals(512L << 10, PolicyLoader.parse(good(", \"fullReadRate\": \"512KiB/s\"").getBytes(StandardCharsets.UTF_8),
                "p.json").fullReadRate());
        assertEquals(0, PolicyLoader.parse(good(", \"fullReadRate\": \"unlimited\"").getBytes(StandardCharsets.UTF_8),
                "p.json").fullReadRate());
    }

    /** Each kind of bad policy: the field named, and a fix given. */
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "unknown field       | , \"rpoo\": {}                                                      | /rpoo              | allowed here",
        "a second unknown    | , \"x\": 1                                                           | /x                 | allowed here",
        "bad compression     | , \"compression\": \"11\"                                             | /compression       | xz preset",
        "bad days            | , \"blackouts\": [{\"days\": \"Mon-Fry\", \"from\": \"01:00\", \"to\": \"02:00\"}] | /blackouts/0/days | Mon-Fri",
        "window backwards    | , \"blackouts\": [{\"days\": \"Mon\", \"from\": \"05:00\", \"to\": \"02:00\"}]    | /blackouts/0      | ends after it starts",
        "bad rate            | , \"bandwidth\": {\"limit\": \"fast\"}                                 | /bandwidth/limit   | 256kbit",
        "retention zero      | , \"retention\": {\"keep\": 0}                                         | /retention/keep    | 1 to 1000",
        "alert before rpo    | , \"alerts\": {\"rpoMissedAfter\": \"5m\"}                              | /alerts/rpoMissedAfter | at least the RPO",
        "alert command empty | , \"alerts\": {\"command\": []}                                        | /alerts/command    | without a shell",
        "verify too often    | , \"verify\": {\"every\": \"5s\"}                                     | /verify/every      | at least 10s",
        "quiesce not bool    | , \"quiesce\": \"yes\"                                                 | /quiesce           | guest agent",
        "read rate in MB     | , \"fullReadRate\": \"50MB/s\"                                         | /fullReadRate      | 50MiB/s",
        "read rate zero      | , \"fullReadRate\": \"0MiB/s\"                                         | /fullReadRate      | unlimited",
    })
    void badPolicyNamesFieldAndFix(String what, String extra, String field, String fix) {
        ConfigException e = refused(good(extra.trim()));
        ConfigError err = e.errors().get(0);
        assertEquals("/etc/amirror/policies.d/p.json", err.file(), what);
        assertEquals(field.trim(), err.field(), what + ": " + e.getMessage());
        assertNotNull(err.fix(), what);
        assertTrue(err.fix().contains(fix.trim()), what + ": fix was " + err.fix());
    }

    @Test
    void missingAndMalformedCoreFields() {
        ConfigException noStandby = refused("{\"name\": \"p\", \"domains\": {\"names\": [\"a\"]}, \"rpo\": {\"interval\": \"1h\"}}");
        assertEquals("/standby", noStandby.errors().get(0).field());
        assertTrue(noStandby.errors().get(0).fix().contains("amirror init"));
        ConfigException fp = refused(good("").replace(FP, "AB:CD"));
        assertEquals("/standby/fingerprint", fp.errors().get(0).field());
        ConfigException both = refused(good("").replace("{\"interval\": \"15m\"}", "{\"interval\": \"15m\", \"cron\": \"0 0 * * * ?\"}"));
        assertEquals("/rpo", both.errors().get(0).field());
        ConfigException cron = refused(good("").replace("{\"interval\": \"15m\"}", "{\"cron\": \"0 0 25 * * ?\"}"));
        assertEquals("/rpo/cron", cron.errors().get(0).field());
        assertTrue(cron.errors().get(0).fix().contains("seconds first"));
        ConfigException fast = refused(good("").replace("15m", "5s"));
        assertEquals("/rpo/interval", fast.errors().get(0).field());
        ConfigException noDomains = refused(good("").replace("{\"names\": [\"web\"]}", "{}"));
        assertEquals("/domains", noDomains.errors().get(0).field());
        ConfigException name = refused(good("").replace("\"p\"", "\"../etc\""));
        assertEquals("/name", name.errors().get(0).field());
    }

    @Test
    void aContinuousTargetSpacesItsCutsAndIsWhatTheAlertHoldsTo() throws Exception {
        Policy p = PolicyLoader.parse(good("").replace("{\"interval\": \"15m\"}", "{\"target\": \"5m\"}")
                .getBytes(StandardCharsets.UTF_8), "p.json");
        assertTrue(p.rpo().continuous());
        assertEquals(Duration.ofMinutes(5), p.rpo().target());
        assertEquals(Duration.ofSeconds(30), p.rpo().interval(), "a tenth of the target by default");
        assertEquals(Duration.ofMinutes(5), p.alertAfter(), "the target itself, not twice it");
        Policy spaced = PolicyLoader.parse(good("").replace("{\"interval\": \"15m\"}",
                "{\"target\": \"2m\", \"minSpacing\": \"20s\"}").getBytes(StandardCharsets.UTF_8), "p.json");
        assertEquals(Duration.ofSeconds(20), spaced.rpo().interval());
        assertEquals(Duration.ofSeconds(10), Policy.Rpo.defaultSpacing(Duration.ofSeconds(30)), "at least 10 s");

        assertEquals("/rpo/minSpacing", refused(good("").replace("{\"interval\": \"15m\"}",
                "{\"target\": \"2m\", \"minSpacing\": \"90s\"}")).errors().get(0).field(), "more than half the target");
        assertEquals("/rpo/minSpacing", refused(good("").replace("{\"interval\": \"15m\"}",
                "{\"target\": \"2m\", \"minSpacing\": \"5s\"}")).errors().get(0).field());
        assertEquals("/rpo/target", refused(good("").replace("{\"interval\": \"15m\"}", "{\"target\": \"10s\"}"))
                .errors().get(0).field());
        assertEquals("/rpo", refused(good("").replace("{\"interval\": \"15m\"}",
                "{\"interval\": \"15m\", \"minSpacing\": \"30s\"}")).errors().get(0).field(), "a spacing belongs to a target");
        assertEquals("/rpo", refused(good("").replace("{\"interval\": \"15m\"}",
                "{\"target\": \"5m\", \"cron\": \"0 0 * * * ?\"}")).errors().get(0).field());
    }

    @Test
    void aBridgePolicyNamesOneGuestAndItsBridge() {
        String bridge = ", \"source\": \"bridge\", \"bridge\": {\"image\": \"/srv/g.raw\", \"socket\": \"/run/g.sock\"}";
        assertEquals("/bridge", refused(good(", \"source\": \"bridge\"")).errors().get(0).field(), "source bridge without a bridge");
        assertFalse(refused(good(", \"bridge\": {\"image\": \"/srv/g.raw\", \"socket\": \"/run/g.sock\"}")).errors().isEmpty(),
                "a bridge in a libvirt policy");
        ConfigException two = refused(good(bridge).replace("{\"names\": [\"web\"]}", "{\"names\": [\"a\", \"b\"]}"));
        assertEquals("/domains", two.errors().get(0).field());
        assertTrue(two.errors().get(0).problem().contains("exactly one guest"), two.getMessage());
        ConfigException relative = refused(good(bridge.replace("/srv/g.raw", "g.raw")));
        assertEquals("/bridge/image", relative.errors().get(0).field());
    }

    @Test
    void allErrorsAreReportedNotJustTheFirst() {
        ConfigException e = refused(good(", \"quiesce\": 1, \"compression\": \"x\", \"colour\": \"red\""));
        assertEquals(3, e.errors().size(), e.getMessage());
    }

    @Test
    void syntaxErrorsSayWhere() {
        ConfigException e = refused("{\"name\": \"p\",\n  \"domains\": {\"names\": [\"web\"],}\n}");
        assertTrue(e.getMessage().contains("line 2"), e.getMessage());
        ConfigException dup = refused(good(", \"name\": \"q\""));
        assertTrue(dup.getMessage().contains("name"), dup.getMessage());
        assertTrue(refused("").getMessage().contains("empty"));
    }

    @Test
    void directoryRefusesDuplicateNamesAndKeepsTheGoodFiles(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("a.json"), good(""));
        Files.writeString(dir.resolve("b.json"), good(""));
        Files.writeString(dir.resolve("c.json"), "{");
        Files.writeString(dir.resolve("notes.txt"), "not a policy");
        PolicyLoader.Loaded l = PolicyLoader.loadDir(dir);
        assertEquals(1, l.policies().size());
        assertEquals(2, l.errors().size());
        assertTrue(l.errors().get(0).problem().contains("taken by"), l.errors().toString());
    }

    @Test
    void globsAreLiteralExceptStarAndQuestionMark() {
        assertTrue(PolicyLoader.globToRegex("office-*").matcher("office-files").matches());
        assertFalse(PolicyLoader.globToRegex("office-*").matcher("xoffice-files").matches());
        assertTrue(PolicyLoader.globToRegex("a.b?").matcher("a.bc").matches());
        assertFalse(PolicyLoader.globToRegex("a.b?").matcher("axbc").matches());
        assertTrue(PolicyLoader.globToRegex("$(rm -rf)*").matcher("$(rm -rf) x").matches());
    }

    @Test
    void cronTargetIsTheWidestGap() throws Exception {
        Duration d = PolicyLoader.widestGap(new CronExpression("0 0/15 8-17 ? * MON-FRI"));
        assertTrue(d.toHours() >= 62, "Friday 17:45 to Monday 08:00: " + d);
    }
}
