package io.amirror.standby;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.config.SchemaCheck;
import io.amirror.lab.AmirrorProcess;
import io.amirror.lab.DiskSpec;
import io.amirror.lab.DomainSpec;
import io.amirror.lab.GuestConsole;
import io.amirror.lab.Lab;
import io.amirror.lab.LabDomain;
import io.amirror.lab.RealVmTest;
import io.amirror.util.Exec;
import org.junit.jupiter.api.Test;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static io.amirror.lab.Cli.cli;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Drills of a replica while its primary keeps writing and points keep landing (real libvirt, QEMU,
 * qemu-nbd; a busybox guest without an agent, so the evidence is its serial log):
 * <ul>
 *   <li>a drill of an older kept point boots that point's data, not the newest, and its guest's
 *       writes go to the drill's overlay; meanwhile a new point is applied to the replica;</li>
 *   <li>ended by SIGTERM (as Ctrl-C), it removes its domain, network, overlays and exports;</li>
 *   <li>killed outright, it leaves them, and the next standby start sweeps them;</li>
 *   <li>a drill run to its end reports (schema drill-report), and {@code amirror replicas} shows it;</li>
 *   <li>the standby's own schedule drills a replica that is due, and removes it all the same;</li>
 *   <li>afterwards the replica is the primary's disk at the newest point, byte for byte: no drill
 *       wrote it.</li>
 * </ul>
 */
