package io.amirror.standby;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.lab.AmirrorProcess;
import io.amirror.lab.DebianGuest;
import io.amirror.lab.GuestAgent;
import io.amirror.lab.Lab;
import io.amirror.lab.LabDomain;
import io.amirror.lab.PostgresWorkload;
import io.amirror.lab.RealVmTest;
import io.amirror.util.Exec;
import org.junit.jupiter.api.Test;
import org.libvirt.LibvirtException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;

import static io.amirror.lab.Cli.cli;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real Debian 12 server replicated and failed over as an office runs it: UEFI on q35 with its
 * boot entry only in its NVRAM, root on virtio-scsi, PostgreSQL's data and WAL on a second disk,
 * qemu-guest-agent, pgbench committing. The primary daemon and the standby are separate processes
 * on loopback; the replica is started by {@code amirror failover} with the policy's boot check.
 *
 * <ul>
 *   <li>a secret stored in the guest's emulated TPM (swtpm) before the first point;</li>
 *   <li>a point under load with the agent freezes the filesystems: QUIESCED, and the replica's NVRAM
 *       is the primary's byte for byte;</li>
 *   <li>with the agent hung (SIGSTOP) the freeze times out and the point is cut anyway, CRASH with a
 *       note, pgbench still committing; when the agent goes on (SIGCONT) the guest is not frozen;</li>
 *   <li>a drill of that point while the primary keeps committing and the next point is applied: the
 *       drill boots through the point's NVRAM copy on an isolated network, its checks
 *       ({@code pg_isready}, a count) pass through its agent, PostgreSQL's recovery keeps every
 *       transaction committed before the cut with the pgbench sums in agreement, its TPM holds the
 *       secret; ended, it leaves no domain and no network;</li>
 *   <li>a clean shutdown ({@code virsh shutdown}) mid-pgbench: the shut-off point is both disks and the NVRAM byte for
 *       byte; the primary host dies; the replica boots through its own NVRAM's {@code debian} entry
 *       (the image has no fallback loader, so a replica without it stops in the UEFI shell), its
 *       agent answers, the boot check {@code pg_isready} passes, not one transaction is lost, and
 *       its TPM holds the secret (a fresh TPM would not: a BitLocker guest would ask for its
 *       recovery key).</li>
 * </ul>
 * One boot of the primary, one of the drill and one of the replica.
 */
