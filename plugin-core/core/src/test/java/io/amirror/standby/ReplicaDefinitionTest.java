package io.amirror.standby;

import io.amirror.control.HookEvent;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.amirror.config.SchemaCheck;
import io.amirror.transport.ReplicaManifest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The replica domain's XML from the primary's, the manifest's wire form, and the hook's event files. */
class ReplicaDefinitionTest {
    static final UUID UUID_1 = UUID.fromString("6f0c2a52-1f7a-4b1e-9d55-0c4f7d2b9a11");
    static final String PRIMARY_XML = """
            <domain type='qemu' id='7'>
              <name>files</name>
              <uuid>6f0c2a52-1f7a-4b1e-9d55-0c4f7d2b9a11</uuid>
              <metadata>
                <amirror:policy xmlns:amirror="https://amirror.io/libvirt/1">office</amirror:policy>
                <other:note xmlns:other="https://example.net/x">keep me</other:note>
              </metadata>
              <description>file server, rack 2</description>
              <memory unit='KiB'>262144</memory>
              <os><type arch='x86_64' machine='pc'>hvm</type><kernel>/boot/vmlinuz</kernel></os>
              <devices>
                <disk type='file' device='disk'>
                  <driver name='qemu' type='qcow2' cache='none'/>
                  <source file='/var/lib/libvirt/images/files.qcow2'/>
                  <backingStore type='file'><format type='qcow2'/><source file='/base.qcow2'/></backingStore>
                  <target dev='vda' bus='virtio'/>
                </disk>
                <disk type='block' device='disk'>
                  <driver name='qemu' type='raw'/>
                  <source dev='/dev/vg0/data'/>
                  <target dev='vdb' bus='virtio'/>
                </disk>
                <disk type='file' device='disk'>
                  <source file='/srv/readonly.img'/>
                  <target dev='vdc' bus='virtio'/>
                  <readonly/>
                </disk>
                <disk type='file' device='cdrom'>
                  <source file='/iso/install.iso'/>
                  <target dev='sda' bus='sata'/>
                  <readonly/>
                </disk>
                <disk type='file' device='disk'>
                  <source file='/scratch/tmp.img'/>
                  <target dev='vdd' bus='virtio'/>
                </disk>
                <interface type='network'><source network='default'/><model type='virtio'/></interface>
                <interface type='bridge'><source bridge='br0'/></interface>
                <hostdev mode='subsystem' type='pci'><source><address bus='0x03' slot='0x00' function='0x0'/></source></hostdev>
                <serial type='unix'><source mode='bind' path='/run/files/console.sock'/><log file='/var/log/x.log'/><target port='0'/></serial>
                <console type='unix'><source mode='bind' path='/run/files/console.sock'/><target type='serial' port='0'/></console>
                <channel type='unix'><source mode='bind' path='/run/files/agent.sock'/><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
              </devices>
            </domain>
            """;

    static ReplicaManifest manifest(String xml) {
        return new ReplicaManifest(UUID_1, "files", 3, xml, Map.of("default", "office-lan"), Map.of("br0", "br-sb"), 12, 86400, null);
    }

    /** The standby of these tests: its LAN and bridge, and a kernel directory (the primary's /boot). */
    static final ReplicaDefinition.Allowlist ALLOW = new ReplicaDefinition.Allowlist(Set.of("office-lan"), Set.of("br-sb"),
            List.of(Path.of("/boot")), null, ReplicaDefinition.OVMF_DIR);
    static final ReplicaDefinition.Options SAME_NAME = new ReplicaDefinition.Options("", Path.of("/run/amirror"),
            Path.of("/var/lib/amirror"), ALLOW);

    /** A standby whose regular files are exactly {@code files}, each its own real path. */
    static HostFiles only(Path... files) {
        Set<Path> set = Set.of(files);
        return p -> set.contains(p) ? Optional.of(p) : Optional.empty();
    }

    static final HostFiles KERNEL = only(Path.of("/boot/vmlinuz"));