@RealVmTest
class DrillRealVmTest {
    private static final long MIB = 1L << 20;
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void drillsBootAKeptPointAsideWhileReplicationGoesOnAndLeaveNothingBehind(Lab lab) throws Exception {
        LabDomain vm = null;
        String replicaName = null;
        try (ReplicationRun run = ReplicationRun.open(lab, "drill-")) {
            run.startStandby();
            vm = lab.createDomain(new DomainSpec(256, List.of(DiskSpec.qcow2("vda", 32 * MIB, DiskSpec.Content.BLANK)),
                    false)).start();
            replicaName = vm.name() + "-replica";
            String uuid = vm.libvirtDomain().getUUIDString();
            GuestConsole c = vm.console();
            String at2 = c.writeRandom("vda", 2 * 16, 16);
            Files.writeString(run.policies.resolve("drill.json"), "{\"name\": \"drill\", \"domains\": "
                    + "{\"names\": [\"" + vm.name() + "\"]}, " + run.standbyMember() + ", \"rpo\": {\"interval\": \"1h\"}}");
            run.startPrimary();
            int p1 = run.lastPointAfter(0, "first point", Duration.ofMinutes(3));
            String at8 = c.writeRandom("vda", 8 * 16, 16);
            int p2 = run.sync(vm.name(), p1);
            run.awaitDefined(replicaName);
            String drillName = replicaName + "-drill";

            // 1. a drill of point p1, kept running; replication goes on meanwhile
            AmirrorProcess drill = AmirrorProcess.start(null, run.work.resolve("drill-1.out"),
                    drillArgs(run, "--point", Integer.toString(p1), "--keep", "10m", "--settle", "3s", replicaName));
            Domain dd = awaitDomain(lab, drillName, drill);
            String drillXml = dd.getXMLDesc(0);
            assertFalse(drillXml.contains(run.replicaDirectory(uuid).toString()), "nothing of the replica's: " + drillXml);
            assertTrue(Arrays.stream(lab.libvirt().listNetworks()).anyMatch(n -> n.startsWith("amirror-drill-")),
                    "its isolated network runs: " + Arrays.toString(lab.libvirt().listNetworks()));
            try (GuestConsole dc = GuestConsole.connect(drillName, ReplicationRun.consoleSocket(run.sockets, drillXml),
                    Duration.ofSeconds(30))) {
                dc.awaitReady(lab.options().bootTimeout());
                assertEquals(at2, dc.md5("vda", 2 * 16, 16), "the drilled point's data");
                assertNotEquals(at8, dc.md5("vda", 8 * 16, 16), "point " + p2 + "'s data is not in point " + p1);
                dc.writeRandom("vda", 20 * 16, 16); // the drill's guest writes: into the overlay only
            }
            String at16 = c.writeRandom("vda", 16 * 16, 8);
            int p3 = run.sync(vm.name(), p2);
            JsonNode replicas = replicasJson(run);
            assertEquals(p3, replicas.path("point").asInt(), "points keep being applied during the drill: " + replicas);
            assertEquals(p1, replicas.path("drilling").path("point").asInt(), "the drilled point is held: " + replicas);
            drill.stop(Duration.ofSeconds(90)); // SIGTERM, as Ctrl-C: the drill removes what it made
            assertNothingLeft(lab, run, drillName, "after the interrupted drill");
            assertTrue(drill.output().contains("removed: domain, overlays"), drill.output());

            // 2. a drill killed outright leaves its domain and exports; the next standby start sweeps them
            AmirrorProcess killed = AmirrorProcess.start(null, run.work.resolve("drill-2.out"),
                    drillArgs(run, "--keep", "10m", "--settle", "3s", replicaName));
            awaitDomain(lab, drillName, killed);
            Exec.run(Duration.ofSeconds(10), "kill", "-9", Long.toString(killed.pid())).orThrow();
            killed.waitFor(30);
            assertTrue(domainExists(lab, drillName), "a killed drill leaves its domain");
            run.standby.kill9();
            run.startStandby();
            assertTrue(run.standby.output().contains("left behind"), run.standby.output());
            assertNothingLeft(lab, run, drillName, "after the standby's start swept the killed drill");

            // 3. a drill to its end, with its report
            long t3 = System.nanoTime();
            String out = cli(run.work, "drill-3", 0, drillArgs(run, "--network", "none", "--settle", "5s", "--json",
                    replicaName));
            double drillSeconds = (System.nanoTime() - t3) / 1e9;
            JsonNode report = JSON.readTree(out.substring(out.indexOf("{\n")));
            assertEquals(List.of(), SchemaCheck.named(SchemaCheck.DRILL_REPORT).check(report, "drill --json"), report.toString());
            assertTrue(report.path("passed").asBoolean(), report.toString());
            assertEquals(p3, report.path("point").asInt(), "the newest point by default");
            assertTrue(report.path("evidence").asText().startsWith("serial log tail:"), "no agent, no display: " + report);
            assertNothingLeft(lab, run, drillName, "after the drill");
            JsonNode last = replicasJson(run);
            assertEquals(report.path("id").asText(), last.path("lastDrill").path("id").asText(), last.toString());
            assertTrue(last.path("drilling").isNull(), last.toString());
            String human = cli(run.work, "replicas", 0, "replicas", "--state", run.standbyState.toString());
            assertTrue(human.contains("last drill: ") && human.contains("at point " + p3 + ": passed"), human);

            // 4. a drill the standby schedules itself: due at once for a replica with no drill on record
            Files.delete(run.replicaDirectory(uuid).resolve("drill.json"));
            Path config = run.work.resolve("standby-drills.json");
            Files.writeString(config, "{\"drills\": {\"schedules\": [{\"replicas\": [\"" + vm.name()
                    + "\"], \"every\": \"7d\", \"network\": \"none\", \"settle\": \"5s\"}]}}");
            run.standby.kill9();
            run.startStandby("--config", config.toString());
            run.standby.awaitLog("scheduled drill of " + replicaName + " at point", 5 * 60_000);
            JsonNode scheduled = replicasJson(run);
            assertTrue(scheduled.path("lastDrill").path("passed").asBoolean(), scheduled.toString());
            assertNotEquals(report.path("id").asText(), scheduled.path("lastDrill").path("id").asText());
            assertNothingLeft(lab, run, drillName, "after the scheduled drill");
            assertTrue(run.standby.output().contains("scheduled drills: 1 schedule"), "the standby names its drill schedule");

            // 5. no drill wrote the replica: it is the primary's disk at the newest point
            int p4 = run.sync(vm.name(), p3);
            Exec.Result cmp = Exec.run(Duration.ofMinutes(2), lab.host().tool("qemu-img").toString(), "compare", "-U",
                    "-f", "qcow2", "-F", "qcow2", run.replicaImage(uuid, "vda").toString(), vm.image("vda").toString());
            assertEquals(0, cmp.exitCode(), "the replica at point " + p4 + ": " + cmp.stdout() + cmp.stderr());
            assertEquals(at16, c.md5("vda", 16 * 16, 8));
            // the admin may then choose a kept point for the failover by the replica domain's name
            List<String> choose = new ArrayList<>(List.of("failover", "--state", run.standbyState.toString(), "--point",
                    Integer.toString(p1), "--no-start"));
            choose.addAll(run.definition);
            choose.add(replicaName);
            String chosen = cli(run.work, "failover-point", 0, choose.toArray(String[]::new));
            assertTrue(chosen.contains("the next start rolls the replica to point " + p1), chosen);
            System.out.printf("drills: point %d booted aside while point %d was applied; interrupted, killed and swept, "
                    + "and a full drill of point %d passed (%.1f s from the command to nothing left, 5 s of it watching "
                    + "the guest run); the replica equals the primary at point %d%n", p1, p3, p3, drillSeconds, p4);
        } finally {
            if (vm != null) {
                vm.close();
            }
            if (replicaName != null) {
                ReplicationRun.undefine(lab, replicaName);
            }
        }
    }

