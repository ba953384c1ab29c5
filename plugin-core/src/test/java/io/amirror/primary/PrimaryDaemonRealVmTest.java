package io.amirror.primary;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.config.SchemaCheck;
import io.amirror.control.ControlClient;
import io.amirror.lab.AmirrorProcess;
import io.amirror.lab.DiskSpec;
import io.amirror.lab.DomainSpec;
import io.amirror.lab.GuestConsole;
import io.amirror.lab.Lab;
import io.amirror.lab.LabDomain;
import io.amirror.lab.RealVmTest;
import io.amirror.transport.Identity;
import io.amirror.util.Exec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static io.amirror.lab.Cli.cli;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * End to end: a standby process, the primary daemon as its own process with a policy, the lab
 * guest writing; the CLI (as processes) asks for cycles and reads status and metrics; the replica
 * equals the guest's disk at every point; the daemon keeps its schedule, reloads policies, and
 * after kill -9 resumes where it stopped.
 */
@RealVmTest
class PrimaryDaemonRealVmTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The two hosts' state directories and identities, the policy directory, and the standby's port. */
    private record Sites(Lab lab, Path work, Path primaryState, Path standbyState, Path policies, Identity primaryId,
                         Identity standbyId, int port) {

        static Sites create(Lab lab, Path work) throws Exception {
            Path primaryState = work.resolve("primary");
            Path standbyState = work.resolve("standby");
            try (ServerSocket s = new ServerSocket(0)) {
                return new Sites(lab, work, primaryState, standbyState, Files.createDirectories(work.resolve("policies.d")),
                        Identity.loadOrCreate(primaryState, "primary"), Identity.loadOrCreate(standbyState, "standby"),
                        s.getLocalPort());
            }
        }

        AmirrorProcess startStandby() throws Exception {
            return AmirrorProcess.start(null, work.resolve("standby.log"), "standby", "--state", standbyState.toString(),
                    "--listen", "127.0.0.1:" + port, "--peer", primaryId.fingerprint()).awaitLog("standby listening", 60_000);
        }

        /** Writes policy {@code lab} for {@code vm} to this standby; {@code more} are further JSON members. */
        void policy(LabDomain vm, String more) throws Exception {
            Files.writeString(policies.resolve("lab.json"), "{\"name\": \"lab\", \"domains\": {\"names\": [\""
                    + vm.name() + "\"]}, \"standby\": {\"address\": \"127.0.0.1:" + port + "\", \"fingerprint\": \""
                    + standbyId.fingerprint() + "\"}, " + more + "}");
        }

        AmirrorProcess startDaemon(String log) throws Exception {
            return AmirrorProcess.start(null, work.resolve(log), "primary", "--state", primaryState.toString(),
                    "--policies", policies.toString(), "--control", "127.0.0.1:0", "--scratch",
                    lab.options().workDir().resolve("jobs").toString(), "--libvirt", lab.options().libvirtUri())
                    .awaitLog("primary running", 60_000);
        }

        /**
         * Pauses the guest (its disk holds still, so the point equals it), has the CLI run a cycle
         * and wait for it, checks the replica byte for byte against the disk, resumes the guest;
         * returns the point the standby holds.
         */
        int syncPausedAndCompare(LabDomain vm, String name) throws Exception {
            vm.libvirtDomain().suspend();
            try {
                String out = cli(work, name, 0, "sync", "--state", primaryState.toString(), vm.name(), "--wait");
                assertTrue(out.contains("standby holds point"), out);
                int point = Integer.parseInt(out.replaceAll("(?s).*standby holds point (\\d+).*", "$1"));
                Path replica = standbyState.resolve("replicas").resolve(vm.libvirtDomain().getUUIDString())
                        .resolve("vda").resolve("replica.qcow2");
                assertEquals(0, Exec.run(Duration.ofMinutes(2), lab.host().tool("qemu-img").toString(), "compare", "-U",
                        replica.toString(), vm.image("vda").toString()).exitCode(),
                        "replica differs from the guest's disk at point " + point + " (" + name + ")");
                return point;
            } finally {
                vm.libvirtDomain().resume();
            }
        }

        JsonNode status(String name) throws Exception {
            return JSON.readTree(cli(work, name, 0, "status", "--json", "--state", primaryState.toString()));
        }
    }

    @Test
    void daemonReplicatesOnScheduleAndTheCliDrivesIt(Lab lab, @TempDir Path work) throws Exception {
        Sites sites = Sites.create(lab, work);
        try (LabDomain vm = lab.createDomain(DomainSpec.oneDisk(64L << 20, DiskSpec.Content.BLANK)).start();
             AmirrorProcess standby = sites.startStandby()) {
            sites.policy(vm, "\"rpo\": {\"interval\": \"15s\"}, \"bandwidth\": {\"limit\": \"20mbit\"}, "
                    + "\"quiesce\": true, \"compression\": \"auto\"");
            AmirrorProcess daemon = sites.startDaemon("primary.log");
            try {
                GuestConsole c = vm.console();
                int lastPoint = 0;
                for (int round = 1; round <= 2; round++) {
                    c.check("dd if=/dev/urandom of=/dev/vda bs=64k seek=" + (round * 37) + " count=" + (8 * round)
                            + " conv=fsync 2>/dev/null");
                    int point = sites.syncPausedAndCompare(vm, "sync-" + round);
                    assertTrue(point > lastPoint, "point " + point + " after " + lastPoint);
                    lastPoint = point;
                }

                // status --json: valid against its schema, and the domain on schedule
                JsonNode status = sites.status("status");
                assertEquals(List.of(), SchemaCheck.named(SchemaCheck.STATUS).check(status, "status"));
                JsonNode d = status.path("domains").get(0);
                assertEquals(vm.name(), d.path("domain").asText());
                assertEquals("ok", d.path("rpoState").asText());
                assertEquals(15, d.path("rpoTargetSeconds").asInt());
                assertEquals("CRASH", d.path("consistency").asText(), "no guest agent in the lab guest: crash-consistent");
                long cycles = d.path("cycles").asLong();
                Thread.sleep(20_000); // one scheduled cycle at least, nobody asking
                JsonNode later = sites.status("status2").path("domains").get(0);
                assertTrue(later.path("cycles").asLong() > cycles, "no scheduled cycle in 20 s: " + later);
                assertTrue(later.path("lastPoint").asInt() > lastPoint, later.toString());
                assertTrue(Files.readString(work.resolve("primary.log")).contains("crash-consistent"),
                        "the missing agent must be reported");

                // metrics
                String metrics = ControlClient.forState(sites.primaryState()).metrics();
                assertTrue(metrics.contains("amirror_rpo_seconds{domain=\"" + vm.name() + "\",policy=\"lab\"}"), metrics);
                assertTrue(metrics.contains("amirror_cycles_total"), metrics);

                // a broken policy file is reported by status (exit 5) and the good one keeps working
                Path broken = sites.policies().resolve("broken.json");
                Files.writeString(broken, "{\"name\": \"broken\",");
                Thread.sleep(3_000);
                String human = cli(work, "status3", 5, "status", "--state", sites.primaryState().toString());
                assertTrue(human.contains("broken.json"), human);
                Files.delete(broken);

                // kill -9 and restart: the daemon resumes from its state directory
                int before = JSON.readTree(cli(work, "status4", -1, "status", "--json", "--state",
                        sites.primaryState().toString())).path("domains").get(0).path("lastPoint").asInt();
                daemon.kill9();
                daemon = sites.startDaemon("primary2.log");
                c.check("dd if=/dev/urandom of=/dev/vda bs=64k seek=300 count=4 conv=fsync 2>/dev/null");
                int point = sites.syncPausedAndCompare(vm, "sync-after-restart");
                assertTrue(point > before, "point " + point + " after " + before);
                // a domain no policy covers
                cli(work, "sync-unknown", 1, "sync", "--state", sites.primaryState().toString(), "no such domain");

                // verify: identical after the sync; one flipped block on the standby is found, to its MiB
                String ok = cli(work, "verify", 0, "verify", "--state", sites.primaryState().toString(), vm.name());
                assertTrue(ok.contains("replica identical") && ok.contains("vda: 64 of 64 groups of 1.05 MB identical"), ok);
                Path replica = sites.standbyState().resolve("replicas").resolve(vm.libvirtDomain().getUUIDString())
                        .resolve("vda").resolve("replica.qcow2");
                Exec.run(Duration.ofMinutes(1), "qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 5246976 4096",
                        replica.toString()).orThrow();
                String bad = cli(work, "verify-bad", 5, "verify", "--state", sites.primaryState().toString(), vm.name());
                assertTrue(bad.contains("DIFFERS: bytes 5242880 to 6291456") && bad.contains("63 of 64 groups"), bad);
                // the next cycle sends that group again: the replica equals the disk, and verify agrees
                sites.syncPausedAndCompare(vm, "sync-repair");
                String again = cli(work, "verify-again", 0, "verify", "--state", sites.primaryState().toString(), vm.name());
                assertTrue(again.contains("replica identical"), again);
            } finally {
                daemon.kill9();
            }
        }
    }

    /**
     * QEMU dies with the disk open (a host crash, an OOM kill): its dirty bitmap is left
     * inconsistent and the chain is broken. The daemon starts a new chain by itself and repairs the
     * replica by hashes: it sends about what changed, not the disk, and says so in status.
     */
    @Test
    void aCrashedQemuBreaksTheChainAndTheDaemonRepairsTheReplicaByHashes(Lab lab, @TempDir Path work) throws Exception {
        Sites sites = Sites.create(lab, work);
        try (LabDomain vm = lab.createDomain(DomainSpec.oneDisk(64L << 20, DiskSpec.Content.BLANK)).start();
             AmirrorProcess standby = sites.startStandby()) {
            vm.console().check("dd if=/dev/urandom of=/dev/vda bs=1M count=8 conv=fsync 2>/dev/null", Duration.ofMinutes(2));
            sites.policy(vm, "\"rpo\": {\"interval\": \"1h\"}");
            AmirrorProcess daemon = sites.startDaemon("primary.log");
            try {
                int before = sites.syncPausedAndCompare(vm, "sync");
                vm.console().check("dd if=/dev/urandom of=/dev/vda bs=64k seek=300 count=16 conv=fsync 2>/dev/null");
                vm.killQemu();
                vm.start();
                vm.console().check("dd if=/dev/urandom of=/dev/vda bs=64k seek=600 count=16 conv=fsync 2>/dev/null");
                int after = sites.syncPausedAndCompare(vm, "sync-after-crash"); // compares the replica with the disk
                assertTrue(after > before, after + " after " + before);
                JsonNode d = sites.status("status").path("domains").get(0);
                String repair = d.path("lastRepair").asText();
                assertTrue(repair.contains("chain broken") && (repair.contains("inconsistent") || repair.contains("missing")), d.toString());
                long sent = d.path("lastCycleDeltaBytes").asLong();
                System.out.printf("repair after a QEMU crash: %d bytes of delta (8 MiB of data on the disk, 2 MiB changed)%n", sent);
                assertTrue(sent < (3 << 20), "the repair should send about the 2 MiB that changed, not the 10 MiB: " + sent);
            } finally {
                daemon.kill9();
            }
        }
    }

    /**
     * kill -9 of the daemon in the middle of a capture leaves libvirt's backup job running, with its
     * NBD client gone; the restarted daemon must clear that and replicate, and the guest live on.
     */
    @Test
    void killDuringCaptureThenRestart(Lab lab, @TempDir Path work) throws Exception {
        Sites sites = Sites.create(lab, work);
        try (LabDomain vm = lab.createDomain(DomainSpec.oneDisk(192L << 20, DiskSpec.Content.BLANK)).start();
             AmirrorProcess standby = sites.startStandby()) {
            // random data compresses slowly at 9e: the capture lasts long enough to be cut
            vm.console().check("dd if=/dev/urandom of=/dev/vda bs=1M count=96 conv=fsync 2>/dev/null", Duration.ofMinutes(5));
            sites.policy(vm, "\"rpo\": {\"interval\": \"1h\"}, \"compression\": \"9e\"");
            AmirrorProcess daemon = sites.startDaemon("primary.log");
            long deadline = System.currentTimeMillis() + 60_000;
            String phase = "";
            while (System.currentTimeMillis() < deadline && !phase.equals("capturing")) {
                Thread.sleep(200);
                phase = ControlClient.forState(sites.primaryState()).status().body().path("domains").path(0)
                        .path("phase").asText();
            }
            assertEquals("capturing", phase, "the first cycle should be capturing");
            Thread.sleep(3_000); // well inside the capture: the NBD reads are in flight
            daemon.kill9();
            Thread.sleep(1_000);
            assertEquals(1, vm.libvirtDomain().isActive(), "the guest died with the daemon");
            daemon = sites.startDaemon("primary2.log");
            try {
                sites.syncPausedAndCompare(vm, "sync");
                assertEquals(1, vm.libvirtDomain().isActive());
                assertTrue(Files.readString(work.resolve("primary2.log")).contains("ending the backup job of " + vm.name()
                        + " left by amirror process"), "the cut capture's job should have been found and ended");
            } finally {
                daemon.kill9();
            }
        }
    }
}
