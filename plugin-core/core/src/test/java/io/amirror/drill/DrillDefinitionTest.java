package io.amirror.drill;

import io.amirror.libvirt.DomainXmlReader;
import io.amirror.standby.ReplicaDefinition;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The drill domain made from a replica's definition: nothing of the replica's, nothing of the office's. */
class DrillDefinitionTest {
    static final UUID DRILL = UUID.fromString("0b7f4c1e-5d2a-4e8f-9a6b-3c1d2e4f5a6b");
    static final Path DIR = Path.of("/var/lib/amirror/drills/0a1b2c3d");
    static final Path SOCKETS = Path.of("/var/lib/amirror/sockets");

    /** A replica domain as the standby defines one (marker, own NVRAM, own sockets and log, a TPM). */
    static final String REPLICA = """
            <domain type='kvm'>
              <name>files-replica</name>
              <uuid>11111111-2222-4333-8444-555555555555</uuid>
              <metadata><amr:replica xmlns:amr='https://amirror.io/libvirt/replica/1'
                  source='6a0f8b52-93a5-4f7e-9d1e-0c7d2b4a1e11' state='/var/lib/amirror'/></metadata>
              <memory unit='MiB'>2048</memory>
              <os><type arch='x86_64' machine='q35'>hvm</type>
                <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
                <nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/amirror/replicas/6a0f8b52-93a5-4f7e-9d1e-0c7d2b4a1e11/nvram.fd</nvram>
              </os>
              <devices>
                <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
                  <source file='/var/lib/amirror/replicas/6a0f8b52-93a5-4f7e-9d1e-0c7d2b4a1e11/sda/replica.qcow2'/>
                  <target dev='sda' bus='scsi'/></disk>
                <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
                  <source file='/var/lib/amirror/replicas/6a0f8b52-93a5-4f7e-9d1e-0c7d2b4a1e11/vdb/replica.qcow2'/>
                  <target dev='vdb' bus='virtio'/></disk>
                <disk type='file' device='cdrom'><target dev='sdc' bus='sata'/><readonly/></disk>
                <interface type='bridge'><mac address='52:54:00:12:34:56'/><source bridge='br-office'/>
                  <model type='virtio'/></interface>
                <serial type='unix'><source mode='bind' path='/var/lib/amirror/sockets/11111111-serial0.sock'/>
                  <target port='0'/><log file='/var/lib/amirror/replicas/6a0f8b52-93a5-4f7e-9d1e-0c7d2b4a1e11/serial0.log' append='on'/></serial>
                <channel type='unix'><source mode='bind' path='/var/lib/amirror/sockets/11111111-channel1.sock'/>
                  <target type='virtio' name='org.qemu.guest_agent.0'/></channel>
                <graphics type='vnc' port='5901' autoport='no' listen='0.0.0.0'><listen type='address' address='0.0.0.0'/></graphics>
                <tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>
              </devices>
            </domain>""";

    static DrillDefinition.Plan plan(DrillDefinition.Network n) {
        return new DrillDefinition.Plan("files-replica-drill", DRILL, Map.of("sda", DIR.resolve("sda.qcow2"),
                "vdb", DIR.resolve("vdb.qcow2")), DIR.resolve("nvram.fd"), n, SOCKETS, DIR);
    }

    @Test
    void theDrillUsesOnlyItsOwnFilesSocketsAndNetwork() throws IOException {
        String xml = DrillDefinition.of(REPLICA, plan(new DrillDefinition.Isolated("amirror-drill-0a1b2c3d")));
        assertTrue(xml.contains("<name>files-replica-drill</name>"), xml);
        assertEquals(Optional.of(DRILL), DomainXmlReader.uuid(xml));
        assertEquals(Optional.empty(), ReplicaDefinition.marker(xml), "a start of the drill is no failover");
        assertEquals(Optional.of(DIR.resolve("nvram.fd")), DomainXmlReader.nvram(xml));
        assertFalse(xml.contains("template="), "the NVRAM is the point's copy, never made afresh: " + xml);
        assertTrue(xml.contains("<source file=\"" + DIR.resolve("sda.qcow2") + "\"/>"), xml);
        assertTrue(xml.contains("<source file=\"" + DIR.resolve("vdb.qcow2") + "\"/>"), xml);
        assertFalse(xml.contains("/replicas/6a0f8b52"), "nothing of the replica's directory: " + xml);
        assertTrue(xml.contains("device=\"cdrom\""), "the empty drive stays");
        assertTrue(xml.contains("<source network=\"amirror-drill-0a1b2c3d\"/>") && !xml.contains("br-office"), xml);
        assertTrue(xml.contains("52:54:00:12:34:56") && xml.contains("<model type=\"virtio\"/>"), "the guest's NIC as it knows it");
        assertTrue(xml.contains(SOCKETS.resolve(DRILL + "-serial0.sock").toString()), xml);
        assertTrue(xml.contains(SOCKETS.resolve(DRILL + "-channel1.sock").toString()), xml);
        assertFalse(xml.contains("11111111-serial0.sock") || xml.contains("11111111-channel1.sock"), "the replica's sockets stay its own");
        assertTrue(xml.contains("<log append=\"on\" file=\"" + DIR.resolve("serial0.log") + "\"/>"), xml);
        assertTrue(xml.contains("listen=\"127.0.0.1\"") && xml.contains("autoport=\"yes\"") && !xml.contains("5901")
                && !xml.contains("0.0.0.0"), "graphics on loopback only: " + xml);
        assertTrue(xml.contains("tpm-crb"), "the TPM stays (its state is the point's copy)");
    }

    @Test
    void noNetworkMeansNoNicAndANamedNetworkIsUsedAsGiven() throws IOException {
        String none = DrillDefinition.of(REPLICA, plan(new DrillDefinition.NoNetwork()));
        assertFalse(none.contains("<interface"), none);
        String named = DrillDefinition.of(REPLICA, plan(new DrillDefinition.Named("drills")));
        assertTrue(named.contains("<interface type=\"network\">") && named.contains("<source network=\"drills\"/>"), named);
    }

    @Test
    void aPlanThatDoesNotMatchTheDefinitionIsRefused() {
        DrillDefinition.Plan missing = new DrillDefinition.Plan("x-drill", DRILL, Map.of("sda", DIR.resolve("sda.qcow2"),
                "vdz", DIR.resolve("vdz.qcow2")), DIR.resolve("nvram.fd"), new DrillDefinition.NoNetwork(), SOCKETS, DIR);
        assertThrows(IOException.class, () -> DrillDefinition.of(REPLICA, missing));
        DrillDefinition.Plan noNvram = new DrillDefinition.Plan("x-drill", DRILL, plan(new DrillDefinition.NoNetwork()).overlays(),
                null, new DrillDefinition.NoNetwork(), SOCKETS, DIR);
        assertThrows(IOException.class, () -> DrillDefinition.of(REPLICA, noNvram));
        assertThrows(IOException.class, () -> DrillDefinition.of("<network/>", plan(new DrillDefinition.NoNetwork())));
    }
}