    @Test
    void replicaPointsAtTheReplicaImagesAndDropsWhatBelongsToThePrimaryHost() throws Exception {
        Map<String, Path> images = Map.of("vda", Path.of("/var/lib/amirror/replicas/x/vda/replica.qcow2"),
                "vdb", Path.of("/var/lib/amirror/replicas/x/vdb/replica.qcow2"));
        HostFiles onStandby = only(Path.of("/srv/readonly.img"), Path.of("/boot/vmlinuz"));
        ReplicaDefinition.Result r = ReplicaDefinition.build(manifest(PRIMARY_XML), images, SAME_NAME, onStandby);
        String x = r.xml();
        assertEquals("files", r.name());
        assertEquals(UUID_1, r.uuid());
        assertTrue(x.contains("<name>files</name>") && x.contains("<uuid>" + UUID_1 + "</uuid>"), x);
        assertFalse(x.contains("id=\"7\""), "the running id is the primary's");
        // replicated disks: qcow2 replica images, no backing chain; the block disk became a file
        assertTrue(x.contains("file=\"/var/lib/amirror/replicas/x/vda/replica.qcow2\""), x);
        assertTrue(x.contains("file=\"/var/lib/amirror/replicas/x/vdb/replica.qcow2\""), x);
        assertFalse(x.contains("backingStore") || x.contains("/dev/vg0/data") || x.contains("files.qcow2"), x);
        assertTrue(x.contains("cache=\"none\""), "other driver settings stay: " + x);
        // disks that are not replicated go, even read-only ones whose file the standby has; the ISO is emptied
        assertFalse(x.contains("/srv/readonly.img") || x.contains("vdc"), x);
        assertFalse(x.contains("/iso/install.iso"), x);
        assertTrue(x.contains("device=\"cdrom\""), "the drive stays, empty: " + x);
        assertFalse(x.contains("tmp.img") || x.contains("vdd"), x);
        // networks mapped, host device gone, sockets moved (serial and console share one), logs dropped
        assertTrue(x.contains("network=\"office-lan\"") && x.contains("bridge=\"br-sb\""), x);
        assertFalse(x.contains("hostdev") || x.contains("/var/log/x.log") || x.contains("/run/files/"), x);
        assertEquals(2, x.split("/run/amirror/" + UUID_1 + "-serial0.sock", -1).length - 1, "serial and console: " + x);
        assertTrue(x.contains("/run/amirror/" + UUID_1 + "-channel"), x);
        // the primary's metadata is gone, its policy tag first (the standby must not replicate its replica)
        assertFalse(x.contains("https://amirror.io/libvirt/1\"") || x.contains("keep me"), x);
        assertTrue(x.contains("<kernel>/boot/vmlinuz</kernel>"), "a kernel under an allowed directory: " + x);
        assertTrue(x.contains("<description>file server, rack 2</description>"), "the admin's description stays: " + x);
        assertEquals(new ReplicaDefinition.Marker(UUID_1, Path.of("/var/lib/amirror")), ReplicaDefinition.marker(x).orElseThrow());
        assertTrue(r.notes().stream().anyMatch(n -> n.contains("hostdev") && n.contains("host hardware")), r.notes().toString());
        assertTrue(r.changes().stream().anyMatch(c -> c.path().equals("/domain/devices/disk[vdc]")), r.notes().toString());
        // and it is a domain XML again, which libvirt will parse
        assertEquals("domain", ReplicaDefinition.parse(x).getDocumentElement().getTagName());
    }

