package io.amirror.standby;

import com.fasterxml.jackson.databind.JsonNode;
import io.amirror.lab.DiskSpec;
import io.amirror.lab.DomainSpec;
import io.amirror.lab.GuestConsole;
import io.amirror.lab.Lab;
import io.amirror.lab.LabDomain;
import io.amirror.lab.RealVmTest;
import io.amirror.util.Exec;
import org.junit.jupiter.api.Test;
import org.libvirt.Domain;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.amirror.lab.Cli.cli;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Raw disks through the whole pipeline on the real lab: a guest with a qcow2 disk (vda, incremental
 * by its dirty bitmap), a raw file (vdb) and a block device (vdc, a loop device: this kernel has no
 * device-mapper) is replicated by the primary daemon to a standby process. The raw disks are read
 * whole at every point, bounded by the policy's read rate, and the refinement sends only the blocks
 * that differ: a 64 KiB write on the raw disk costs about 64 KiB. The replicas equal the primary's
 * disks at every point; a shut-off domain whose raw disks hold nothing new cuts no point, one whose
 * raw file was written on the host while it was off does; the failed-over replica boots on replica
 * images of all three and holds the data.
 */
@RealVmTest
class RawDisksRealVmTest {
    private static final long SIZE = 32L << 20;
    private static final long READ_RATE = 4L << 20; // the policy's fullReadRate below: a point reads for about 9 s

