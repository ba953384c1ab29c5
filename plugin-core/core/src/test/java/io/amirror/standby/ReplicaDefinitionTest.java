package io.amirror.standby;

import io.amirror.control.HookEvent;
import io.amirror.transport.ReplicaManifest;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
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

    static final ReplicaDefinition.Options SAME_NAME = new ReplicaDefinition.Options("", Path.of("/run/amirror"),
            Path.of("/var/lib/amirror"));

    @Test
    void replicaPointsAtTheReplicaImagesAndDropsWhatBelongsToThePrimaryHost() throws Exception {
        Map<String, Path> images = Map.of("vda", Path.of("/var/lib/amirror/replicas/x/vda/replica.qcow2"),
                "vdb", Path.of("/var/lib/amirror/replicas/x/vdb/replica.qcow2"));
        Set<Path> onStandby = Set.of(Path.of("/srv/readonly.img")); // the ISO and the scratch disk are not there
        ReplicaDefinition.Result r = ReplicaDefinition.build(manifest(PRIMARY_XML), images, SAME_NAME, onStandby::contains);
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
        // read-only disk present on the standby stays; the ISO is emptied; the unreplicated writable disk goes
        assertTrue(x.contains("/srv/readonly.img"), x);
        assertFalse(x.contains("/iso/install.iso"), x);
        assertTrue(x.contains("device=\"cdrom\""), "the drive stays, empty: " + x);
        assertFalse(x.contains("tmp.img") || x.contains("vdd"), x);
        // networks mapped, host device gone, sockets moved (serial and console share one), logs dropped
        assertTrue(x.contains("network=\"office-lan\"") && x.contains("bridge=\"br-sb\""), x);
        assertFalse(x.contains("hostdev") || x.contains("/var/log/x.log") || x.contains("/run/files/"), x);
        assertEquals(2, x.split("/run/amirror/" + UUID_1 + "-serial0.sock", -1).length - 1, "serial and console: " + x);
        assertTrue(x.contains("/run/amirror/" + UUID_1 + "-channel"), x);
        // the primary's policy tag is gone (the standby must not replicate its replica), other metadata stays
        assertFalse(x.contains("https://amirror.io/libvirt/1\""), x);
        assertTrue(x.contains("keep me"), x);
        assertEquals(new ReplicaDefinition.Marker(UUID_1, Path.of("/var/lib/amirror")), ReplicaDefinition.marker(x).orElseThrow());
        assertTrue(r.notes().stream().anyMatch(n -> n.contains("host device")), r.notes().toString());
        // and it is a domain XML again, which libvirt will parse
        assertEquals("domain", ReplicaDefinition.parse(x).getDocumentElement().getTagName());
    }

    @Test
    void aSuffixRenamesAndDerivesAStableUuid() throws Exception {
        var o = new ReplicaDefinition.Options("-replica", Path.of("/run/amirror"), Path.of("/srv/amirror"));
        Map<String, Path> images = Map.of("vda", Path.of("/r/vda.qcow2"), "vdb", Path.of("/r/vdb.qcow2"));
        var a = ReplicaDefinition.build(manifest(PRIMARY_XML), images, o, p -> true);
        var b = ReplicaDefinition.build(manifest(PRIMARY_XML), images, o, p -> true);
        assertEquals("files-replica", a.name());
        assertNotEquals(UUID_1, a.uuid());
        assertEquals(a.uuid(), b.uuid());
        assertEquals(a.xml(), b.xml(), "the same manifest gives the same XML: no needless redefinition");
    }

    @Test
    void aDiskTheStandbyHoldsButTheXmlLacksIsAnError() {
        var e = assertThrows(IOException.class, () -> ReplicaDefinition.build(manifest(PRIMARY_XML),
                Map.of("vdz", Path.of("/r/vdz.qcow2")), SAME_NAME, p -> true));
        assertTrue(e.getMessage().contains("vdz"), e.getMessage());
        var deep = new ReplicaDefinition.Options("", Path.of("/" + "d".repeat(80)), Path.of("/s"));
        var tooLong = assertThrows(IOException.class, () -> ReplicaDefinition.build(manifest(PRIMARY_XML),
                Map.of("vda", Path.of("/r/vda.qcow2"), "vdb", Path.of("/r/vdb.qcow2")), deep, p -> true));
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
        assertThrows(IOException.class, () -> ReplicaManifest.fromXz(new byte[] {1, 2, 3}));
        byte[] cut = Arrays.copyOf(xz, xz.length - 5);
        assertThrows(IOException.class, () -> ReplicaManifest.fromXz(cut));
        for (ReplicaManifest bad : new ReplicaManifest[] {
                new ReplicaManifest(UUID_1, "a/b", 3, PRIMARY_XML, Map.of(), Map.of(), 1, 1, null),
                new ReplicaManifest(UUID_1, "files", 0, PRIMARY_XML, Map.of(), Map.of(), 1, 1, null),
                new ReplicaManifest(UUID_1, "files", 3, PRIMARY_XML, Map.of(), Map.of(), 0, 1, null),
                new ReplicaManifest(UUID_1, "pbx", 3, null, Map.of(), Map.of(), 1, 1, Collections.nCopies(2000, "-x")),
                new ReplicaManifest(null, "pbx", 3, null, Map.of(), Map.of(), 1, 1, List.of("qemu"))}) {
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
