package io.amirror.config;

import io.amirror.cli.Main;
import io.amirror.cli.StdoutCapture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StandbyConfigTest {
    private static final String A = "sha256:" + "0a".repeat(32);
    private static final String B = "sha256:" + "b1".repeat(32);

    @Test
    void theExampleLoads() throws Exception {
        StandbyConfig c = StandbyConfig.load(PolicyLoaderTest.EXAMPLES.resolve("standby.json"), true,
                StandbyConfig.overrides());
        assertEquals("0.0.0.0:10809", c.listenText());
        assertEquals(10809, c.listen().getPort());
        assertEquals(List.of("sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"), c.peers());
        assertTrue(c.defineReplicas());
        assertEquals(Path.of("/var/lib/amirror/sockets"), c.socketDirOrDefault());
        assertEquals(24, c.keep());
        assertEquals(30, c.keepDays());
        assertNull(c.ca());
        assertEquals(List.of("default"), c.replicaLimits().networks());
        assertEquals(List.of("br0"), c.replicaLimits().bridges());
        assertEquals(List.of(), c.replicaLimits().kernelDirs(), "no direct kernel boot unless the admin allows it");
        assertNull(c.replicaLimits().emulator(), "libvirt's default emulator");
        assertEquals(Path.of("/usr/share/OVMF"), c.replicaLimits().firmwareDir());
        DrillPlan d = c.drills();
        assertEquals(1024, d.memoryReserveMiB());
        assertEquals(2, d.schedules().size());
        assertEquals(java.time.Duration.ofDays(7), d.schedules().get(0).every());
        assertEquals(List.of(List.of("/usr/bin/pg_isready", "-q")), d.schedules().get(0).checks());
        assertEquals("isolated", d.schedules().get(1).network(), "the default network of a drill");
        assertTrue(d.schedules().get(0).names("files-replica", "files") && !d.schedules().get(0).names("mail", null));
    }

    @Test
    void aBadDrillScheduleIsRefusedWithItsField(@TempDir Path dir) throws Exception {
        for (String bad : List.of("{\"schedules\": [{\"replicas\": [\"*\"]}]}",
                "{\"schedules\": [{\"replicas\": [\"*\"], \"every\": \"weekly\"}]}",
                "{\"schedules\": [{\"replicas\": [], \"every\": \"7d\"}]}",
                "{\"schedules\": [{\"replicas\": [\"a b\"], \"every\": \"7d\"}]}",
                "{\"maxAtOnce\": 0}", "{\"schedules\": [{\"replicas\": [\"*\"], \"every\": \"7d\", \"checks\": [[]]}]}")) {
            Path f = write(dir, "{\"listen\": \"0.0.0.0:10809\", \"peers\": [\"" + A + "\"], \"drills\": " + bad + "}");
            ConfigException e = assertThrows(ConfigException.class, () -> StandbyConfig.load(f, true, StandbyConfig.overrides()), bad);
            assertTrue(e.getMessage().contains("/drills"), e.getMessage());
        }
        Path none = write(dir, "{\"listen\": \"0.0.0.0:10809\", \"peers\": [\"" + A + "\"]}");
        assertEquals(DrillPlan.NONE, StandbyConfig.load(none, true, StandbyConfig.overrides()).drills(), "no drill unless asked");
    }

    @Test
    void replicaLimitsComeOnlyFromTheStandbysOwnFileAndAreChecked(@TempDir Path dir) throws Exception {
        Path f = write(dir, "{\"replicas\": {\"networks\": [\"office-lan\"], \"kernelDirs\": [\"/srv/kits\"], "
                + "\"emulator\": \"/usr/bin/qemu-system-x86_64\"}}");
        StandbyConfig.ReplicaLimits l = StandbyConfig.replicaLimits(f);
        assertEquals(List.of("office-lan"), l.networks());
        assertEquals(List.of(Path.of("/srv/kits")), l.kernelDirs());
        assertEquals(Path.of("/usr/bin/qemu-system-x86_64"), l.emulator());
        assertEquals(StandbyConfig.ReplicaLimits.NONE, StandbyConfig.replicaLimits(dir.resolve("absent.json")));
        for (String bad : List.of("{\"networks\": [\"a b\"]}", "{\"kernelDirs\": [\"relative/dir\"]}",
                "{\"emulator\": \"qemu\"}", "{\"bridges\": [\"" + "b".repeat(16) + "\"]}",
                "{\"networks\": [\"x\", \"x\"]}")) {
            Path g = write(dir, "{\"replicas\": " + bad + "}");
            ConfigException e = assertThrows(ConfigException.class, () -> StandbyConfig.replicaLimits(g), bad);
            assertTrue(e.getMessage().contains("/replicas/"), e.getMessage());
        }
    }

    @Test
    void theCommandLineOverridesTheFileAndAddsPeers(@TempDir Path dir) throws Exception {
        Path f = write(dir, "{\"listen\": \"0.0.0.0:10809\", \"peers\": [\"" + A + "\"], \"replicas\": {\"suffix\": \"-r\"},"
                + " \"retention\": {\"keep\": 48}}");
        var o = StandbyConfig.overrides();
        o.put("listen", "127.0.0.1:7000");
        o.putArray("peers").add(A).add(B);
        o.putObject("retention").put("maxAgeDays", 7);
        StandbyConfig c = StandbyConfig.load(f, true, o);
        assertEquals("127.0.0.1:7000", c.listenText());
        assertEquals(List.of(A, B), c.peers(), "added once each, file's first");
        assertEquals("-r", c.replicaSuffix(), "objects are merged, not replaced");
        assertEquals(48, c.keep());
        assertEquals(7, c.keepDays());
    }

    @Test
    void aMissingDefaultFileIsOptionsOnlyButANamedOneMustExist(@TempDir Path dir) throws Exception {
        var o = StandbyConfig.overrides();
        o.put("listen", "127.0.0.1:7000");
        o.putArray("peers").add(A);
        assertEquals(List.of(A), StandbyConfig.load(dir.resolve("absent.json"), false, o).peers());
        ConfigException e = assertThrows(ConfigException.class, () -> StandbyConfig.load(dir.resolve("absent.json"), true, o));
        assertTrue(e.getMessage().contains("absent.json"), e.getMessage());
    }

    @Test
    void aStandbyThatTrustsNobodyOrListensNowhereIsRefusedWithTheFix(@TempDir Path dir) throws Exception {
        Path f = write(dir, "{\"peers\": []}");
        ConfigException e = assertThrows(ConfigException.class, () -> StandbyConfig.load(f, true, StandbyConfig.overrides()));
        assertEquals(List.of("/listen", "/peers"), e.errors().stream().map(ConfigError::field).toList());
        assertTrue(e.errors().get(1).fix().contains("amirror init"), e.errors().toString());
    }

    @Test
    void tenantsAreTrustedBoundOnceAndCheckedWithTheOtherProtections(@TempDir Path dir) throws Exception {
        Path f = write(dir, "{\"listen\": \"0.0.0.0:10809\", \"tenants\": ["
                + "{\"name\": \"office-a\", \"peers\": [\"" + A + "\"], \"domains\": [\"files\", \"mail-*\"]},"
                + "{\"name\": \"office-b\", \"subjects\": [\"CN=office-b\"], "
                + "\"domains\": [\"6f1c2a52-4a5e-4b4f-9d55-1e7f9c1d2b3a\"]}],"
                + " \"retention\": {\"keep\": 12, \"immutableDays\": 7}, \"limits\": {\"maxDiskBytes\": 1099511627776}}");
        StandbyConfig c = StandbyConfig.load(f, true, StandbyConfig.overrides());
        assertEquals(List.of(), c.peers());
        assertEquals(List.of(A), c.trustedPeers(), "a tenant's key is trusted without a second listing");
        assertEquals(List.of("office-a", "office-b"), c.tenants().stream().map(StandbyConfig.Tenant::name).toList());
        assertEquals(List.of("CN=office-b"), c.tenants().get(1).subjects());
        assertEquals(7, c.immutableDays());
        assertEquals(1L << 40, c.maxDiskBytes());
        assertTrue(c.describe().contains("none younger than 7 days deleted"), c.describe());

        Path twice = write(dir, "{\"listen\": \"0.0.0.0:10809\", \"tenants\": ["
                + "{\"name\": \"a\", \"peers\": [\"" + A + "\"], \"domains\": [\"*\"]},"
                + "{\"name\": \"b\", \"peers\": [\"" + A + "\", \"" + B + "\"], \"domains\": [\"*\"]}]}");
        ConfigException e = assertThrows(ConfigException.class, () -> StandbyConfig.load(twice, true, StandbyConfig.overrides()));
        assertEquals("/tenants/1", e.errors().get(0).field(), e.getMessage());
        assertTrue(e.getMessage().contains("'a' and 'b'"), e.getMessage());
        for (String bad : List.of("{\"name\": \"x\", \"domains\": [\"*\"]}",
                "{\"name\": \"x\", \"peers\": [\"" + B + "\"], \"domains\": []}",
                "{\"name\": \"x y\", \"peers\": [\"" + B + "\"], \"domains\": [\"*\"]}",
                "{\"name\": \"x\", \"peers\": [\"" + B + "\"], \"domains\": [\"../etc\"]}")) {
            Path g = write(dir, "{\"listen\": \"0.0.0.0:10809\", \"peers\": [\"" + A + "\"], \"tenants\": [" + bad + "]}");
            ConfigException x = assertThrows(ConfigException.class, () -> StandbyConfig.load(g, true, StandbyConfig.overrides()),
                    bad);
            assertTrue(x.getMessage().contains("/tenants/0"), x.getMessage());
        }
        Path tooBig = write(dir, "{\"listen\": \"0.0.0.0:10809\", \"peers\": [\"" + A + "\"], "
                + "\"retention\": {\"immutableDays\": -1}}");
        assertThrows(ConfigException.class, () -> StandbyConfig.load(tooBig, true, StandbyConfig.overrides()));
    }

    @Test
    void badValuesInTheFileOrOnTheCommandLineNameTheirSource(@TempDir Path dir) throws Exception {
        Path f = write(dir, "{\"listen\": \"0.0.0.0:10809\", \"peers\": [\"sha256:short\"], \"replicas\": {\"nosuch\": 1},"
                + " \"retention\": {\"keep\": 0}}");
        ConfigException e = assertThrows(ConfigException.class, () -> StandbyConfig.load(f, true, StandbyConfig.overrides()));
        List<String> fields = e.errors().stream().map(ConfigError::field).sorted().toList();
        assertEquals(List.of("/peers/0", "/replicas/nosuch", "/retention/keep"), fields, e.getMessage());
        assertTrue(e.errors().stream().allMatch(x -> x.file().equals(f.toString())), e.getMessage());

        Path good = write(dir, "{\"listen\": \"0.0.0.0:10809\", \"peers\": [\"" + A + "\"]}");
        var o = StandbyConfig.overrides();
        o.putArray("peers").add("sha256:NOT-HEX");
        ConfigException cli = assertThrows(ConfigException.class, () -> StandbyConfig.load(good, true, o));
        assertEquals("/peers/1", cli.errors().get(0).field());
        assertTrue(cli.errors().get(0).file().startsWith("the command line"), cli.getMessage());
        assertTrue(cli.errors().get(0).fix().contains("amirror init"), "the schema's description is the fix");

        Path port = write(dir, "{\"listen\": \"0.0.0.0:99999\", \"peers\": [\"" + A + "\"]}");
        ConfigException p = assertThrows(ConfigException.class, () -> StandbyConfig.load(port, true, StandbyConfig.overrides()));
        assertTrue(p.getMessage().contains("99999"), p.getMessage());
    }

    @Test
    void standbyCheckPrintsTheResultOrRefusesAndChangesNothing(@TempDir Path dir) throws Exception {
        Path f = write(dir, "{\"listen\": \"0.0.0.0:10809\", \"peers\": [\"" + A + "\"], \"stateDir\": \"" + dir.resolve("state")
                + "\"}");
        String out = StdoutCapture.of(() -> assertEquals(0, Main.execute("standby", "--config", f.toString(), "--check",
                "--peer", B, "--replica-suffix", "-replica")));
        assertTrue(out.contains("standby configuration ok: listen 0.0.0.0:10809; 2 pinned primaries")
                && out.contains("with suffix '-replica'"), out);
        assertFalse(Files.exists(dir.resolve("state")), "a check creates nothing");

        Path truncated = write(dir, "{\"listen\": \"0.0.0.0:10809\", \"peers\": [");
        byte[] before = Files.readAllBytes(truncated);
        assertEquals(3, Main.execute("standby", "--config", truncated.toString(), "--check"));
        assertEquals(3, Main.execute("standby", "--config", truncated.toString(), "--listen", "127.0.0.1:1"),
                "the daemon refuses the same file before it listens");
        assertArrayEquals(before, Files.readAllBytes(truncated));
    }

    private static Path write(Path dir, String json) throws Exception {
        Path f = Files.createTempFile(dir, "standby", ".json");
        Files.writeString(f, json);
        return f;
    }
}
