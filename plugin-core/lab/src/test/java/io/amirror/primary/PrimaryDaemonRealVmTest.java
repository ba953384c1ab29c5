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
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;

import static io.amirror.lab.Cli.cli;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
                    + "\"quiesce\": true, \"compression\": \"auto\", \"verify\": {\"every\": \"10s\"}");
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

                // the scheduled verify finds a corrupted block by itself, and the cycle after it repairs it
                Exec.run(Duration.ofMinutes(1), "qemu-io", "-f", "qcow2", "-c", "write -P 0x6b 20975616 4096",
                        replica.toString()).orThrow();
                String found = awaitLastVerify(sites, "DIFFERS", 90);
                assertTrue(found.contains("vda 1 of 64 groups"), found);
                String healed = awaitLastVerify(sites, "identical", 90);
                assertTrue(healed.compareTo(found) > 0, healed + " after " + found);
            } finally {
                daemon.kill9();
            }
        }
    }

    /**
     * Issue 11's offline seeding: the first point goes to "removable media", the standby imports it,
     * and the link carries only what changed since the export; until the import, nothing of the
     * seeded point crosses the link.
     */
    @Test
    void aSeedOnRemovableMediaFillsTheStandbyAndTheLinkCarriesOnlyWhatChangedSince(Lab lab, @TempDir Path work)
            throws Exception {
        Sites sites = Sites.create(lab, work);
        try (LabDomain vm = lab.createDomain(DomainSpec.oneDisk(64L << 20, DiskSpec.Content.BLANK)).start();
             AmirrorProcess standby = sites.startStandby()) {
            GuestConsole c = vm.console();
            c.check("dd if=/dev/urandom of=/dev/vda bs=64k seek=16 count=128 conv=fsync 2>/dev/null"); // 8 MiB
            Path media = work.resolve("usb-disk");
            String exported = cli(work, "seed-export", 0, "seed", "export", "--state", sites.primaryState().toString(),
                    "--scratch", lab.options().workDir().resolve("jobs").toString(), "--libvirt",
                    lab.options().libvirtUri(), "--preset", "1", vm.name(), media.toString());
            assertTrue(exported.contains("vda: point 1"), exported);
            long seedBytes = Files.size(media.resolve("vda.delta"));
            c.check("dd if=/dev/urandom of=/dev/vda bs=64k seek=400 count=16 conv=fsync 2>/dev/null"); // 1 MiB since

            sites.policy(vm, "\"rpo\": {\"interval\": \"1h\"}, \"compression\": \"1\"");
            AmirrorProcess daemon = sites.startDaemon("primary.log");
            try {
                String waiting = cli(work, "sync-before-import", -1, "sync", "--state", sites.primaryState().toString(),
                        vm.name(), "--wait");
                assertTrue(waiting.contains("seed import"), waiting);
                assertFalse(standby.output().contains("received"), "nothing of the seeded point crossed the link");

                // a damaged copy is refused and changes nothing; the good one is applied
                Path damaged = work.resolve("damaged");
                Files.createDirectories(damaged);
                try (var files = Files.list(media)) {
                    for (Path f : files.toList()) {
                        Files.copy(f, damaged.resolve(f.getFileName()));
                    }
                }
                try (var ch = FileChannel.open(damaged.resolve("vda.delta"),
                        StandardOpenOption.WRITE)) {
                    ch.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), seedBytes / 2);
                }
                String refused = cli(work, "seed-import-damaged", 1, "seed", "import", "--state",
                        sites.standbyState().toString(), damaged.toString());
                assertTrue(refused.contains("damaged"), refused);
                assertFalse(Files.exists(sites.standbyState().resolve("replicas").resolve(
                        vm.libvirtDomain().getUUIDString()).resolve("vda").resolve("replica.qcow2")));
                String imported = cli(work, "seed-import", 0, "seed", "import", "--state", sites.standbyState().toString(),
                        media.toString());
                assertTrue(imported.contains("vda: at point 1"), imported);

                int point = sites.syncPausedAndCompare(vm, "sync-after-import");
                assertEquals(2, point);
                JsonNode d = sites.status("status-seed").path("domains").get(0);
                long delta = d.path("lastCycleDeltaBytes").asLong();
                System.out.printf("seed on media: %d bytes for 8 MiB on the disk; first point over the link: %d bytes "
                        + "of delta for the 1 MiB written since the export%n", seedBytes, delta);
                assertTrue(delta > 1 << 20 && delta < (1 << 20) + (64 << 10), "about the 1 MiB since the export: " + delta);
                String standbyLog = standby.output();
                assertFalse(standbyLog.contains("->1 in"), "point 1 never crossed the link: " + standbyLog);
                assertTrue(standbyLog.contains("1->2"), standbyLog);
            } finally {
                daemon.kill9();
            }
        }
    }

    /**
     * Issue 11: the ways a chain meets trouble besides a crash. The disk grows (virsh blockresize), the
     * domain is undefined and defined again without its checkpoint metadata, and the image is restored
     * from an older copy. Each time the replica ends equal to the disk, and the link carries about
     * what really differs, never the disk.
     */
    @Test
    void resizeRedefineAndARestoredImageCostAboutTheirDifferences(Lab lab, @TempDir Path work) throws Exception {
        Sites sites = Sites.create(lab, work);
        try (LabDomain vm = lab.createDomain(DomainSpec.oneDisk(64L << 20, DiskSpec.Content.BLANK)).start();
             AmirrorProcess standby = sites.startStandby()) {
            sites.policy(vm, "\"rpo\": {\"interval\": \"1h\"}, \"compression\": \"1\"");
            AmirrorProcess daemon = sites.startDaemon("primary.log");
            try {
                GuestConsole c = vm.console();
                c.check("dd if=/dev/urandom of=/dev/vda bs=64k seek=16 count=64 conv=fsync 2>/dev/null"); // 4 MiB
                sites.syncPausedAndCompare(vm, "sync-1");

                // issue 12: the guest copies 256 KiB inside its disk, while a source block rotted on the
                // standby: the COPY is refused as STALE, and the next cycle sends that block as data
                Path replica = sites.standbyState().resolve("replicas").resolve(vm.libvirtDomain().getUUIDString())
                        .resolve("vda").resolve("replica.qcow2");
                lab.qemuImg().rot(replica, (1 << 20) + 8192 + 7);
                c.check("dd if=/dev/vda of=/dev/vda bs=4k skip=256 seek=3000 count=64 conv=fsync 2>/dev/null");
                String stale = cli(work, "sync-stale", -1, "sync", "--state", sites.primaryState().toString(), vm.name(),
                        "--wait");
                assertTrue(stale.contains("drifted"), stale);
                sites.syncPausedAndCompare(vm, "sync-after-stale");
                JsonNode repaired = sites.status("status-stale").path("domains").get(0);
                long copied = repaired.path("lastCycleDeltaBytes").asLong();
                System.out.printf("COPY with a rotted source: repaired by a delta of %d bytes (256 KiB copied inside "
                        + "the guest, one source block rotted)%n", copied);
                assertTrue(copied < 64 << 10, "the copy still goes as COPY frames, the rotted block as data: " + copied);
                assertTrue(repaired.path("lastRepair").asText().contains("drifted"), repaired.toString());

                // the disk grows by 32 MiB and the guest writes 1 MiB into the new part
                vm.libvirtDomain().blockResize("vda", 96L << 20, 1 /* VIR_DOMAIN_BLOCK_RESIZE_BYTES */);
                c.check("for i in 1 2 3 4 5 6 7 8 9 10; do [ $(cat /sys/block/vda/size) -eq 196608 ] && break; sleep 1; done; "
                        + "dd if=/dev/urandom of=/dev/vda bs=64k seek=1280 count=16 conv=fsync 2>/dev/null");
                sites.syncPausedAndCompare(vm, "sync-resized");
                long resized = lastDelta(sites, "status-resized");

                // undefined and defined again, its checkpoints forgotten by libvirt: 512 KiB written since
                vm.redefine(true);
                c.check("dd if=/dev/urandom of=/dev/vda bs=64k seek=200 count=8 conv=fsync 2>/dev/null");
                sites.syncPausedAndCompare(vm, "sync-redefined");
                long redefined = lastDelta(sites, "status-redefined");

                // the image is restored from a copy made before 2 MiB were written over again
                c.check("dd if=/dev/urandom of=/dev/vda bs=64k seek=600 count=32 conv=fsync 2>/dev/null");
                vm.powerOff(Duration.ofSeconds(60));
                Path copy = work.resolve("backup.qcow2");
                Files.copy(vm.image("vda"), copy);
                vm.start();
                c = vm.console();
                c.check("dd if=/dev/urandom of=/dev/vda bs=64k seek=600 count=32 conv=fsync 2>/dev/null"); // 2 MiB
                sites.syncPausedAndCompare(vm, "sync-before-restore");
                vm.powerOff(Duration.ofSeconds(60));
                Files.copy(copy, vm.image("vda"), StandardCopyOption.REPLACE_EXISTING);
                vm.start();
                sites.syncPausedAndCompare(vm, "sync-restored");
                JsonNode after = sites.status("status-restored").path("domains").get(0);
                long restored = after.path("lastCycleDeltaBytes").asLong();
                System.out.printf("chain trouble: resize +32 MiB with 1 MiB written: %d bytes of delta; redefined "
                        + "without metadata, 512 KiB written: %d; image restored, 2 MiB reverted: %d (%s)%n",
                        resized, redefined, restored, after.path("lastRepair").asText());
                assertTrue(resized > 1 << 20 && resized < (1 << 20) + (64 << 10), "resize: " + resized);
                assertTrue(redefined > 512 << 10 && redefined < (512 << 10) + (64 << 10), "redefine: " + redefined);
                assertTrue(restored > 2 << 20 && restored < (2 << 20) + (64 << 10), "restore: " + restored);
                assertTrue(after.path("lastRepair").isTextual(), "the restore broke the chain and was repaired: " + after);
            } finally {
                daemon.kill9();
            }
        }
    }

    private static long lastDelta(Sites sites, String name) throws Exception {
        return sites.status(name).path("domains").get(0).path("lastCycleDeltaBytes").asLong();
    }

    /** Waits until status' lastVerify of the only domain contains {@code text}; returns it. */
    private static String awaitLastVerify(Sites sites, String text, int seconds) throws Exception {
        long deadline = System.currentTimeMillis() + seconds * 1000L;
        String last = null;
        while (System.currentTimeMillis() < deadline) {
            last = sites.status("status-verify").path("domains").get(0).path("lastVerify").asText(null);
            if (last != null && last.contains(text)) {
                return last;
            }
            Thread.sleep(2_000);
        }
        throw new AssertionError("no scheduled verify said '" + text + "' in " + seconds + " s; last: " + last);
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