@RealVmTest
class RealGuestFailoverRealVmTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration BOOT = Duration.ofMinutes(6);
    /** How long the agent hangs: longer than a cut of the running guest takes here (freeze attempt included). */
    private static final Duration AGENT_HANG = Duration.ofSeconds(150);

    @Test
    void aDebianServerOnUefiFailsOverWithItsNvramAndItsDatabase(Lab lab) throws Exception {
        LabDomain vm = null;
        String replicaName = null;
        try (ReplicationRun run = ReplicationRun.open(lab, "realguest-")) {
            vm = DebianGuest.create(lab);
            replicaName = vm.name() + "-replica";
            String uuid = vm.libvirtDomain().getUUIDString();
            run.startStandby();
            Duration toAgent = DebianGuest.bootToAgent(vm, BOOT);
            PostgresWorkload pg = new PostgresWorkload(vm.agent()).awaitReady(Duration.ofMinutes(3));
            System.out.println("Debian guest: boot to agent " + toAgent.toSeconds() + " s");
            String secret = UUID.randomUUID().toString().replace("-", "");
            DebianGuest.tpmStore(vm.agent(), secret);
            // xz -1 keeps the first copy of the 1.1 GB root disk to a minute or two here
            Files.writeString(run.policies.resolve("debian.json"), "{\"name\": \"debian\", \"domains\": {\"names\": [\""
                    + vm.name() + "\"]}, " + run.standbyMember() + ", \"rpo\": {\"interval\": \"1h\"}, "
                    + "\"compression\": \"1\", \"quiesce\": true, \"replica\": {\"bootCheck\": {\"command\": "
                    + "[\"/usr/bin/pg_isready\", \"-q\"], \"timeout\": \"8m\"}}}");
            long t0 = System.nanoTime();
            run.startPrimary();
            int p1 = run.lastPointAfter(0, "first point", Duration.ofMinutes(20));
            System.out.printf("Debian guest: first point %d in %d s, %d bytes of delta%n", p1,
                    (System.nanoTime() - t0) / 1_000_000_000, run.status().path("lastCycleDeltaBytes").asLong());

            // under load, with the agent: the filesystems are frozen for the cut
            pg.run(300);
            int p2 = run.sync(vm.name(), p1);
            JsonNode st2 = run.status();
            assertEquals("QUIESCED", st2.path("consistency").asText(), st2.toString());
            System.out.printf("Debian guest: 300 pgbench transactions: point %d, %d bytes of delta%n", p2,
                    st2.path("lastCycleDeltaBytes").asLong());

            assertArrayEquals(Files.readAllBytes(DebianGuest.nvram(vm)),
                    Files.readAllBytes(run.replicaDirectory(uuid).resolve("nvram.fd")), "the NVRAM at point " + p2);

            // pgbench committing, the agent hung (stopped by SIGSTOP: its channel open, nothing answers):
            // the freeze times out and the point is cut anyway, crash-consistent, with a note
            pg.startFor("lab-pgbench", 900);
            awaitRows(pg, pg.historyRows() + 50);
            long committedBeforeCut = pg.historyRows();
            GuestAgent agent = vm.agent();
            hangAgent(vm, agent);
            int p3 = run.sync(vm.name(), p2);
            JsonNode st3 = run.status();
            assertEquals("CRASH", st3.path("consistency").asText(), st3.toString());
            assertTrue(run.primary.output().contains("the guest agent did not answer; point " + p3 + " is crash-consistent"),
                    "the note of the hung agent in the primary's log");

            // a drill of the crash-consistent point while the primary goes on committing and points land:
            // it boots through the point's NVRAM copy, PostgreSQL recovers, the point's TPM state is there
            String drillName = replicaName + "-drill";
            List<String> drillArgs = new ArrayList<>(List.of("drill", "--state", run.standbyState.toString()));
            drillArgs.addAll(run.definition);
            drillArgs.addAll(List.of("--point", Integer.toString(p3), "--check", "/usr/bin/pg_isready -q", "--check",
                    "runuser -u postgres -- psql -X -At -d pgbench -c 'select count(*) from pgbench_history'",
                    "--timeout", "8m", "--keep", "15m", "--json", replicaName));
            AmirrorProcess drill = AmirrorProcess.start(null, run.work.resolve("drill.out"), drillArgs.toArray(String[]::new));
            drill.awaitLog("kept running for", 10 * 60_000);
            int p4 = run.sync(vm.name(), p3);
            GuestAgent drillAgent = GuestAgent.of(lab.libvirt(), drillName);
            PostgresWorkload.Consistency atP3 = new PostgresWorkload(drillAgent).consistency().check();
            assertTrue(atP3.rows() >= committedBeforeCut, "the drill of point " + p3 + " holds every transaction "
                    + "committed before its cut: " + atP3.rows() + " rows, " + committedBeforeCut + " committed before it");
            assertEquals(secret, DebianGuest.tpmRead(drillAgent), "the drill's TPM is the point's");
            assertTrue(Arrays.stream(lab.libvirt().listNetworks()).anyMatch(n -> n.startsWith("amirror-drill-")),
                    "the drill's isolated network runs while it does");
            assertFalse(lab.libvirt().domainLookupByName(drillName).getXMLDesc(0).contains(run.replicaDirectory(uuid).toString()),
                    "the drill uses nothing of the replica's directory");
            drill.stop(Duration.ofSeconds(120)); // as Ctrl-C: the drill removes what it made
            String drillOut = drill.output();
            JsonNode report = JSON.readTree(drillOut.substring(drillOut.indexOf("{\n")));
            JsonNode checks = report.path("checks");
            assertEquals(2, checks.size(), report.toString());
            assertTrue(checks.path(0).path("passed").asBoolean() && checks.path(1).path("passed").asBoolean(), report.toString());
            assertEquals(atP3.rows(), Long.parseLong(checks.path(1).path("output").asText().strip()), report.toString());
            assertThrows(LibvirtException.class, () -> lab.libvirt().domainLookupByName(drillName), "the drill domain is gone");
            assertFalse(Arrays.stream(lab.libvirt().listNetworks()).anyMatch(n -> n.startsWith("amirror-drill-")),
                    "the drill's network is gone");
            System.out.printf("Debian guest: drill of point %d: agent %.0f s after its start, %d rows (%d committed "
                    + "before the cut), sums agree, TPM secret; point %d applied meanwhile%n", p3,
                    report.path("bootSeconds").asDouble(), atP3.rows(), committedBeforeCut, p4);

            // the agent goes on (SIGCONT): the freeze amirror gave up on was never carried out behind its back
            agent.awaitAnswering(Duration.ofMinutes(4));
            String freezeStatus = vm.libvirtDomain().qemuAgentCommand("{\"execute\":\"guest-fsfreeze-status\"}", 10, 0);
            assertTrue(freezeStatus.contains("thawed"), "the guest's filesystems after its agent went on: " + freezeStatus);

            // a clean shutdown mid-pgbench (the admin's virsh shutdown), then failover: the shut-off point is
            // the disks exactly, and PostgreSQL starts from its clean shutdown, not from a crash
            Exec.run(Duration.ofSeconds(60), lab.host().tool("virsh").toString(), "-c", lab.options().libvirtUri(),
                    "shutdown", vm.name(), "--mode", "agent").orThrow();
            awaitShutOff(vm, Duration.ofMinutes(4));
            int p5 = run.sync(vm.name(), p4);
            assertEquals("SHUT_OFF", run.status().path("consistency").asText());
            for (String target : List.of(DebianGuest.ROOT_TARGET, DebianGuest.DATA_TARGET)) {
                Exec.Result r = Exec.run(Duration.ofMinutes(3), lab.host().tool("qemu-img").toString(), "compare", "-U",
                        "-f", "qcow2", "-F", "qcow2", run.replicaImage(uuid, target).toString(), vm.image(target).toString());
                assertEquals(0, r.exitCode(), target + " differs at the shut-off point " + p5 + ": " + r.stdout() + r.stderr());
            }
            assertArrayEquals(Files.readAllBytes(DebianGuest.nvram(vm)),
                    Files.readAllBytes(run.replicaDirectory(uuid).resolve("nvram.fd")), "the NVRAM at point " + p5);
            run.killPrimary(); // then the primary host dies

            // failover: the replica boots through its NVRAM's entry and its boot check passes
            List<String> failover = new ArrayList<>(List.of("failover", "--state", run.standbyState.toString()));
            failover.addAll(run.definition);
            failover.add(replicaName);
            String out = cli(run.work, "failover", 0, failover.toArray(String[]::new));
            System.out.println(out);
            JsonNode started = JSON.readTree(cli(run.work, "replicas", 0, "replicas", "--json", "--state",
                    run.standbyState.toString())).path("replicas").path(0).path("lastStart");
            assertTrue(started.path("passed").asBoolean(), started.toString());
            assertEquals(p5, started.path("point").asInt(), started.toString());
            Path serial = run.replicaDirectory(uuid).resolve("serial0.log");
            String console = Files.readString(serial, java.nio.charset.StandardCharsets.ISO_8859_1);
            assertTrue(console.contains("BdsDxe: starting Boot") && console.contains("\"debian\""),
                    "the replica's firmware started its debian entry: " + serial);
            GuestAgent replicaAgent = GuestAgent.of(lab.libvirt(), replicaName);
            assertEquals(secret, DebianGuest.tpmRead(replicaAgent), "the replica's TPM holds the primary's secret");
            PostgresWorkload.Consistency c = new PostgresWorkload(replicaAgent).consistency().check();
            assertTrue(c.rows() > atP3.rows(), "pgbench went on after point " + p3 + " until the shutdown: " + c.rows()
                    + " rows, " + atP3.rows() + " at that point");
            String pgLog = replicaAgent.sh("grep -h 'database system was' /var/log/postgresql/postgresql-15-main.log | tail -n 1");
            assertTrue(pgLog.contains("was shut down at") && !pgLog.contains("interrupted"),
                    "the replica's PostgreSQL starts from the primary's clean shutdown, with nothing to recover: " + pgLog);
            System.out.printf("Debian guest: clean shutdown, point %d byte for byte, failover: agent %.0f s after the "
                    + "start, %d pgbench rows (%d at point %d), PostgreSQL from its clean shutdown, sums agree, the "
                    + "TPM's secret kept%n", p5, started.path("agentSeconds").asDouble(), c.rows(), atP3.rows(), p3);
        } finally {
            if (vm != null) {
                vm.close();
            }
            if (replicaName != null) {
                ReplicationRun.undefine(lab, replicaName);
            }
        }
    }

    private static void awaitRows(PostgresWorkload pg, long rows) throws InterruptedException {
        for (int i = 0; i < 240; i++) {
            if (pg.historyRows() >= rows) {
                return;
            }
            Thread.sleep(500);
        }
        throw new AssertionError("pgbench did not reach " + rows + " rows in 2 minutes");
    }

    private static void awaitShutOff(LabDomain vm, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (!vm.isRunning()) {
                return;
            }
            Thread.sleep(1000);
        }
        throw new AssertionError(vm.name() + " did not shut down within " + timeout.toSeconds() + " s of virsh shutdown");
    }

    /**
     * Stops the guest agent's process with SIGSTOP (its channel stays open, nothing answers) for
     * {@link #AGENT_HANG}: systemd sends the signal a second after the command returns, and SIGCONT
     * at the end; should the agent still answer, its own child stops it (an exec whose status is
     * never asked for), and systemd's SIGCONT ends that hang all the same.
     */
    private static void hangAgent(LabDomain vm, GuestAgent agent) throws Exception {
        agent.sh("systemd-run --on-active=" + AGENT_HANG.toSeconds() + " --collect systemctl kill --signal=SIGCONT "
                + "qemu-guest-agent.service && systemd-run --on-active=1 --collect systemctl kill --signal=SIGSTOP "
                + "qemu-guest-agent.service");
        if (agentGoneWithin(agent, 40)) {
            return;
        }
        vm.libvirtDomain().qemuAgentCommand("{\"execute\":\"guest-exec\",\"arguments\":{\"path\":\"/bin/sh\","
                + "\"arg\":[\"-c\",\"sleep 1; kill -STOP $(pidof qemu-ga)\"]}}", 10, 0);
        if (!agentGoneWithin(agent, 40)) {
            throw new AssertionError("the guest agent still answers 40 s after SIGSTOP, twice");
        }
    }

    private static boolean agentGoneWithin(GuestAgent agent, int halfSeconds) throws InterruptedException {
        for (int i = 0; i < halfSeconds; i++) {
            if (!agent.ping()) {
                return true;
            }
            Thread.sleep(500);
        }
        return false;
    }
}
