package io.amirror.capture;

import io.amirror.libvirt.DiskInfo;
import io.amirror.libvirt.DomainXmlReader;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which disks a capture replicates, and the refusals that name the disk and the fix. */
class ReplicatedDisksTest {

    private static String domain(String disks) {
        return "<domain type='kvm'><name>files</name><devices>" + disks + "</devices></domain>";
    }

    @Test
    void qcow2RawFilesAndBlockDevicesAreReplicatedReadOnlyDisksAndCdromsAreNot() {
        List<DiskInfo> disks = DomainCapture.replicatedDisks("files", DomainXmlReader.disks(domain("""
                <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/i/a.qcow2'/><target dev='vda'/></disk>
                <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/i/b.raw'/><target dev='vdb'/></disk>
                <disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/vg/c'/><target dev='vdc'/></disk>
                <disk type='file' device='disk'><driver name='qemu' type='vmdk'/><source file='/i/old.vmdk'/><target dev='vdd'/><readonly/></disk>
                <disk type='network' device='cdrom'><target dev='sda'/></disk>""")));
        assertEquals(List.of("vda", "vdb", "vdc"), disks.stream().map(DiskInfo::target).toList());
        assertEquals(List.of(false, true, true), disks.stream().map(DiskInfo::readWhole).toList());
    }

    @Test
    void aWritableNetworkDiskIsRefusedNamingItAndTheFix() {
        CaptureException e = assertThrows(CaptureException.class, () -> DomainCapture.replicatedDisks("files",
                DomainXmlReader.disks(domain("""
                        <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/i/a.qcow2'/><target dev='vda'/></disk>
                        <disk type='network' device='disk'><driver name='qemu' type='raw'/>
                          <source protocol='rbd' name='pool/img'/><target dev='vdb'/></disk>"""))));
        assertTrue(e.getMessage().contains("disk vdb of files is a network disk") && e.getMessage().contains("read-only")
                && e.getMessage().contains("qemu-img convert"), e.getMessage());
    }

    @Test
    void aFormatThatCannotBeExportedIsRefusedNamingItAndTheFix() {
        CaptureException e = assertThrows(CaptureException.class, () -> DomainCapture.replicatedDisks("files",
                List.of(new DiskInfo("vda", Path.of("/i/a.vmdk"), "vmdk", false, "disk"))));
        assertTrue(e.getMessage().contains("disk vda of files (/i/a.vmdk) is vmdk") && e.getMessage().contains("qcow2"),
                e.getMessage());
    }
}
