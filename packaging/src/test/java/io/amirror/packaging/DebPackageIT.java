package io.amirror.packaging;

import io.amirror.lab.Lab;
import io.amirror.lab.LabOptions;
import io.amirror.lab.PrivateTree;
import io.amirror.util.Exec;
import io.amirror.util.FileTrees;
import org.junit.jupiter.api.Test;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The built .deb on this machine, as an admin would use it: lintian, install, the command, the
 * shipped examples, both services started (by systemd where it runs, otherwise from the units'
 * own ExecStart lines), then remove (state stays) and purge (state goes). Needs root: it installs
 * the package for real.
 */
class DebPackageIT {
    static final Duration T = Duration.ofMinutes(5);
    static final Path DEB = Path.of(System.getProperty("amirror.deb", "target/amirror.deb"));

    static Exec.Result run(String... cmd) {
        Exec.Result r = Exec.run(T, cmd);
        System.out.println("$ " + String.join(" ", cmd) + " -> " + r.exitCode() + "\n" + r.stdout() + r.stderr());
        return r;
    }

    @Test
    void installRunRemovePurge() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "installs a Debian package: needs root");
        assumeTrue(!"skip".equals(System.getProperty("amirror.lab")), "lab skipped");
        assertTrue(Files.exists(DEB), DEB + " was not built");

        // what is inside, and what lintian says (errors fail; warnings are printed)
        String contents = run("dpkg-deb", "--contents", DEB.toString()).orThrow().stdout();
        for (String f : List.of("./usr/bin/amirror", "./usr/share/amirror/amirror.jar",
                "./lib/systemd/system/amirror-primary.service", "./lib/systemd/system/amirror-standby.service",
                "./lib/systemd/system/amirror-bridge@.service", "./lib/systemd/system/amirror-bridge-sync@.service",
                "./etc/libvirt/hooks/qemu.d/amirror", "./etc/amirror/primary.json", "./etc/amirror/standby.json", "./etc/amirror/hook.conf",
                "./etc/amirror/policies.d/", "./usr/share/doc/amirror/copyright", "./usr/share/doc/amirror/changelog.gz",
                "./usr/share/doc/amirror/examples/policies/office.json", "./usr/share/amirror/monitoring/amirror.rules.yml",
                "./usr/share/amirror/monitoring/amirror-dashboard.json", "./usr/share/bash-completion/completions/amirror",
                "./usr/share/cockpit/amirror/manifest.json", "./usr/share/cockpit/amirror/index.html",
                "./usr/share/cockpit/amirror/amirror.js",
                "./usr/share/man/man1/amirror.1.gz", "./usr/share/man/man1/amirror-primary.1.gz",
                "./usr/share/man/man1/amirror-standby.1.gz", "./usr/share/man/man1/amirror-switchover.1.gz",
                "./usr/share/man/man1/amirror-hook-install.1.gz", "./usr/share/man/man1/amirror-bridge-serve.1.gz")) {
            assertTrue(contents.contains(f), f + " missing from the package:\n" + contents);
        }
        String conffiles = run("dpkg-deb", "--info", DEB.toString(), "conffiles").orThrow().stdout();
        assertTrue(conffiles.contains("/etc/amirror/primary.json") && conffiles.contains("/etc/amirror/standby.json")
                        && conffiles.contains("/etc/libvirt/hooks/qemu.d/amirror"),
                conffiles);
        // production only: no lab, demo, bench or tools class in the shipped jar, and none offered by its CLI
        Path unpacked = Files.createTempDirectory("amirror-deb-it");
        run("dpkg-deb", "-x", DEB.toString(), unpacked.toString()).orThrow();
        Path jar = unpacked.resolve("usr/share/amirror/amirror.jar");
        String classes;
        try (ZipFile z = new ZipFile(jar.toFile())) {
            classes = z.stream().map(ZipEntry::getName).collect(Collectors.joining("\n"));
        }
        assertTrue(classes.contains("io/amirror/cli/Main.class"), "the jar holds the CLI");
        for (String tool : List.of("io/amirror/lab/", "io/amirror/demo/", "io/amirror/bench/", "io/amirror/tools/")) {
            assertFalse(classes.contains(tool), tool + " is in the shipped jar");
        }
        String help = run("java", "-jar", jar.toString(), "--help").orThrow().stdout();
        assertTrue(help.contains("standby") && help.contains("bridge"), help);
        for (String tool : List.of("demo", "bench", "lab")) {
            assertFalse(help.lines().anyMatch(l -> l.strip().startsWith(tool + " ")), "amirror --help offers " + tool + ":\n" + help);
        }
        FileTrees.deleteQuietly(unpacked);

        Exec.Result lintian = run("lintian", "--fail-on", "error", "--no-tag-display-limit", DEB.toString());
        assertEquals(0, lintian.exitCode(), "lintian reports errors:\n" + lintian.stdout() + lintian.stderr());

        run("dpkg", "--purge", "amirror"); // a leftover of an interrupted run
        try (Lab lab = Lab.open(LabOptions.defaults())) { // libvirtd runs: the primary connects to it
            Exec.Result install = run("apt-get", "install", "-y", "--no-install-recommends", DEB.toAbsolutePath().toString());
            assertEquals(0, install.exitCode(), "apt-get install failed");
            assertTrue(install.stdout().contains("this host's fingerprint"), "postinst makes the key pair");
            assertTrue(Files.exists(Path.of("/var/lib/amirror/identity.p12")));
            // issue 20: the state is root's; QEMU may only pass through the state and scratch directories
            String traversable = Exec.run(T, "getent", "group", "libvirt-qemu").exitCode() == 0
                    ? "rwx--x--- root:libvirt-qemu" : "rwx--x--x root:root";
            assertEquals(traversable, PrivateTree.modeAndOwner(Path.of("/var/lib/amirror")));
            assertEquals(traversable, PrivateTree.modeAndOwner(Path.of("/var/lib/libvirt/amirror")));
            assertEquals("rwx------ root:root", PrivateTree.modeAndOwner(Path.of("/var/lib/amirror/events")));
            assertEquals(List.of(), PrivateTree.exposed(Path.of("/var/lib/amirror")), "after the install");

            assertTrue(run("/usr/bin/amirror", "--version").orThrow().stdout().contains("amirror"));
            // the generated completion completes the installed command's subcommands and options
            String completed = run("bash", "-c", "source /usr/share/bash-completion/completions/amirror && "
                    + "COMP_WORDS=(amirror switch) COMP_CWORD=1 COMP_LINE='amirror switch' COMP_POINT=14 && _complete_amirror "
                    + "&& printf '%s\\n' \"${COMPREPLY[@]}\" && COMP_WORDS=(amirror switchover --dry) COMP_CWORD=2 "
                    + "COMP_LINE='amirror switchover --dry' COMP_POINT=24 && _complete_amirror && printf '%s\\n' \"${COMPREPLY[@]}\"")
                    .orThrow().stdout();
            assertTrue(completed.contains("switchover") && completed.contains("--dry-run"), completed);
            // and each command has its page, generated from the same model (troff, as asciidoctor made it)
            String page = run("gzip", "-dc", "/usr/share/man/man1/amirror-switchover.1.gz").orThrow().stdout();
            assertTrue(page.contains(".TH \"AMIRROR\\-SWITCHOVER\"") && page.contains("await\\-shutdown"), page);
            assertEquals(0, run("/usr/bin/amirror", "policy", "validate", "/usr/share/doc/amirror/examples/policies").exitCode());
            assertEquals(0, run("/usr/bin/amirror", "help", "failover").exitCode());

            int port;
            try (ServerSocket s = new ServerSocket(0)) {
                port = s.getLocalPort();
            }
            // a bridge guest, as its policy and template unit describe it
            Path guestDir = Files.createTempDirectory("amirror-bridge-it");
            Path guestImage = guestDir.resolve("pbx.raw");
            Files.write(guestImage, new byte[1 << 20]);
            Path bridgePolicy = Path.of("/etc/amirror/policies.d/pbx-it.json");
            Files.writeString(bridgePolicy, Files.readString(Path.of("/usr/share/doc/amirror/examples/policies/bridge-pbx.json"))
                    .replace("/srv/vm/pbx.raw", guestImage.toString()).replace("/run/amirror/pbx.sock",
                            guestDir.resolve("pbx.sock").toString()).replace("\"pbx\"", "\"pbx-it\""));
            if (!Files.isDirectory(Path.of("/run/systemd/system"))) {
                startFromUnit("amirror-bridge@", "pbx-it", "bridge serving " + guestImage);
            }
            Files.delete(bridgePolicy);
            FileTrees.deleteQuietly(guestDir);

            // the shipped standby configuration trusts nobody yet: refused with the fix, until the admin adds a peer
            Exec.Result unconfigured = run("/usr/bin/amirror", "standby", "--check");
            assertEquals(3, unconfigured.exitCode(), unconfigured.toString());
            assertTrue(unconfigured.stderr().contains("no primary is trusted"), unconfigured.stderr());
            Path standbyJson = Path.of("/etc/amirror/standby.json");
            Files.writeString(standbyJson, Files.readString(standbyJson).replace("0.0.0.0:10809", "127.0.0.1:" + port)
                    .replace("\"peers\": []", "\"peers\": [\"sha256:" + "ab".repeat(32) + "\"]")
                    .replace("\"define\": true", "\"define\": false"));
            assertEquals(0, run("/usr/bin/amirror", "standby", "--check").exitCode());
            if (Files.isDirectory(Path.of("/run/systemd/system"))) {
                for (String unit : List.of("amirror-primary", "amirror-standby")) {
                    assertEquals(0, run("systemctl", "start", unit).exitCode());
                    Thread.sleep(5_000);
                    assertEquals(0, run("systemctl", "is-active", unit).exitCode(), unit + " did not stay up");
                    run("systemctl", "stop", unit);
                }
            } else {
                startFromUnit("amirror-primary", "primary running");
                startFromUnit("amirror-standby", "standby listening on 127.0.0.1:" + port);
            }

            assertEquals(List.of(), PrivateTree.exposed(Path.of("/var/lib/amirror")), "after both daemons ran");

            // remove keeps the state and the configuration; purge takes both
            assertEquals(0, run("dpkg", "--remove", "amirror").exitCode());
            assertFalse(Files.exists(Path.of("/usr/bin/amirror")));
            assertTrue(Files.exists(Path.of("/var/lib/amirror/identity.p12")), "remove must not delete user data");
            assertTrue(Files.exists(Path.of("/etc/amirror/primary.json")), "remove keeps conffiles");
            // a replica that failed over is a live disk now: purge keeps it where it is, and only it
            Path replicas = Path.of("/var/lib/amirror/replicas");
            Path live = replicas.resolve("7a0c1b52-4a5e-4b4f-9d55-1e7f9c1d2b3a");
            Path plain = replicas.resolve("8b1d2c63-4a5e-4b4f-9d55-1e7f9c1d2b3a");
            Files.createDirectories(live.resolve("vda"));
            Files.writeString(live.resolve("promoted.json"), "{\"format\":1,\"point\":3,\"at\":\"now\"}");
            Files.writeString(live.resolve("vda").resolve("image.qcow2"), "the live disk");
            Files.createDirectories(plain.resolve("vda"));
            Files.writeString(plain.resolve("vda").resolve("image.qcow2"), "a replica");
            Exec.Result purged = run("dpkg", "--purge", "amirror");
            assertEquals(0, purged.exitCode());
            assertTrue((purged.stdout() + purged.stderr()).contains("purge keeps " + live), purged.stderr());
            assertEquals("the live disk", Files.readString(live.resolve("vda").resolve("image.qcow2")));
            assertFalse(Files.exists(plain), "a replica that never ran goes");
            assertFalse(Files.exists(Path.of("/var/lib/amirror/identity.p12")), "purge deletes the keys");
            try (var left = Files.list(Path.of("/var/lib/amirror"))) {
                assertEquals(List.of(replicas), left.toList(), "nothing else stays");
            }
            FileTrees.delete(Path.of("/var/lib/amirror")); // the admin's part, once the domain moved
            assertFalse(Files.exists(Path.of("/etc/amirror/primary.json")), "purge deletes the configuration");
            assertFalse(Files.exists(Path.of("/etc/libvirt/hooks/qemu.d/amirror")));
        } finally {
            run("dpkg", "--purge", "amirror");
            FileTrees.deleteQuietly(Path.of("/var/lib/amirror/replicas/7a0c1b52-4a5e-4b4f-9d55-1e7f9c1d2b3a"));
        }
    }

    /**
     * Runs a unit the way systemd would, without systemd: its EnvironmentFile read, its UMask set,
     * its ExecStart with the variables expanded; waits for {@code ready} in the output, then stops it.
     */
    static void startFromUnit(String unit, String ready) throws Exception {
        startFromUnit(unit, null, ready);
    }

    /** As above, for an instance of a template unit ({@code unit} ends in '@'; %i is {@code instance}). */
    static void startFromUnit(String unit, String instance, String ready) throws Exception {
        List<String> lines = Files.readAllLines(Path.of("/lib/systemd/system/" + unit + ".service"));
        if (instance != null) {
            lines = lines.stream().map(l -> l.replace("%i", instance)).toList();
        }
        String exec = null;
        String umask = null;
        Map<String, String> env = new HashMap<>();
        for (String l : lines) {
            if (l.startsWith("UMask=")) {
                umask = l.substring("UMask=".length()).strip();
            } else if (l.startsWith("ExecStart=")) {
                exec = l.substring("ExecStart=".length());
            } else if (l.startsWith("EnvironmentFile=")) {
                Path f = Path.of(l.substring("EnvironmentFile=".length()).replaceFirst("^-", ""));
                if (Files.exists(f)) {
                    for (String e : Files.readAllLines(f)) {
                        if (e.matches("[A-Z_]+=.*")) {
                            env.put(e.substring(0, e.indexOf('=')), e.substring(e.indexOf('=') + 1).replaceAll("^\"|\"$", ""));
                        }
                    }
                }
            }
        }
        assertTrue(exec != null, unit + " has no ExecStart");
        List<String> argv = new ArrayList<>();
        for (String w : exec.trim().split("\\s+")) {
            if (w.startsWith("$")) { // systemd splits an unbraced $VAR at whitespace
                for (String part : env.getOrDefault(w.substring(1), "").trim().split("\\s+")) {
                    if (!part.isEmpty()) {
                        argv.add(part);
                    }
                }
            } else {
                argv.add(w);
            }
        }
        if (umask != null) { // as systemd applies it
            argv.addAll(0, List.of("/bin/sh", "-c", "umask \"$0\" && exec \"$@\"", umask));
        }
        Path log = Files.createTempFile(unit, ".log");
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            long deadline = System.currentTimeMillis() + 60_000;
            while (System.currentTimeMillis() < deadline && !Files.readString(log).contains(ready) && p.isAlive()) {
                Thread.sleep(200);
            }
            String out = Files.readString(log);
            System.out.println(unit + ": " + String.join(" ", argv) + "\n" + out);
            assertTrue(out.contains(ready), unit + " did not start:\n" + out);
        } finally {
            p.destroy();
            p.waitFor(30, TimeUnit.SECONDS);
            Files.deleteIfExists(log);
        }
    }
}