    @Test
    void whatWasDroppedIsKeptForTheReplicasViewInItsSchema(@TempDir Path dir) throws Exception {
        Map<String, Path> images = Map.of("vda", Path.of("/r/vda.qcow2"), "vdb", Path.of("/r/vdb.qcow2"));
        ReplicaDefinition.Result r = ReplicaDefinition.build(manifest(PRIMARY_XML), images, SAME_NAME, KERNEL);
        DefinitionReport report = new DefinitionReport(3, r.changes(), null);
        report.write(dir);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("definition.json"))));
        assertEquals(Optional.of(report), DefinitionReport.read(dir));
        assertEquals(r.changes().size() + " items dropped", report.summary());
        var owner = new ReplicaDomain.Owner("office-a", "sha256:" + "ab".repeat(32), "CN=primary", "2026-12-01T21:00:00Z");
        var entry = new ReplicaReport.Entry("files", UUID_1.toString(), "files", 3, null, null, null, null, List.of(), null, "ok",
                report, owner);
        var refused = new ReplicaReport.Entry("files", UUID_1.toString(), "files", 3, null, null, null, null, List.of(), null, "ok",
                new DefinitionReport(4, List.of(), "no disk"), owner);
        var none = new ReplicaReport.Entry(null, UUID_1.toString(), null, null, null, null, null, null, List.of(), null, "empty", null,
                null);
        ObjectMapper json = new ObjectMapper();
        var doc = json.valueToTree(Map.of("now", "2026-12-01T22:00:00Z", "replicas", List.of(entry, refused, none)));
        ((ObjectNode) doc).putNull("maxAgeSeconds");
        assertEquals(List.of(), SchemaCheck.named(SchemaCheck.REPLICAS).check(doc, "replicas --json"), doc.toString());
        assertEquals(r.changes().size(), doc.path("replicas").get(0).path("definition").path("changes").size());
        Files.writeString(dir.resolve("definition.json"), "{not json");
        assertEquals(Optional.empty(), DefinitionReport.read(dir), "a damaged report reads as none");
    }

    @Test
    void firmwareIsTheStandbysOvmfOfTheSameFamilyWithTheNvramInTheReplicasDirectory() throws Exception {
        String efi = PRIMARY_XML.replace("<kernel>/boot/vmlinuz</kernel>", "<loader readonly='yes' secure='yes' "
                + "type='pflash'>/opt/firmware/OVMF_CODE_4M.secboot.fd</loader><nvram>/var/lib/libvirt/qemu/nvram/files_VARS.fd</nvram>");
        HostFiles ovmf = only(Path.of("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"), Path.of("/usr/share/OVMF/OVMF_VARS_4M.fd"));
        Map<String, Path> images = Map.of("vda", Path.of("/r/vda.qcow2"), "vdb", Path.of("/r/vdb.qcow2"));
        String x = ReplicaDefinition.build(manifest(efi), images, SAME_NAME, ovmf).xml();
        assertTrue(x.contains("<loader readonly=\"yes\" secure=\"yes\" type=\"pflash\">/usr/share/OVMF/OVMF_CODE_4M.secboot.fd</loader>"), x);
        assertTrue(x.contains("<nvram template=\"/usr/share/OVMF/OVMF_VARS_4M.fd\">/var/lib/amirror/replicas/" + UUID_1
                + "/nvram.fd</nvram>"), x);
        assertFalse(x.contains("/opt/firmware") || x.contains("files_VARS"), x);
        var missing = assertThrows(DefinitionRefused.class, () -> ReplicaDefinition.build(manifest(efi), images, SAME_NAME,
                only()));
        assertTrue(missing.getMessage().contains("ovmf"), missing.getMessage());
        var unknown = assertThrows(DefinitionRefused.class, () -> ReplicaDefinition.build(manifest(efi.replace(
                "OVMF_CODE_4M.secboot.fd", "seabios.bin")), images, SAME_NAME, ovmf));
        assertTrue(unknown.getMessage().contains("not an OVMF image"), unknown.getMessage());
    }

    @Test
    void firmwareChosenByLibvirtStillKeepsTheReplicasOwnNvramAndTheSerialLogsInTheReplicasDirectory() throws Exception {
        String efi = PRIMARY_XML.replace("<os>", "<os firmware='efi'>").replace("<kernel>/boot/vmlinuz</kernel>",
                "<nvram>/var/lib/libvirt/qemu/nvram/files_VARS.fd</nvram>");
        Map<String, Path> images = Map.of("vda", Path.of("/r/vda.qcow2"), "vdb", Path.of("/r/vdb.qcow2"));
        ReplicaDefinition.Result r = ReplicaDefinition.build(manifest(efi), images, SAME_NAME, KERNEL);
        String replicaDir = "/var/lib/amirror/replicas/" + UUID_1;
        assertTrue(r.xml().contains("<nvram>" + replicaDir + "/nvram.fd</nvram>"), r.xml());
        assertFalse(r.xml().contains("files_VARS"), r.xml());
        assertTrue(r.xml().contains("<log append=\"on\" file=\"" + replicaDir + "/serial0.log\"/>"), r.xml());
        assertFalse(r.xml().contains("/var/log/x.log"), r.xml());
    }

    @Test
    void anEmulatedTpmTravelsAPassthroughOrAnEncryptedOneDoesNot() throws Exception {
        Map<String, Path> images = Map.of("vda", Path.of("/r/vda.qcow2"), "vdb", Path.of("/r/vdb.qcow2"));
        String tpm = PRIMARY_XML.replace("</devices>", "<tpm model='tpm-crb'><backend type='emulator' version='2.0' "
                + "persistent_state='yes'><active_pcr_banks><sha256/><evil/></active_pcr_banks></backend></tpm></devices>");
        ReplicaDefinition.Result r = ReplicaDefinition.build(manifest(tpm), images, SAME_NAME, KERNEL);
        assertTrue(r.xml().contains("<tpm model=\"tpm-crb\"><backend type=\"emulator\" version=\"2.0\"><active_pcr_banks>"
                + "<sha256/></active_pcr_banks></backend></tpm>"), r.xml());
        assertTrue(r.notes().stream().anyMatch(n -> n.contains("persistent_state")), r.notes().toString());

        String passthrough = PRIMARY_XML.replace("</devices>", "<tpm model='tpm-tis'><backend type='passthrough'>"
                + "<device path='/dev/tpm0'/></backend></tpm></devices>");
        ReplicaDefinition.Result p = ReplicaDefinition.build(manifest(passthrough), images, SAME_NAME, KERNEL);
        assertFalse(p.xml().contains("tpm"), p.xml());
        assertTrue(p.notes().stream().anyMatch(n -> n.contains("passthrough")), p.notes().toString());

        String encrypted = tpm.replace("<active_pcr_banks>", "<encryption secret='6dd3e4a5-1d76-44ce-961f-f119f5aad935'/><active_pcr_banks>");
        var e = assertThrows(DefinitionRefused.class, () -> ReplicaDefinition.build(manifest(encrypted), images, SAME_NAME, KERNEL));
        assertTrue(e.getMessage().contains("encrypted"), e.getMessage());
    }

    @Test
    void nicsJoinOnlyWhatTheStandbyAllowsAndTheRestIsDroppedWithANote() throws Exception {
        Map<String, Path> images = Map.of("vda", Path.of("/r/vda.qcow2"), "vdb", Path.of("/r/vdb.qcow2"));
        var strict = new ReplicaDefinition.Options("", Path.of("/run/amirror"), Path.of("/var/lib/amirror"),
                new ReplicaDefinition.Allowlist(Set.of("office-lan"), Set.of(), List.of(Path.of("/boot")), null, null));
        ReplicaDefinition.Result r = ReplicaDefinition.build(manifest(PRIMARY_XML), images, strict, KERNEL);
        assertTrue(r.xml().contains("network=\"office-lan\""), r.xml());
        assertFalse(r.xml().contains("bridge"), "br0 maps to br-sb, which this standby does not allow: " + r.xml());
        assertTrue(r.notes().stream().anyMatch(n -> n.contains("bridge 'br-sb'") && n.contains("\"bridges\"")), r.notes().toString());
    }

    @Test
    void whatLibvirtWritesIntoEveryDomainIsNotNoted() throws Exception {
        String dumped = """
                <domain type='qemu'>
                  <name>files</name>
                  <uuid>6f0c2a52-1f7a-4b1e-9d55-0c4f7d2b9a11</uuid>
                  <memory unit='KiB'>65536</memory><currentMemory unit='KiB'>65536</currentMemory>
                  <vcpu placement='static'>1</vcpu>
                  <resource><partition>/machine</partition></resource>
                  <os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type><kernel>/boot/vmlinuz</kernel><boot dev='hd'/></os>
                  <features><acpi/></features>
                  <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>
                  <clock offset='utc'/>
                  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
                  <devices>
                    <emulator>/usr/bin/qemu-system-x86_64</emulator>
                    <disk type='file' device='disk'><driver name='qemu' type='qcow2' discard='unmap'/>
                      <source file='/var/lib/libvirt/images/files.qcow2'/><target dev='vda' bus='virtio'/>
                      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/></disk>
                    <controller type='usb' index='0' model='piix3-uhci'><address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x2'/></controller>
                    <controller type='pci' index='0' model='pci-root'/>
                    <serial type='unix'><source mode='bind' path='/run/x/console.sock'/><target type='isa-serial' port='0'><model name='isa-serial'/></target></serial>
                    <console type='unix'><source mode='bind' path='/run/x/console.sock'/><target type='serial' port='0'/></console>
                    <input type='mouse' bus='ps2'/><input type='keyboard' bus='ps2'/>
                    <audio id='1' type='none'/>
                    <memballoon model='none'/>
                  </devices>
                </domain>
                """;
        ReplicaDefinition.Result r = ReplicaDefinition.build(manifest(dumped), Map.of("vda", Path.of("/r/vda.qcow2")),
                SAME_NAME, KERNEL);
        assertEquals(List.of(), r.notes(), r.xml());
        assertTrue(r.xml().contains("<address bus=\"0x00\" domain=\"0x0000\" function=\"0x0\" slot=\"0x04\" type=\"pci\"/>"),
                "the guest keeps its PCI layout: " + r.xml());
    }

    @Test
    void aSuffixRenamesAndDerivesAStableUuid() throws Exception {
        var o = new ReplicaDefinition.Options("-replica", Path.of("/run/amirror"), Path.of("/srv/amirror"), ALLOW);
        Map<String, Path> images = Map.of("vda", Path.of("/r/vda.qcow2"), "vdb", Path.of("/r/vdb.qcow2"));
        var a = ReplicaDefinition.build(manifest(PRIMARY_XML), images, o, KERNEL);
        var b = ReplicaDefinition.build(manifest(PRIMARY_XML), images, o, KERNEL);
        assertEquals("files-replica", a.name());
        assertNotEquals(UUID_1, a.uuid());
        assertEquals(a.uuid(), b.uuid());
        assertEquals(a.xml(), b.xml(), "the same manifest gives the same XML: no needless redefinition");
    }

    @Test
    void aDiskTheStandbyHoldsButTheXmlLacksIsAnError() {
        var e = assertThrows(IOException.class, () -> ReplicaDefinition.build(manifest(PRIMARY_XML),
                Map.of("vdz", Path.of("/r/vdz.qcow2")), SAME_NAME, KERNEL));
        assertTrue(e.getMessage().contains("vdz"), e.getMessage());
        var deep = new ReplicaDefinition.Options("", Path.of("/" + "d".repeat(80)), Path.of("/s"), ALLOW);
        var tooLong = assertThrows(IOException.class, () -> ReplicaDefinition.build(manifest(PRIMARY_XML),
                Map.of("vda", Path.of("/r/vda.qcow2"), "vdb", Path.of("/r/vdb.qcow2")), deep, KERNEL));
        assertTrue(tooLong.getMessage().contains("--socket-dir"), tooLong.getMessage());
    }

    @Test
    void otherDomainsHaveNoMarkerAndHostileXmlIsRefused() throws Exception {
        assertTrue(ReplicaDefinition.marker("<domain><name>x</name><metadata/></domain>").isEmpty());
        // the namespace string in a description is not a marker
        assertTrue(ReplicaDefinition.marker("<domain><name>x</name><description>https://amirror.io/libvirt/replica/1"
                + "</description></domain>").isEmpty());
        String xxe = "<?xml version='1.0'?><!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><domain><name>&e;</name></domain>";
        assertThrows(IOException.class, () -> ReplicaDefinition.parse(xxe));
        assertThrows(IOException.class, () -> ReplicaDefinition.parse("<network><name>x</name></network>"));
        assertThrows(IOException.class, () -> ReplicaDefinition.marker("<domain><metadata><a:replica "
                + "xmlns:a='https://amirror.io/libvirt/replica/1' source='not-a-uuid' state='/x'/></metadata></domain>"));
    }

    @Test
    void manifestRoundTripsThroughXzAndRefusesWhatCannotBeADomain() throws Exception {
        ReplicaManifest m = manifest(PRIMARY_XML);
        byte[] xz = m.toXz();
        assertTrue(xz.length < PRIMARY_XML.length(), "compressed: " + xz.length);
        assertEquals(m, ReplicaManifest.fromXz(xz));
        assertFalse(new String(m.toJson(), StandardCharsets.UTF_8).contains("bootCheck"),
                "a manifest without a boot check reads the same to an amirror that knows none");
        var checked = new ReplicaManifest(UUID_1, "files", 3, PRIMARY_XML, Map.of(), Map.of(), 1, 1, null,
                new ReplicaManifest.BootCheck(List.of("/usr/bin/pg_isready", "-q"), 600));
        assertEquals(checked, ReplicaManifest.fromXz(checked.toXz()));
        assertNotEquals(m.key(), checked.key(), "a new check is sent again");
        assertThrows(IOException.class, () -> ReplicaManifest.fromXz(new byte[] {1, 2, 3}));
        byte[] cut = Arrays.copyOf(xz, xz.length - 5);
        assertThrows(IOException.class, () -> ReplicaManifest.fromXz(cut));
        for (ReplicaManifest bad : new ReplicaManifest[] {
                new ReplicaManifest(UUID_1, "a/b", 3, PRIMARY_XML, Map.of(), Map.of(), 1, 1, null),
                new ReplicaManifest(UUID_1, "files", 0, PRIMARY_XML, Map.of(), Map.of(), 1, 1, null),
                new ReplicaManifest(UUID_1, "files", 3, PRIMARY_XML, Map.of(), Map.of(), 0, 1, null),
                new ReplicaManifest(UUID_1, "pbx", 3, null, Map.of(), Map.of(), 1, 1, Collections.nCopies(2000, "-x")),
                new ReplicaManifest(null, "pbx", 3, null, Map.of(), Map.of(), 1, 1, List.of("qemu")),
                new ReplicaManifest(UUID_1, "files", 3, PRIMARY_XML, Map.of(), Map.of(), 1, 1, null,
                        new ReplicaManifest.BootCheck(List.of(), 60)),
                new ReplicaManifest(UUID_1, "files", 3, PRIMARY_XML, Map.of(), Map.of(), 1, 1, null,
                        new ReplicaManifest.BootCheck(List.of("pg_isready\0"), 60)),
                new ReplicaManifest(UUID_1, "files", 3, PRIMARY_XML, Map.of(), Map.of(), 1, 1, null,
                        new ReplicaManifest.BootCheck(List.of("pg_isready"), 0))}) {
            assertThrows(IOException.class, () -> ReplicaManifest.fromXz(bad.toXz()), bad.name() + " " + bad.point());
        }
        // the domain XML is the standby's to judge, before it stores the manifest
        ReplicaManifest broken = ReplicaManifest.fromXz(new ReplicaManifest(UUID_1, "files", 3, "<domain", Map.of(), Map.of(), 1, 1,
                null).toXz());
        assertThrows(IOException.class, () -> ReplicaDefinition.parse(broken.domainXml()));
        assertThrows(IOException.class, () -> ReplicaDefinition.parse("<network/>"), "not a domain");
        // a decompression bomb stops at the bound
        String huge = "<domain><description>" + "a".repeat(ReplicaManifest.MAX_JSON) + "</description></domain>";
        var bomb = new ReplicaManifest(UUID_1, "files", 3, huge, Map.of(), Map.of(), 1, 1, null).toXz();
        assertTrue(bomb.length < 64 * 1024);
        var e = assertThrows(IOException.class, () -> ReplicaManifest.fromXz(bomb));
        assertTrue(e.getMessage().contains("exceeds"), e.getMessage());
    }

    @Test
    void hookEventFilesDecodeExactlyAndOddOnesAreRefused() {
        String name = "it's a \"name\" with $(rm -rf /) and\na newline";
        byte[] f = ("release\0end\0" + name + "\0<domain/>").getBytes(StandardCharsets.UTF_8);
        assertEquals(new HookEvent("release", "end", name, "<domain/>"), HookEvent.parse(f));
        assertThrows(IllegalArgumentException.class, () -> HookEvent.parse("release\0end".getBytes(StandardCharsets.UTF_8)));
        assertThrows(IllegalArgumentException.class, () -> HookEvent.parse("rm\0-rf\0x\0".getBytes(StandardCharsets.UTF_8)));
        assertThrows(IllegalArgumentException.class, () -> HookEvent.parse("started\0begin\0\0".getBytes(StandardCharsets.UTF_8)));
        assertThrows(IllegalArgumentException.class, () -> HookEvent.parse(new byte[] {'s', 't', 0, (byte) 0xff, 0, 'x', 0}));
    }
}
