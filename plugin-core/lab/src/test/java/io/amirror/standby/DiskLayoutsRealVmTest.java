package io.amirror.standby;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.lab.DiskSpec;
import io.amirror.lab.DomainSpec;
import io.amirror.lab.GuestConsole;
import io.amirror.lab.Lab;
import io.amirror.lab.LabDomain;
import io.amirror.lab.QemuImg;
import io.amirror.lab.RealVmTest;
import io.amirror.util.Exec;
import org.junit.jupiter.api.Test;
import org.libvirt.Domain;

import java.io.RandomAccessFile;
import java.security.MessageDigest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static io.amirror.lab.Cli.cli;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One guest with a qcow2 disk on each bus a real domain uses: virtio-blk ({@code vda}), SCSI on a
 * virtio-scsi controller ({@code sda}), SATA on AHCI ({@code sdb}) and IDE on the {@code pc}
 * machine's PIIX controller ({@code hda}), the guest writing all four through its own drivers; and
 * {@code vda} a qcow2 overlay on a template image, as a guest cloned from a template has.
 *
 * <ul>
 *   <li>the first point reads the whole chain (the template's data shows through the overlay's
 *       holes) and the replica is flattened: one qcow2 without a backing file, equal to the chain;</li>
 *   <li>every point cuts the four disks at one instant (one checkpoint) and reads each by its dirty
 *       bitmap, whatever its bus; the overlay's bitmap sees only the guest's writes, never the
 *       template again;</li>
 *   <li>the failed-over replica keeps every disk on its bus and target, and its guest finds the data
 *       of both points on each.</li>
 * </ul>
 */
@RealVmTest
class DiskLayoutsRealVmTest {
    private static final long MIB = 1L << 20;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Each disk a different size: the guest names disks off virtio in probe order, so it finds them by size. */
    private static final List<DiskSpec> DISKS = List.of(
            DiskSpec.qcow2("vda", 24 * MIB, DiskSpec.Content.BLANK),
            DiskSpec.qcow2("vda", 25 * MIB, DiskSpec.Content.BLANK).on("scsi", "sda"),
            DiskSpec.qcow2("vda", 26 * MIB, DiskSpec.Content.BLANK).on("sata", "sdb"),
            DiskSpec.qcow2("vda", 27 * MIB, DiskSpec.Content.BLANK).on("ide", "hda"));

    @Test
    void disksOnEveryBusAndAnOverlayOnATemplateAreCutTogetherAndBootOnTheirBuses(Lab lab) throws Exception {
        LabDomain vm = null;
        String replicaName = null;
        try (ReplicationRun run = ReplicationRun.open(lab, "layouts-")) {
            run.startStandby();
            LabDomain defined = lab.createDomain(new DomainSpec(256, DISKS, false));
            vm = defined;
            byte[] templateData = onTemplate(lab, defined.image("vda"));
            vm = defined.start();
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
            long firstRead = run.status().path("lastCycleBytesRead").asLong();
            assertTrue(firstRead >= templateData.length + 4 * MIB, "the first point reads the template under vda "
                    + "and what the guest wrote on each disk: " + firstRead + " bytes");
            JsonNode replicaInfo = JSON.readTree(new QemuImg(lab.host().tool("qemu-img")).infoJson(run.replicaImage(uuid, "vda")));
            assertTrue(!replicaInfo.has("backing-filename") && !replicaInfo.has("full-backing-filename"),
                    "the replica of the overlay is flattened: " + replicaInfo);
            System.out.printf("disk layouts: first point %d read %d bytes (a %d-byte template under vda's overlay); "
                    + "vda's replica holds the chain in one image%n", p1, firstRead, templateData.length);

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
            System.out.printf("disk layouts: point %d after 256 KiB on each of virtio, scsi, sata and ide: %d bytes read, "
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
                assertEquals(HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(templateData)),
                        rc.md5(inReplica.get("vda"), 12 * 16, 48), "the template's data under vda's overlay");
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

    /**
     * Makes {@code overlay} (the lab's blank image of a disk not yet started) a qcow2 overlay on a
     * template beside it that holds 3 MiB of random data at MiB 12; returns those bytes.
     */
    private static byte[] onTemplate(Lab lab, Path overlay) throws Exception {
        QemuImg img = new QemuImg(lab.host().tool("qemu-img"));
        Path raw = overlay.resolveSibling("template.raw");
        Path template = overlay.resolveSibling("template.qcow2");
        byte[] data = new byte[3 * (int) MIB];
        new Random(22).nextBytes(data);
        try (RandomAccessFile f = new RandomAccessFile(raw.toFile(), "rw")) {
            f.setLength(DISKS.get(0).sizeBytes());
            f.seek(12 * MIB);
            f.write(data);
        }
        img.convert(raw, "raw", template, "qcow2");
        Files.delete(raw);
        Files.delete(overlay);
        img.createOverlay(overlay, template);
        Files.setPosixFilePermissions(overlay, PosixFilePermissions.fromString("rw-------"));
        return data;
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
