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

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.amirror.lab.Cli.cli;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One guest with a qcow2 disk on each bus a real domain uses: virtio-blk ({@code vda}), SCSI on a
 * virtio-scsi controller ({@code sda}), SATA on AHCI ({@code sdb}) and IDE on the {@code pc}
 * machine's PIIX controller ({@code hda}), the guest writing all four through its own drivers. Every
 * point cuts the four at one instant (one checkpoint) and reads each by its dirty bitmap, whatever
 * its bus; the replicas equal the primary's disks; the failed-over replica keeps every disk on its
 * bus and target, and its guest finds the data on each.
 */
@RealVmTest
class DiskBusesRealVmTest {
    private static final long MIB = 1L << 20;

    /** Each disk a different size: the guest names disks off virtio in probe order, so it finds them by size. */
    private static final List<DiskSpec> DISKS = List.of(
            DiskSpec.qcow2("vda", 24 * MIB, DiskSpec.Content.BLANK),
            DiskSpec.qcow2("vda", 25 * MIB, DiskSpec.Content.BLANK).on("scsi", "sda"),
            DiskSpec.qcow2("vda", 26 * MIB, DiskSpec.Content.BLANK).on("sata", "sdb"),
            DiskSpec.qcow2("vda", 27 * MIB, DiskSpec.Content.BLANK).on("ide", "hda"));

    @Test
    void disksOnVirtioScsiSataAndIdeAreCutTogetherAndBootOnTheirBuses(Lab lab) throws Exception {
        LabDomain vm = null;
        String replicaName = null;
        try (ReplicationRun run = ReplicationRun.open(lab, "buses-")) {
            run.startStandby();
            vm = lab.createDomain(new DomainSpec(256, DISKS, false)).start();
            replicaName = vm.name() + "-replica";
            String uuid = vm.libvirtDomain().getUUIDString();
            GuestConsole c = vm.console();
            Map<String, String> inGuest = guestNames(c);
            Map<String, String> at2 = new LinkedHashMap<>();
            for (var d : inGuest.entrySet()) {
                at2.put(d.getKey(), c.writeRandom(d.getValue(), 2 * 16, 16)); // 1 MiB at MiB 2 of each disk
            }

            Files.writeString(run.policies.resolve("buses.json"), "{\"name\": \"buses\", \"domains\": "
                    + "{\"names\": [\"" + vm.name() + "\"]}, " + run.standbyMember() + ", \"rpo\": {\"interval\": \"1h\"}}");
            run.startPrimary();
            int p1 = run.lastPointAfter(0, "first point", Duration.ofMinutes(3));
            assertReplicasEqual(lab, run, uuid, vm, "at the first point " + p1);

            // one point: 256 KiB on each disk, all four cut together and read by their bitmaps
            Map<String, String> at8 = new LinkedHashMap<>();
            for (var d : inGuest.entrySet()) {
                at8.put(d.getKey(), c.writeRandom(d.getValue(), 8 * 16, 4));
            }
            int p2 = run.sync(vm.name(), p1);
            JsonNode st = run.status();
            assertReplicasEqual(lab, run, uuid, vm, "at point " + p2);
            long read = st.path("lastCycleBytesRead").asLong();
            assertTrue(read >= 4 * 256 * 1024 && read < 4 * MIB, "each disk read by its dirty bitmap (4 x 256 KiB "
                    + "written), not whole: " + st);
            JsonNode readWhole = st.path("lastCycleReadWhole");
            assertTrue(readWhole.isMissingNode() || readWhole.isNull() || readWhole.isEmpty(), "no disk read whole: " + st);
            System.out.printf("disk buses: point %d after 256 KiB on each of virtio, scsi, sata and ide: %d bytes read, "
                    + "%d bytes of delta%n", p2, read, st.path("lastCycleDeltaBytes").asLong());

            // the primary dies; the replica runs with each disk on its bus and holds both points' data
            run.killPrimary();
            vm.destroy();
            Domain replica = run.awaitDefined(replicaName);
            String replicaXml = replica.getXMLDesc(0);
            for (DiskSpec d : DISKS) {
                assertTrue(replicaXml.matches("(?s).*<target dev='" + d.target() + "' bus='" + d.bus() + "'/>.*"),
                        d.target() + " on " + d.bus() + " in the replica: " + replicaXml);
            }
            List<String> failover = new ArrayList<>(List.of("failover", "--state", run.standbyState.toString()));
            failover.addAll(run.definition);
            failover.add(replicaName);
            cli(run.work, "failover", 0, failover.toArray(String[]::new));
            try (GuestConsole rc = GuestConsole.connect(replicaName, ReplicationRun.consoleSocket(run.sockets, replicaXml),
                    Duration.ofSeconds(30))) {
                rc.awaitReady(lab.options().bootTimeout());
                Map<String, String> inReplica = guestNames(rc);
                for (String target : inReplica.keySet()) {
                    assertEquals(at2.get(target), rc.md5(inReplica.get(target), 2 * 16, 16), "first point's data on " + target);
                    assertEquals(at8.get(target), rc.md5(inReplica.get(target), 8 * 16, 4), "second point's data on " + target);
                }
            }
        } finally {
            if (vm != null) {
                vm.close();
            }
            if (replicaName != null) {
                ReplicationRun.undefine(lab, replicaName);
            }
        }
    }

    /** Libvirt's target of each disk to the guest's name for it, after the guest loaded its bus drivers. */
    private static Map<String, String> guestNames(GuestConsole c) {
        c.loadDiskBuses();
        Map<String, String> names = new LinkedHashMap<>();
        for (DiskSpec d : DISKS) {
            names.put(d.target(), c.diskOfSize(d.sizeBytes(), Duration.ofSeconds(90)));
        }
        assertEquals(DISKS.size(), names.values().stream().distinct().count(), "four disks in the guest: " + names);
        return names;
    }


    private static void assertReplicasEqual(Lab lab, ReplicationRun run, String uuid, LabDomain vm, String when)
            throws Exception {
        for (DiskSpec d : DISKS) {
            Path replica = run.replicaImage(uuid, d.target());
            Exec.Result r = Exec.run(Duration.ofMinutes(2), lab.host().tool("qemu-img").toString(), "compare", "-U",
                    "-f", "qcow2", "-F", "qcow2", replica.toString(), vm.image(d.target()).toString());
            assertEquals(0, r.exitCode(), d.target() + " (" + d.bus() + ") replica differs " + when + ": " + r.stdout()
                    + r.stderr());
        }
    }
}
