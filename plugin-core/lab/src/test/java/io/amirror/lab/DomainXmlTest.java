package io.amirror.lab;

import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;

import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.xpath.XPathFactory;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class DomainXmlTest {

    @Test
    void rendersWellFormedXmlWithEscapedPathsAndTheTestDataDiskLast() throws Exception {
        DomainSpec spec = new DomainSpec(256, List.of(DiskSpec.qcow2("vda", 1 << 20, DiskSpec.Content.BLANK),
                new DiskSpec("vdb", 2 << 20, DiskSpec.Content.BLANK, "raw")), true);
        String xml = render(spec, Map.of("vda", Path.of("/x/it's <a>.qcow2"), "vdb", Path.of("/x/b.raw")));
        Document doc = parse(xml);
        var xp = XPathFactory.newInstance().newXPath();
        assertEquals("/x/it's <a>.qcow2", xp.evaluate("/domain/devices/disk[1]/source/@file", doc));
        assertEquals("vdc", xp.evaluate("/domain/devices/disk[3]/target/@dev", doc));
        assertEquals("1", xp.evaluate("count(/domain/devices/disk[3]/readonly)", doc));
        assertEquals("unmap", xp.evaluate("/domain/devices/disk[1]/driver/@discard", doc));
        assertEquals("qemu", xp.evaluate("/domain/@type", doc));
    }

    @Test
    void theDebianGuestIsUefiOnQ35WithItsOwnNvramRootOnVirtioScsiAndAnAgentChannel() throws Exception {
        String xml = DebianGuest.render("lab-2", Path.of("/usr/bin/qemu"), Path.of("/d/root.qcow2"),
                Path.of("/d/data.qcow2"), Path.of("/d/nvram.fd"), Path.of("/d/serial.log"), true);
        Document doc = parse(xml);
        var xp = XPathFactory.newInstance().newXPath();
        assertEquals("q35", xp.evaluate("/domain/os/type/@machine", doc));
        assertEquals(DebianGuest.OVMF_CODE.toString(), xp.evaluate("/domain/os/loader", doc));
        assertEquals("pflash", xp.evaluate("/domain/os/loader/@type", doc));
        assertEquals("/d/nvram.fd", xp.evaluate("/domain/os/nvram", doc));
        assertEquals("virtio-scsi", xp.evaluate("/domain/devices/controller[@type='scsi']/@model", doc));
        assertEquals("scsi", xp.evaluate("/domain/devices/disk[target/@dev='sda']/target/@bus", doc));
        assertEquals("/d/root.qcow2", xp.evaluate("/domain/devices/disk[target/@dev='sda']/source/@file", doc));
        assertEquals("virtio", xp.evaluate("/domain/devices/disk[target/@dev='vda']/target/@bus", doc));
        assertEquals("org.qemu.guest_agent.0", xp.evaluate("/domain/devices/channel/target/@name", doc));
        assertEquals("/d/serial.log", xp.evaluate("/domain/devices/serial/log/@file", doc));
        assertEquals("emulator", xp.evaluate("/domain/devices/tpm/backend/@type", doc));
        assertEquals("2.0", xp.evaluate("/domain/devices/tpm/backend/@version", doc));
        String firstBoot = DebianGuest.render("lab-3", Path.of("/usr/bin/qemu"), Path.of("/d/root.qcow2"),
                Path.of("/d/data.qcow2"), Path.of("/d/nvram.fd"), Path.of("/d/serial.log"), false);
        assertEquals(-1, firstBoot.indexOf("<tpm"), firstBoot);
    }

    @Test
    void putsEachDiskOnItsBusWithTheControllersItNeeds() throws Exception {
        DiskSpec blank = DiskSpec.qcow2("vda", 1 << 20, DiskSpec.Content.BLANK);
        DomainSpec spec = new DomainSpec(256, List.of(blank, blank.on("scsi", "sda"), blank.on("sata", "sdb"),
                blank.on("ide", "hda")), true);
        String xml = render(spec, Map.of("vda", Path.of("/x/a"), "sda", Path.of("/x/b"), "sdb", Path.of("/x/c"),
                "hda", Path.of("/x/d")));
        Document doc = parse(xml);
        var xp = XPathFactory.newInstance().newXPath();
        assertEquals("virtio", xp.evaluate("/domain/devices/disk[target/@dev='vda']/target/@bus", doc));
        assertEquals("scsi", xp.evaluate("/domain/devices/disk[target/@dev='sda']/target/@bus", doc));
        assertEquals("sata", xp.evaluate("/domain/devices/disk[target/@dev='sdb']/target/@bus", doc));
        assertEquals("ide", xp.evaluate("/domain/devices/disk[target/@dev='hda']/target/@bus", doc));
        assertEquals("virtio-scsi", xp.evaluate("/domain/devices/controller[@type='scsi']/@model", doc));
        assertEquals("1", xp.evaluate("count(/domain/devices/controller[@type='sata'])", doc));
        // the test data follows the virtio disks, whatever the others are
        assertEquals("vdb", spec.testDataTarget());
        assertThrows(IllegalArgumentException.class, () -> blank.on("sata", "vdb"));
        assertThrows(IllegalArgumentException.class, () -> blank.on("ide", "hde"));
        assertThrows(IllegalArgumentException.class, () -> blank.on("usb", "sdc"));
    }

    @Test
    void rejectsNonsenseSpecs() {
        assertThrows(IllegalArgumentException.class, () -> DiskSpec.qcow2("sda", 1 << 20, DiskSpec.Content.BLANK));
        assertThrows(IllegalArgumentException.class, () -> DiskSpec.qcow2("vda", 1000, DiskSpec.Content.BLANK));
        assertThrows(IllegalArgumentException.class, () -> new DomainSpec(256,
                List.of(DiskSpec.qcow2("vda", 1 << 20, DiskSpec.Content.BLANK),
                        DiskSpec.qcow2("vda", 1 << 20, DiskSpec.Content.BLANK)), false));
    }

    private static String render(DomainSpec spec, Map<String, Path> images) {
        return DomainXml.render("lab-1", spec, Path.of("/usr/bin/qemu"), images, Path.of("/x/c.sock"),
                Path.of("/k/vmlinuz"), Path.of("/k/initrd"), Path.of("/k/testdata.img"));
    }

    private static Document parse(String xml) throws Exception {
        return DocumentBuilderFactory.newInstance().newDocumentBuilder()
                .parse(new ByteArrayInputStream(xml.getBytes(StandardCharsets.UTF_8)));
    }
}