    @Test
    void rawFilesAndBlockDevicesReplicateByHashesAndFailOver(Lab lab) throws Exception {
        ReplicationRun run = ReplicationRun.open(lab, "rawdisks-");
        Path work = run.work;
        Path primaryState = run.primaryState;
        Path standbyState = run.standbyState;
        Path sockets = run.sockets;
        Path backing = work.resolve("block.img");
        try (RandomAccessFile f = new RandomAccessFile(backing.toFile(), "rw")) {
            f.setLength(SIZE);
        }
        Path loop = Path.of(Exec.run(Duration.ofSeconds(30), "losetup", "-f", "--show", backing.toString()).orThrow()
                .stdout().trim());
        LabDomain vm = null;
        String replicaName = null;
        try {
            run.startStandby();
            vm = lab.createDomain(new DomainSpec(256, List.of(DiskSpec.qcow2("vda", SIZE, DiskSpec.Content.BLANK),
                    new DiskSpec("vdb", SIZE, DiskSpec.Content.BLANK, "raw"), DiskSpec.block("vdc", loop, SIZE)), false))
                    .start();
            replicaName = vm.name() + "-replica";
            Map<String, Path> disks = new TreeMap<>(Map.of("vda", vm.image("vda"), "vdb", vm.image("vdb"), "vdc", loop));
            GuestConsole c = vm.console();
            Map<String, String> at4 = new TreeMap<>();
            for (String d : disks.keySet()) {
                at4.put(d, c.writeRandom(d, 4 * 16, 16)); // 1 MiB at MiB 4 of each disk
            }

            Files.writeString(run.policies.resolve("lab.json"), "{\"name\": \"lab\", \"domains\": {\"names\": [\""
                    + vm.name() + "\"]}, " + run.standbyMember() + ", \"rpo\": {\"interval\": \"1h\"}, "
                    + "\"fullReadRate\": \"4MiB/s\"}");
            run.startPrimary();
            int p1 = run.lastPointAfter(0, "first point", Duration.ofMinutes(3));
            assertReplicasEqual(lab, standbyState, vm, disks, "at the first point " + p1);
            Captured first = captured(work.resolve("primary.log"), vm.name(), p1);
            assertEquals(List.of("vdb", "vdc"), first.readWhole, "the raw file and the block device are read whole");

            // point 2: a MiB on each disk; the qcow2 disk is read by its bitmap, the raw ones whole
            for (String d : disks.keySet()) {
                c.writeRandom(d, 10 * 16, 16);
            }
            int p2 = run.sync(vm.name(), p1);
            assertReplicasEqual(lab, standbyState, vm, disks, "at point " + p2);

            // point 3: 64 KiB on the raw file only: the delta carries those, not the two raw disks it read
            // while it reads, status shows the capture's progress: bytes read of bytes to read, rate, ETA
            c.writeRandom("vdb", 20 * 16, 1);
            cli(work, "sync-progress", 0, "sync", "--state", primaryState.toString(), vm.name());
            JsonNode progress = null;
            String human = null;
            long deadline = System.currentTimeMillis() + 120_000;
            while (progress == null && System.currentTimeMillis() < deadline) {
                JsonNode d = run.status();
                JsonNode cap = d.path("capture");
                if (cap.isObject() && cap.path("bytesRead").asLong() > 0 && cap.path("etaSeconds").isIntegralNumber()) {
                    progress = cap;
                    human = cli(work, "status-human", -1, "status", "--state", primaryState.toString());
                } else if (d.path("lastPoint").asInt() > p2) {
                    break;
                } else {
                    Thread.sleep(200);
                }
            }
            System.out.println("status while capturing: " + progress + "\n" + human);
            assertTrue(progress != null, "no capture progress in status while the raw disks were read");
            assertEquals(3, progress.path("disksPlanned").asInt());
            assertTrue(progress.path("bytesToRead").asLong() >= SIZE && progress.path("bytesRead").asLong()
                    <= progress.path("bytesToRead").asLong(), progress.toString());
            assertEquals("[\"vdb\",\"vdc\"]", progress.path("readWhole").toString());
            assertTrue(progress.path("readBytesPerSecond").asDouble() <= READ_RATE * 1.5, "the bound holds: " + progress);
            assertTrue(human.contains("capturing [") && human.contains("read whole: vdb, vdc"), human);
            int p3 = run.lastPointAfter(p2, "point 3", Duration.ofMinutes(3));
            assertReplicasEqual(lab, standbyState, vm, disks, "at point " + p3);
            long delta = run.status().path("lastCycleDeltaBytes").asLong();
            Captured third = captured(work.resolve("primary.log"), vm.name(), p3);
            JsonNode st3 = run.status();
            assertEquals(third.bytesRead, st3.path("lastCycleBytesRead").asLong());
            assertEquals("[\"vdb\",\"vdc\"]", st3.path("lastCycleReadWhole").toString());
            System.out.printf("raw disks: point %d after a 64 KiB write on vdb: %d bytes read (whole: %s) in %.1f s of "
                    + "capture (%.1f MiB/s) at a bound of %d MiB/s, %d bytes of delta (disks of %d MiB)%n", p3,
                    third.bytesRead, third.readWhole, third.seconds, third.bytesRead / third.seconds / (1 << 20),
                    READ_RATE >> 20, delta, SIZE >> 20);
            assertEquals(List.of("vdb", "vdc"), third.readWhole);
            assertTrue(third.bytesRead >= SIZE, "the block device reads as data throughout: " + third.bytesRead);
            assertTrue(delta >= 60 * 1024 && delta < 256 * 1024, "about the 64 KiB written, not the disk: " + delta);
            assertTrue(third.seconds >= (double) third.bytesRead / READ_RATE * 0.9,
                    "the whole-disk reads keep to " + (READ_RATE >> 20) + " MiB/s: " + third.bytesRead + " bytes in "
                            + third.seconds + " s");

            // shut off: nothing new on any disk, the raw ones read and refined all the same: no point
            c.check("sync");
            vm.powerOff(Duration.ofMinutes(2));
            int p4 = run.sync(vm.name(), -1);
            assertEquals(p3, p4, "a shut-off domain whose disks all match the replica cuts no point");
            awaitLogLine(work.resolve("primary.log"), "nothing was written since");
            // written on the host while off, on the raw file alone (no bitmap could see it): the next cycle finds it
            byte[] host = new byte[4096];
            new Random(7).nextBytes(host);
            try (RandomAccessFile f = new RandomAccessFile(vm.image("vdb").toFile(), "rw")) {
                f.seek(25L << 20);
                f.write(host);
            }
            int p5 = run.sync(vm.name(), p3);
            JsonNode st = run.status();
            assertEquals("SHUT_OFF", st.path("consistency").asText());
            assertTrue(st.path("lastCycleDeltaBytes").asLong() < 64 * 1024, "one 4 KiB block: " + st);
            assertReplicasEqual(lab, standbyState, vm, disks, "at the shut-off point " + p5);

            // failover: the replica domain runs on replica images of all three disks and holds their data
            run.killPrimary();
            List<String> failover = new java.util.ArrayList<>(List.of("failover", "--state", standbyState.toString()));
            failover.addAll(run.definition);
            failover.add(replicaName);
            Domain replica = run.awaitDefined(replicaName);
            String replicaXml = replica.getXMLDesc(0);
            for (String d : disks.keySet()) {
                assertTrue(replicaXml.contains(standbyState.resolve("replicas").resolve(vm.libvirtDomain().getUUIDString())
                        .resolve(d).resolve("replica.qcow2").toString()), d + " on its replica image: " + replicaXml);
            }
            assertTrue(!replicaXml.contains("type='block'") && !replicaXml.contains(loop.toString()), replicaXml);
            cli(work, "failover", 0, failover.toArray(String[]::new));
            GuestConsole rc = GuestConsole.connect(replicaName, ReplicationRun.consoleSocket(sockets, replicaXml), Duration.ofSeconds(30));
            try {
                rc.awaitReady(lab.options().bootTimeout());
                for (String d : disks.keySet()) {
                    assertEquals(at4.get(d), rc.md5(d, 4 * 16, 16), "data of the first point on " + d);
                }
                String onHost = rc.check("dd if=/dev/vdb bs=4k skip=" + (25 * 256) + " count=1 2>/dev/null | md5sum")
                        .trim().split("\\s+")[0];
                assertEquals(md5(host), onHost, "the block written on the host while the domain was off");
            } finally {
                rc.close();
            }
        } finally {
            if (vm != null) {
                vm.close();
            }
            if (replicaName != null) {
                ReplicationRun.undefine(lab, replicaName);
            }
            run.close();
            Exec.run(Duration.ofSeconds(30), "losetup", "-d", loop.toString());
        }
    }

