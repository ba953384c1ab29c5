package io.amirror.standby;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.lab.DebianGuest;
import io.amirror.lab.GuestAgent;
import io.amirror.lab.Lab;
import io.amirror.lab.LabDomain;
import io.amirror.lab.PostgresWorkload;
import io.amirror.lab.RealVmTest;
import io.amirror.util.Exec;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import static io.amirror.lab.Cli.cli;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
 *   <li>with the agent gone the point is CRASH, and the primary dies right after it, mid-pgbench;</li>
 *   <li>the replica boots through its own NVRAM's {@code debian} entry (the image has no fallback
 *       loader, so a replica without it stops in the UEFI shell), its agent answers, the boot check
 *       {@code pg_isready} passes, PostgreSQL's recovery keeps every transaction committed before the
 *       last cut with the pgbench sums in agreement, and its TPM holds the secret (a fresh TPM would
 *       not: a BitLocker guest would ask for its recovery key).</li>
 * </ul>
 * One boot of the primary and one of the replica: the clean-shutdown point's byte-for-byte check is
 * the busybox guests' business ({@code FailoverRealVmTest}), the same code path on another bus.
 */
@RealVmTest
class RealGuestFailoverRealVmTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration BOOT = Duration.ofMinutes(6);

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

            // pgbench committing, the agent gone: the cut is crash-consistent
            pg.startFor("lab-pgbench", 900);
            awaitRows(pg, pg.historyRows() + 50);
            long committedBeforeCut = pg.historyRows();
            GuestAgent agent = vm.agent();
            agent.sh("systemd-run --on-active=1 --collect systemctl stop qemu-guest-agent");
            awaitAgentGone(agent);
            int p3 = run.sync(vm.name(), p2);
            JsonNode st3 = run.status();
            assertEquals("CRASH", st3.path("consistency").asText(), st3.toString());
            // the primary host dies with pgbench still committing
            run.killPrimary();
            vm.destroy();

            // failover: the replica boots through its NVRAM's entry and its boot check passes
            List<String> failover = new ArrayList<>(List.of("failover", "--state", run.standbyState.toString()));
            failover.addAll(run.definition);
            failover.add(replicaName);
            String out = cli(run.work, "failover", 0, failover.toArray(String[]::new));
            System.out.println(out);
            JsonNode started = JSON.readTree(cli(run.work, "replicas", 0, "replicas", "--json", "--state",
                    run.standbyState.toString())).path("replicas").path(0).path("lastStart");
            assertTrue(started.path("passed").asBoolean(), started.toString());
            assertEquals(p3, started.path("point").asInt(), started.toString());
            Path serial = run.replicaDirectory(uuid).resolve("serial0.log");
            String console = Files.readString(serial, java.nio.charset.StandardCharsets.ISO_8859_1);
            assertTrue(console.contains("BdsDxe: starting Boot") && console.contains("\"debian\""),
                    "the replica's firmware started its debian entry: " + serial);
            GuestAgent replicaAgent = GuestAgent.of(lab.libvirt(), replicaName);
            assertEquals(secret, DebianGuest.tpmRead(replicaAgent), "the replica's TPM holds the primary's secret");
            PostgresWorkload replicaDb = new PostgresWorkload(replicaAgent);
            PostgresWorkload.Consistency c = replicaDb.consistency().check();
            assertTrue(c.rows() >= committedBeforeCut, "the replica keeps every transaction committed before the "
                    + "last cut: " + c.rows() + " rows, " + committedBeforeCut + " committed before it");
            System.out.printf("Debian guest: failover to point %d: agent %.0f s after the start, %d pgbench rows "
                    + "(%d committed before the cut), sums agree, the TPM's secret kept%n", p3, started.path("agentSeconds").asDouble(),
                    c.rows(), committedBeforeCut);
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

    private static void awaitAgentGone(GuestAgent agent) throws InterruptedException {
        for (int i = 0; i < 60; i++) {
            if (!agent.ping()) {
                return;
            }
            Thread.sleep(500);
        }
        throw new AssertionError("the guest agent still answers 30 s after it was stopped");
    }
}
