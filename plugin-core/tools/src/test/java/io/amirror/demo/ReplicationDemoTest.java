package io.amirror.demo;

import io.amirror.lab.AmirrorProcess;
import io.amirror.lab.Lab;
import io.amirror.lab.RealVmTest;
import io.amirror.libvirt.LibvirtHook;
import io.amirror.util.Exec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Domain;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The README's first command, shortened to one office day: it must keep working in every commit,
 * and an interrupted run must leave the host as it found it.
 */
@RealVmTest
class ReplicationDemoTest {

    @Test
    void theDaemonReplicatesOnItsScheduleAndTheReplicaStartsOnTheStandby(Lab lab) throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        ReplicationDemo.Result r = ReplicationDemo.run(lab, 1, new PrintStream(buf, true, StandardCharsets.UTF_8));
        String out = buf.toString(StandardCharsets.UTF_8);
        System.out.print(out);
        assertTrue(r.identical(), out);
        assertEquals(2, r.days().size());
        ReplicationDemo.Day office = r.days().get(1);
        assertTrue(office.deltaSent() > 0 && office.deltaSent() < office.guestWrote(),
                "an office day costs something, and less than the guest wrote: " + out);
        // nobody asked for a point: the boot's, the first day's and the shut-off disk's came from the
        // daemon's schedule and the hook's events
        assertTrue(r.points() >= 3, out);
        assertEquals(20, r.rpoTargetSeconds());
        assertTrue(r.worstRpoSeconds() > 0, out);
        assertTrue(r.sawLiveTransfer(), "the live line showed a transfer's progress: " + out);
        assertTrue(out.contains("guest shut off"), "the last point is the shut-off disk's: " + out);
        assertTrue(out.contains("RPO: target 20s by the policy; achieved: "), out);
        assertTrue(out.contains("standby: amirror replicas --max-age 5m (exit 0)"), out);
        assertTrue(out.lines().anyMatch(l -> l.trim().startsWith("amirror-lab-")
                && l.trim().endsWith(" ok")), "the standby lists the replica, fresh: " + out);
        assertTrue(out.contains("replica identical to the guest's disk at the last point: yes"), out);
        assertTrue(r.failoverMatches(), "the replica guest booted by virsh start shows the primary's last log line: " + out);
        assertTrue(out.contains("after virsh start on the standby, the guest's data is there: yes"), out);
    }

    @Test
    void ctrlCLeavesTheHostAsItFoundIt(Lab lab, @TempDir Path tmp) throws Exception {
        // the hook script is in place before, so the demo does not restart libvirtd under this JVM
        HookSettings host = HookSettings.install(lab, tmp.resolve("primary"), tmp);
        try {
            byte[] conf = Files.readAllBytes(LibvirtHook.CONF);
            AmirrorProcess demo = AmirrorProcess.start(null, tmp.resolve("demo.log"), "demo", "--days", "1");
            try {
                long pid = demo.pid();
                String prefix = "amirror-lab-" + pid + "-";
                demo.awaitLog("point 1 on the standby", 600_000);
                // the standby defines the replica domain once the daemon describes it, after the first point
                long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                while (domains(lab, prefix).stream().noneMatch(n -> n.endsWith("-replica"))
                        && System.nanoTime() < deadline) {
                    Thread.sleep(200);
                }
                String log = demo.output();
                Path work = Path.of(log.replaceAll("(?s).*demo: working in (\\S+).*", "$1"));
                List<String> made = domains(lab, prefix);
                assertTrue(made.size() == 2 && made.stream().anyMatch(n -> n.endsWith("-replica")),
                        "the guest and its replica exist before the interrupt: " + made + "\n" + log);
                assertTrue(namespaces(pid).size() == 2, "two namespaces: " + namespaces(pid));
                assertTrue(Files.isDirectory(work), work.toString());
                List<ProcessHandle> children = ProcessHandle.of(pid).orElseThrow().descendants().toList();
                assertTrue(children.size() >= 3, "standby, daemon and status watch: " + children);

                Exec.run(Duration.ofSeconds(10), "kill", "-INT", Long.toString(pid)).orThrow();
                demo.waitFor(120);
                String after = demo.output();
                assertTrue(after.contains("demo: interrupted; cleaning up"), after);
                assertFalse(after.contains("could not remove"), after);
                assertEquals(List.of(), domains(lab, prefix), "no domain of the demo is left: " + after);
                assertEquals(List.of(), namespaces(pid), "no namespace of the demo is left");
                assertEquals(List.of(), children.stream().filter(ProcessHandle::isAlive).map(ProcessHandle::pid).toList(),
                        "no process of the demo is left");
                assertFalse(Files.exists(work), "the work directory is gone: " + work);
                assertTrue(Arrays.equals(conf, Files.readAllBytes(LibvirtHook.CONF)), "the hook settings are put back");
            } finally {
                demo.close();
            }
        } finally {
            host.restore();
        }
    }

    private static List<String> domains(Lab lab, String prefix) throws Exception {
        List<String> names = new ArrayList<>();
        for (Domain d : lab.libvirt().listAllDomains(0)) {
            Optional.of(d.getName()).filter(n -> n.startsWith(prefix)).ifPresent(names::add);
        }
        return names;
    }

    private static List<String> namespaces(long pid) {
        return Exec.run(Duration.ofSeconds(10), "ip", "netns", "list").orThrow().stdout().lines()
                .map(l -> l.split("\\s+")[0]).filter(n -> n.contains("-" + pid + "-")).toList();
    }
}