    /** What the daemon's log says it read for a point. */
    private record Captured(long bytesRead, List<String> readWhole, double seconds) {
    }

    private static Captured captured(Path log, String domain, int point) throws Exception {
        Matcher m = Pattern.compile(Pattern.quote(domain) + ": point " + point + " captured \\(([0-9]+) bytes read"
                + "(?:, read whole: \\[([^]]*)])?.*?, ([0-9.]+) s\\)").matcher(Files.readString(log));
        assertTrue(m.find(), "no capture line for point " + point + " in " + log);
        return new Captured(Long.parseLong(m.group(1)), m.group(2) == null ? List.of() : List.of(m.group(2).split(", ")),
                Double.parseDouble(m.group(3)));
    }


    private static String md5(byte[] b) throws Exception {
        return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("MD5").digest(b));
    }

    private static void assertReplicasEqual(Lab lab, Path standbyState, LabDomain vm, Map<String, Path> disks, String when)
            throws Exception {
        for (var d : disks.entrySet()) {
            Path replica = standbyState.resolve("replicas").resolve(vm.libvirtDomain().getUUIDString()).resolve(d.getKey())
                    .resolve("replica.qcow2");
            String format = d.getKey().equals("vda") ? "qcow2" : "raw";
            Exec.Result r = Exec.run(Duration.ofMinutes(2), lab.host().tool("qemu-img").toString(), "compare", "-U",
                    "-f", "qcow2", "-F", format, replica.toString(), d.getValue().toString());
            assertEquals(0, r.exitCode(), d.getKey() + " replica differs " + when + ": " + r.stdout() + r.stderr());
        }
    }

    private static void awaitLogLine(Path log, String text) throws Exception {
        for (int i = 0; i < 100; i++) {
            if (Files.readString(log).contains(text)) {
                return;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("no '" + text + "' in " + log);
    }
}
