package io.amirror.standby;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.lab.AmirrorProcess;
import io.amirror.lab.DiskSpec;
import io.amirror.lab.DomainSpec;
import io.amirror.lab.GuestConsole;
import io.amirror.lab.Lab;
import io.amirror.lab.LabDomain;
import io.amirror.lab.PrivateTree;
import io.amirror.lab.RealVmTest;
import io.amirror.libvirt.LibvirtHook;
import io.amirror.transport.Identity;
import io.amirror.util.Exec;
import io.amirror.util.FileDigest;
import io.amirror.util.PrivateFiles;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.function.Predicate;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static io.amirror.lab.Cli.cli;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Failover on the real lab, with amirror's hook installed in the real libvirtd: the primary daemon
 * and a standby (one libvirtd serves as both hosts; the replica is defined with a name suffix);
 * hook events drive the daemon, also when it was down; the standby defines the replica domain; and
 * a plain start of the replica through libvirt runs the hook, which first refuses a replica it
 * cannot make consistent (changing nothing), then finishes a pending apply and promotes it, and the
 * replica guest boots with the primary's data. Then failback: the old primary adopts its old disk
 * as a seed, the promoted domain replicates back sending only what changed, and the domain starts
 * on the old primary with the changes made on the standby.
 */
@RealVmTest
class FailoverRealVmTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static Optional<byte[]> savedConf;

    @BeforeAll
    static void keepTheHostsHookSettings() throws Exception {
        savedConf = Files.exists(LibvirtHook.CONF) ? Optional.of(Files.readAllBytes(LibvirtHook.CONF)) : Optional.empty();
    }

    @AfterAll
    static void restoreTheHostsHookSettings() throws Exception {
        Files.deleteIfExists(LibvirtHook.HOOKS_DIR.resolve("qemu.d").resolve("amirror"));
        if (savedConf.isPresent()) {
            Files.write(LibvirtHook.CONF, savedConf.get());
        } else {
            Files.deleteIfExists(LibvirtHook.CONF);
        }
    }

    @Test
    void hookEventsDriveTheDaemonAndStartingTheReplicaFailsOver(Lab lab) throws Exception {
        Path work = Files.createTempDirectory(lab.options().workDir(), "failover-");
        // QEMU opens the replicas below: the work directory (here an admin's /var/lib) lets it pass, as the state
        // directories amirror makes in it do; what they hold stays theirs (0600 files, 0700 directories)
        PrivateFiles.makeTraversable(work);
        Path primaryState = work.resolve("primary");
        Path standbyState = work.resolve("standby");
        Path policies = Files.createDirectories(work.resolve("policies.d"));
        Path sockets = Files.createTempDirectory(Path.of("/tmp"), "amsock"); // unix socket paths are short; 0700 root, as
        // the standby makes its own socket directory: libvirtd creates the sockets and hands them to QEMU
        Identity primaryId = Identity.loadOrCreate(primaryState, "primary");
        Identity standbyId = Identity.loadOrCreate(standbyState, "standby");
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        LibvirtHook.Installed hook = LibvirtHook.install(LibvirtHook.HOOKS_DIR, LibvirtHook.CONF, primaryState,
                AmirrorProcess.launcher(work.resolve("amirror")));
        if (hook.restartLibvirtd()) {
            lab.restartLibvirtd();
        }
        Files.createDirectories(primaryState.resolve("events")); // as the daemon makes it: the hook queues from now on

        String[] standbyArgs = {"standby", "--state", standbyState.toString(), "--listen", "127.0.0.1:" + port, "--peer",
                primaryId.fingerprint(), "--libvirt", lab.options().libvirtUri(), "--replica-suffix", "-replica",
                "--socket-dir", sockets.toString(), "--kernel-dir", lab.kit().kernel().getParent().toString()};
        AmirrorProcess standby = AmirrorProcess.start(null, work.resolve("standby.log"), standbyArgs)
                .awaitLog("standby listening", 60_000);
        LabDomain vm = lab.createDomain(DomainSpec.oneDisk(64L << 20, DiskSpec.Content.BLANK)).start();
        String replicaName = vm.name() + "-replica";
        AmirrorProcess daemon = null;
        try {
            Files.writeString(policies.resolve("lab.json"), "{\"name\": \"lab\", \"domains\": {\"names\": [\"" + vm.name()
                    + "\"]}, \"standby\": {\"address\": \"127.0.0.1:" + port + "\", \"fingerprint\": \""
                    + standbyId.fingerprint() + "\"}, \"rpo\": {\"interval\": \"1h\"}, \"retention\": {\"keep\": 6}}");
            String[] daemonArgs = {"primary", "--state", primaryState.toString(), "--policies", policies.toString(),
                    "--control", "127.0.0.1:0", "--scratch", lab.options().workDir().resolve("jobs").toString(),
                    "--libvirt", lab.options().libvirtUri()};
            daemon = AmirrorProcess.start(null, work.resolve("primary.log"), daemonArgs).awaitLog("primary running", 60_000);
            GuestConsole c = vm.console();
            String a = write(c, 10);
            int p1 = lastPointAfter(work, primaryState, 0, null, "first full cycle"); // the schedule's first cycle

            // the standby defined the replica domain, shut off, on the replica image, with the policy's retention
            Domain replica = awaitDefined(lab, replicaName, xml -> true, "after the first point");
            assertEquals(0, replica.isActive());
            String replicaXml = replica.getXMLDesc(0);
            assertTrue(replicaXml.contains(standbyState.resolve("replicas").toString()), replicaXml);
            assertTrue(replicaXml.contains("https://amirror.io/libvirt/replica/1"), replicaXml);
            ReplicaDomain rd = ReplicaDomain.find(standbyState.resolve("replicas"), replicaName, null).orElseThrow();
            assertEquals(6, rd.manifest().orElseThrow().keepPoints());

            // an admin edits the primary's definition: the next point carries it, and the standby redefines
            String inactive = vm.libvirtDomain().getXMLDesc(2);
            lab.libvirt().domainDefineXML(inactive.replaceFirst("</uuid>", "</uuid>\n  <description>moved to rack 2</description>"));

            // release (clean shutdown): the daemon's final cycle captures the shut-off disk
            String b = write(c, 30);
            vm.powerOff(Duration.ofMinutes(2));
            awaitLogLine(work.resolve("primary.log"), vm.name() + ": stopped: final cycle of its disks");
            int p2 = lastPointAfter(work, primaryState, p1, "SHUT_OFF", "final cycle after shutdown");
            assertReplicaEquals(lab, standbyState, vm, "after the final cycle");
            awaitDefined(lab, replicaName, xml -> xml.contains("moved to rack 2"),
                    "the replica domain follows the primary's definition");

            // the daemon down: the hook queues 'started' on disk, the restarted daemon takes it
            daemon.kill9();
            vm.start();
            awaitQueued(primaryState, "started");
            daemon = AmirrorProcess.start(null, work.resolve("primary2.log"), daemonArgs).awaitLog("primary running", 60_000);
            awaitLogLine(work.resolve("primary2.log"), vm.name() + " started; its chain is in place");
            assertTrue(queued(primaryState).isEmpty(), "the event was taken and removed");
            int p2b = lastPointAfter(work, primaryState, p2, null, "cycle at the daemon's start");

            // libvirtd restarts: its 'reconnect' of the running domain makes the daemon check the chain
            lab.restartLibvirtd();
            awaitLogLine(work.resolve("primary2.log"), vm.name() + ": reconnect: checking its chain");
            int p2c = lastPointAfter(work, primaryState, p2b, null, "cycle after the reconnect");

            // one more point, shipped; then a point the standby never applies: it crashes after journaling it
            c = vm.console();
            String d = write(c, 50);
            standby.kill9();
            vm.libvirtDomain().suspend();
            cli(work, "sync-to-dead-standby", 5, "sync", "--state", primaryState.toString(), vm.name(), "--wait");
            vm.libvirtDomain().resume();
            Path delta;
            try (Stream<Path> s = Files.walk(primaryState.resolve("spool"))) {
                delta = s.filter(p -> p.getFileName().toString().matches("delta-" + p2c + "-[0-9]+\\.amd")).findFirst()
                        .orElseThrow();
            }
            int p3 = Integer.parseInt(delta.getFileName().toString().replaceAll("delta-[0-9]+-([0-9]+)\\.amd", "$1"));
            ReplicaDisk vda = rd.disk("vda");
            ReplicaDisk.State before = vda.state();
            assertEquals(p2c, before.point());
            Path pending = vda.image().resolveSibling(delta.getFileName().toString());
            byte[] good = Files.readAllBytes(delta);
            System.out.printf("points: first %d, shut off %d, after reconnect %d, pending %d (%d bytes)%n", p1, p2, p2c,
                    p3, good.length);
            assertTrue(good.length > 512 * 1024, "the pending point carries the 1 MiB written: " + good.length);
            Files.write(pending, Arrays.copyOf(good, good.length - 100)); // damaged on disk
            journalPending(vda, before, p3, pending, good);
            byte[] stateBefore = Files.readAllBytes(vda.image().resolveSibling("state.json"));
            byte[] imageBefore = FileDigest.sha256(vda.image());

            // a start that cannot be made consistent is refused, with the way out, and changes nothing
            LibvirtException refused = assertThrows(LibvirtException.class,
                    () -> lab.libvirt().domainLookupByName(replicaName).create());
            assertTrue(refused.getMessage().contains("cannot be finished") && refused.getMessage().contains("--point " + p2c),
                    refused.getMessage());
            assertEquals(0, lab.libvirt().domainLookupByName(replicaName).isActive());
            assertArrayEquals(stateBefore, Files.readAllBytes(vda.image().resolveSibling("state.json")));
            assertArrayEquals(imageBefore, FileDigest.sha256(vda.image()), "the refused start touched the replica image");
            assertTrue(rd.promoted().isEmpty());

            // the delta intact again: the start finishes the apply first, promotes, and the guest boots on it
            Files.write(pending, good);
            vm.libvirtDomain().suspend(); // the primary's disk holds still for the comparison
            assertEquals("rw------- root:root", PrivateTree.modeAndOwner(vda.image()), "the replica, shut off");
            lab.libvirt().domainLookupByName(replicaName).create();
            // libvirt's DAC driver gave the image (not its directories) to QEMU's user for the run
            String running = PrivateTree.modeAndOwner(vda.image());
            System.out.println("replica image while the replica domain runs: " + running);
            assertTrue(running.startsWith("rw------- libvirt-qemu:"), running);
            assertEquals(p3, rd.promoted().orElseThrow().point());
            assertEquals(p3, vda.state().point());
            assertEquals(0, vda.state().pending());
            GuestConsole rc = GuestConsole.connect(replicaName, ReplicationRun.consoleSocket(sockets, replicaXml), Duration.ofSeconds(30));
            try {
                rc.awaitReady(lab.options().bootTimeout());
                assertEquals(a, md5(rc, 10), "data of the first point");
                assertEquals(b, md5(rc, 30), "data written before the clean shutdown");
                assertEquals(d, md5(rc, 50), "data of the point whose apply the start finished");
            } finally {
                rc.close();
                lab.libvirt().domainLookupByName(replicaName).destroy();
            }
            assertEquals("rw------- root:root", PrivateTree.modeAndOwner(vda.image()), "libvirt gave the image back");
            vm.libvirtDomain().resume();

            // the promoted replica receives nothing more: the primary is told why
            standby = AmirrorProcess.start(null, work.resolve("standby2.log"), standbyArgs).awaitLog("standby listening", 60_000);
            String out = cli(work, "sync-after-failover", 5, "sync", "--state", primaryState.toString(), vm.name(), "--wait");
            assertTrue(out.contains("started as the domain on the standby"), out);
            String points = cli(work, "points", 0, "points", "--state", standbyState.toString(), replicaName);
            assertTrue(points.contains("PROMOTED at point " + p3) && points.contains("vda: at point " + p3), points);

            // failback: the old primary is back, its domain stays off; the promoted domain runs and changes
            vm.destroy();
            daemon.kill9();
            Domain promoted = lab.libvirt().domainLookupByName(replicaName);
            promoted.create();
            String e;
            try (GuestConsole pc = GuestConsole.connect(replicaName, ReplicationRun.consoleSocket(sockets, replicaXml), Duration.ofSeconds(30))) {
                pc.awaitReady(lab.options().bootTimeout());
                e = write(pc, 20);
            }
            // the old primary runs a standby that adopts its old disk as the seed of the promoted domain
            Path backStandby = work.resolve("back-standby");
            Path backPrimary = work.resolve("back-primary");
            Path backPolicies = Files.createDirectories(work.resolve("back-policies.d"));
            Identity backStandbyId = Identity.loadOrCreate(backStandby, "old-primary");
            Identity backPrimaryId = Identity.loadOrCreate(backPrimary, "standby-now-primary");
            int backPort;
            try (ServerSocket s = new ServerSocket(0)) {
                backPort = s.getLocalPort();
            }
            String adopted = cli(work, "adopt", 0, "seed", "adopt", "--state", backStandby.toString(), promoted.getUUIDString(),
                    "--disk", "vda", "--image", vm.image("vda").toString());
            assertTrue(adopted.contains("seeded from"), adopted);
            AmirrorProcess back = AmirrorProcess.start(null, work.resolve("back-standby.log"), "standby", "--state",
                    backStandby.toString(), "--listen", "127.0.0.1:" + backPort, "--peer", backPrimaryId.fingerprint(),
                    "--libvirt", lab.options().libvirtUri(), "--replica-suffix", "-back", "--socket-dir", sockets.toString(),
                    "--kernel-dir", lab.kit().kernel().getParent().toString())
                    .awaitLog("standby listening", 60_000);
            String backName = replicaName + "-back";
            try {
                Files.writeString(backPolicies.resolve("back.json"), "{\"name\": \"back\", \"domains\": {\"names\": [\""
                        + replicaName + "\"]}, \"standby\": {\"address\": \"127.0.0.1:" + backPort + "\", \"fingerprint\": \""
                        + backStandbyId.fingerprint() + "\"}, \"rpo\": {\"interval\": \"1h\"}}");
                daemon = AmirrorProcess.start(null, work.resolve("back-primary.log"), "primary", "--state",
                        backPrimary.toString(), "--policies", backPolicies.toString(), "--control", "127.0.0.1:0", "--scratch",
                        lab.options().workDir().resolve("jobs").toString(), "--libvirt", lab.options().libvirtUri())
                        .awaitLog("primary running", 60_000);
                lastPointAfter(work, backPrimary, 0, null, "first point back to the old primary");
                JsonNode first = JSON.readTree(cli(work, "back-status", -1, "status", "--json", "--state",
                        backPrimary.toString())).path("domains").path(0);
                long sent = first.path("lastCycleDeltaBytes").asLong();
                System.out.printf("failback: first point %d bytes of delta (the disk holds 4 MiB of random data)%n", sent);
                assertTrue(sent > 0 && sent < (2 << 20), "the seed should leave about the 1 MiB changed since the "
                        + "failover, not the 4 MiB of data on the disk: " + sent);
                awaitLogLine(work.resolve("back-primary.log"), "the standby holds a seed");

                // the old primary's copy equals the promoted domain's disk; shut off there, it starts here
                Path promotedImage = rd.disk("vda").image();
                Path backImage = new ReplicaDomain(backStandby.resolve("replicas"), UUID.fromString(promoted.getUUIDString()),
                        null).disk("vda").image();
                promoted.destroy(); // the planned move back: a final point of the shut-off disk (synced by hand here:
                // this host's hook reports to the first primary's state directory)
                String fin = cli(work, "back-sync", 0, "sync", "--state", backPrimary.toString(), replicaName, "--wait");
                assertTrue(fin.contains("standby holds point"), fin);
                assertEquals(0, Exec.run(Duration.ofMinutes(2), lab.host().tool("qemu-img").toString(), "compare", "-U",
                        backImage.toString(), promotedImage.toString()).exitCode(), "failback copy differs");
                Domain home = awaitDefined(lab, backName, xml -> true, "after the failback's final point");
                String homeXml = home.getXMLDesc(0);
                home.create(); // the hook promotes the copy on the old primary
                try (GuestConsole hc = GuestConsole.connect(backName, ReplicationRun.consoleSocket(sockets, homeXml), Duration.ofSeconds(30))) {
                    hc.awaitReady(lab.options().bootTimeout());
                    assertEquals(a, md5(hc, 10), "data from before the failover");
                    assertEquals(e, md5(hc, 20), "data written while the domain ran on the standby");
                }
                home.destroy();

                // issue 20: after all of it (captures running and shut off, hook events, failover, seed adoption,
                // failback), nothing in the four state directories is open to other users but QEMU's way to a replica
                List<String> exposed = Stream.of(primaryState, standbyState, backStandby, backPrimary)
                        .flatMap(s -> PrivateTree.exposed(s).stream()).toList();
                assertEquals(List.of(), exposed, "state readable by other users");
                System.out.println("state directories: " + PrivateTree.modeAndOwner(standbyState) + ", replica directory "
                        + PrivateTree.modeAndOwner(vda.image().getParent()) + ", sockets " + PrivateTree.modeAndOwner(sockets));
            } finally {
                back.kill9();
                undefine(lab, backName);
            }
        } finally {
            if (daemon != null) {
                daemon.kill9();
            }
            standby.kill9();
            vm.close();
            undefine(lab, replicaName);
            if (System.getProperty("amirror.keep") == null) {
                Exec.run(Duration.ofMinutes(1), "rm", "-rf", work.toString(), sockets.toString());
            }
        }
    }

    /**
     * The replica domain {@code name} once the standby has defined it as {@code wanted}: the primary
     * sends the description after the point is acknowledged, so the status may show the point first.
     */
    private static Domain awaitDefined(Lab lab, String name, Predicate<String> wanted, String what) throws Exception {
        long deadline = System.currentTimeMillis() + 60_000;
        while (true) {
            try {
                Domain d = lab.libvirt().domainLookupByName(name);
                if (wanted.test(d.getXMLDesc(0))) {
                    return d;
                }
            } catch (LibvirtException notYet) {
                // not defined yet
            }
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("replica domain " + name + " not defined as expected within 60 s: " + what);
            }
            Thread.sleep(500);
        }
    }

    private static void undefine(Lab lab, String name) {
        try {
            Domain r = lab.libvirt().domainLookupByName(name);
            if (r.isActive() == 1) {
                r.destroy();
            }
            r.undefine();
        } catch (LibvirtException gone) {
            // never defined
        }
    }

    /** Writes 1 MiB of random data at MiB {@code mib} of the guest's disk; returns its MD5. */
    private static String write(GuestConsole c, int mib) {
        c.check("dd if=/dev/urandom of=/dev/vda bs=64k seek=" + (mib * 16) + " count=16 conv=fsync 2>/dev/null");
        return md5(c, mib);
    }

    private static String md5(GuestConsole c, int mib) {
        return c.check("dd if=/dev/vda bs=64k skip=" + (mib * 16) + " count=16 2>/dev/null | md5sum").trim().split("\\s+")[0];
    }

    /** Waits until status shows a point newer than {@code after} (of that consistency) on the standby; returns it. */
    private static int lastPointAfter(Path work, Path primaryState, int after, String consistency, String what)
            throws Exception {
        long deadline = System.currentTimeMillis() + 180_000;
        int n = 0;
        while (System.currentTimeMillis() < deadline) {
            JsonNode st = JSON.readTree(cli(work, "status-" + (n++), -1, "status", "--json", "--state", primaryState.toString()));
            JsonNode d = st.path("domains").path(0);
            int point = d.path("lastPoint").asInt();
            if (point > after && (consistency == null || consistency.equals(d.path("consistency").asText()))) {
                return point;
            }
            Thread.sleep(2_000);
        }
        throw new AssertionError("no " + what + " within 3 minutes (still at point " + after + ")");
    }

    private static void assertReplicaEquals(Lab lab, Path standbyState, LabDomain vm, String when) throws Exception {
        Path replica = standbyState.resolve("replicas").resolve(vm.libvirtDomain().getUUIDString()).resolve("vda")
                .resolve("replica.qcow2");
        assertEquals(0, Exec.run(Duration.ofMinutes(2), lab.host().tool("qemu-img").toString(), "compare", "-U",
                replica.toString(), vm.image("vda").toString()).exitCode(), "replica differs " + when);
    }

    private static List<Path> queued(Path primaryState) throws Exception {
        try (Stream<Path> s = Files.list(primaryState.resolve("events"))) {
            return s.filter(p -> p.toString().endsWith(".event")).toList();
        }
    }

    private static void awaitQueued(Path primaryState, String operation) throws Exception {
        for (int i = 0; i < 100; i++) {
            for (Path p : queued(primaryState)) {
                if (Files.readString(p).startsWith(operation + "\0")) {
                    return;
                }
            }
            Thread.sleep(100);
        }
        throw new AssertionError("the hook queued no '" + operation + "' event");
    }

    private static void awaitLogLine(Path log, String text) throws Exception {
        for (int i = 0; i < 300; i++) {
            if (Files.readString(log).contains(text)) {
                return;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("no '" + text + "' in " + log + ":\n" + Files.readString(log));
    }

    /** What the standby's journal holds when it crashed between "pending" and the end of the apply. */
    private static void journalPending(ReplicaDisk disk, ReplicaDisk.State at, int next, Path delta, byte[] deltaBytes)
            throws Exception {
        String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(deltaBytes));
        Files.write(disk.image().resolveSibling("state.json"), JSON.writeValueAsBytes(new ReplicaDisk.State(at.point(), next,
                delta.toString(), at.virtualSize(), at.appliedSha256(), sha)));
    }
}