    private static String[] drillArgs(ReplicationRun run, String... more) {
        List<String> a = new ArrayList<>(List.of("drill", "--state", run.standbyState.toString()));
        a.addAll(run.definition);
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    private static JsonNode replicasJson(ReplicationRun run) throws Exception {
        return JSON.readTree(cli(run.work, "replicas-" + System.nanoTime(), -1, "replicas", "--json", "--state",
                run.standbyState.toString())).path("replicas").path(0);
    }

    private static Domain awaitDomain(Lab lab, String name, AmirrorProcess drill) throws Exception {
        for (int i = 0; i < 240; i++) {
            try {
                Domain d = lab.libvirt().domainLookupByName(name);
                if (d.isActive() == 1) {
                    return d;
                }
            } catch (LibvirtException notYet) {
                // not started yet
            }
            if (!drill.alive()) {
                throw new AssertionError("the drill ended before its domain ran: " + drill.output());
            }
            Thread.sleep(500);
        }
        throw new AssertionError("drill domain " + name + " not running within 2 minutes: " + drill.output());
    }

    private static boolean domainExists(Lab lab, String name) {
        try {
            lab.libvirt().domainLookupByName(name);
            return true;
        } catch (LibvirtException gone) {
            return false;
        }
    }

    /** No drill domain, no drill network, no drill directory, no pin, no export of the replica. */
    private static void assertNothingLeft(Lab lab, ReplicationRun run, String drillName, String when) throws Exception {
        assertFalse(domainExists(lab, drillName), "drill domain " + when);
        assertFalse(Arrays.stream(lab.libvirt().listNetworks()).anyMatch(n -> n.startsWith("amirror-drill-")),
                "drill network " + when + ": " + Arrays.toString(lab.libvirt().listNetworks()));
        Path drills = run.standbyState.resolve("drills");
        if (Files.isDirectory(drills)) {
            try (Stream<Path> s = Files.list(drills)) {
                assertEquals(List.of(), s.toList(), "drill directories " + when);
            }
        }
        try (Stream<Path> s = Files.list(run.standbyState.resolve("replicas"))) {
            for (Path d : s.toList()) {
                assertFalse(Files.exists(d.resolve("drill-pin.json")), "the pin " + when);
            }
        }
        Exec.Result ps = Exec.run(Duration.ofSeconds(10), "pgrep", "-f", "qemu-nbd.*" + drills);
        assertFalse(ps.ok(), "qemu-nbd exports " + when + ": " + ps.stdout());
    }
}
