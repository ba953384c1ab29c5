package io.amirror.standby;

import io.amirror.image.DiskImage;
import io.amirror.lab.DiskSpec;
import io.amirror.lab.DomainSpec;
import io.amirror.lab.GuestConsole;
import io.amirror.lab.Lab;
import io.amirror.lab.LabDomain;
import io.amirror.lab.PrivateTree;
import io.amirror.lab.RealVmTest;
import io.amirror.util.Exec;
import io.amirror.util.FileDigest;
import io.amirror.transport.ReplicaManifest;
import io.amirror.util.PrivateFiles;
import org.junit.jupiter.api.Test;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The replica's definition in the real libvirtd: the lab guest's XML, with a hostile primary's
 * additions, is built into a replica, defined, read back with libvirt's own dump, and started. The
 * dump holds the replica image as the only disk source and none of the additions; the guest boots
 * from the replica (direct kernel from the kit directory the standby allows, serial console on a
 * socket the standby placed) and writes the replica, never the primary's image or a host file.
 */
@RealVmTest
class ReplicaDefinitionRealVmTest {
    private static final String CRON = "/etc/cron.d/amirror-definition-test";

    @Test
    void aHostileLabGuestIsDefinedSafelyAndBootsFromItsReplica(Lab lab) throws Exception {
        LabDomain vm = lab.createDomain(DomainSpec.oneDisk(64L << 20, DiskSpec.Content.EXT4));
        Path work = Files.createTempDirectory(lab.options().workDir(), "definition-");
        PrivateFiles.makeTraversable(work); // QEMU passes through to the replica in the state directory below
        // 0700 root, as the standby makes its socket directory: libvirtd creates the sockets and hands them to QEMU
        Path sockets = Files.createTempDirectory(Path.of("/tmp"), "amdef");
        // the replica as the standby makes one from a copy (seed adopt: qemu-img convert), in its own directories
        Path state = work.resolve("state");
        PrivateFiles.createTraversable(state);
        ReplicaDisk disk = new ReplicaDisk(StandbyLayout.of(state).replicas(), UUID.fromString(vm.libvirtDomain().getUUIDString()),
                "vda", new DiskImage.Tools(lab.host().tool("qemu-img"), lab.host().tool("qemu-nbd")), 3);
        disk.adopt(vm.image("vda"));
        Path replica = disk.image();
        assertEquals(List.of(), PrivateTree.exposed(state), "the standby's state, before the start");
        assertEquals("rw------- root:root", PrivateTree.modeAndOwner(replica));
        // issue 20: another local user reads nothing, neither the guest's data (as qemu-io did) nor the names in there
        Exec.Result nobodyReads = asUser("nobody", Exec.tool("qemu-io"), "-r", "-f", "qcow2", "-c", "read 0 4096", replica.toString());
        assertTrue(nobodyReads.exitCode() != 0 && nobodyReads.stderr().contains("Permission denied"), nobodyReads.toString());
        assertTrue(asUser("nobody", "ls", state.resolve("replicas").toString()).exitCode() != 0, "nobody lists the replicas");
        // QEMU's user passes through to the image but lists nothing, and reads it only once libvirt hands it over
        assertEquals("600", asUser("libvirt-qemu", "stat", "-c", "%a", replica.toString()).orThrow().stdout().strip());
        assertTrue(asUser("libvirt-qemu", "ls", replica.getParent().toString()).exitCode() != 0, "libvirt-qemu lists nothing");
        assertTrue(asUser("libvirt-qemu", Exec.tool("qemu-io"), "-r", "-f", "qcow2", "-c", "read 0 4096", replica.toString())
                .exitCode() != 0, "the shut-off replica is not QEMU's to read");
        byte[] primaryImage = FileDigest.sha256(vm.image("vda"));
        String replicaName = vm.name() + "-defn";
        try {
            String primaryXml = hostile(vm.libvirtDomain().getXMLDesc(0));
            ReplicaManifest m = new ReplicaManifest(UUID.fromString(vm.libvirtDomain().getUUIDString()),
                    vm.name(), 1, primaryXml, Map.of(), Map.of(), 24, 86400, null);
            var allow = new ReplicaDefinition.Allowlist(Set.of(), Set.of(), List.of(lab.kit().kernel().getParent()), null,
                    null).resolved();
            ReplicaDefinition.Result r = ReplicaDefinition.build(m, Map.of("vda", replica),
                    new ReplicaDefinition.Options("-defn", sockets, state, allow), HostFiles.REAL);
            assertEquals(replicaName, r.name());
            assertTrue(r.notes().size() >= 9, "each hostile addition is noted: " + r.notes());

            Domain d = lab.libvirt().domainDefineXML(r.xml());
            String dumped = d.getXMLDesc(0);
            String blk = Exec.run(Duration.ofSeconds(30), "virsh", "-c", lab.options().libvirtUri(), "domblklist",
                    replicaName, "--details").orThrow().stdout();
            List<String> rows = blk.lines().map(String::strip).filter(l -> l.startsWith("file")).toList();
            assertEquals(2, rows.size(), "the replicated disk and the emptied CD-ROM: " + blk);
            assertEquals(List.of("file", "disk", "vda", replica.toString()), List.of(rows.get(0).split("\\s+")), blk);
            assertEquals(List.of("file", "cdrom", "sda", "-"), List.of(rows.get(1).split("\\s+")), blk);
            for (String never : List.of("/etc/shadow", "/etc/cron.d", "0.0.0.0", "qemu:commandline", "<filesystem",
                    "type='direct'", "/bin/false", "seclabel", "<transient", "passwd", vm.image("vda").toString())) {
                assertFalse(dumped.contains(never), never + " survived in the defined domain: " + dumped);
            }
            assertTrue(dumped.contains("<kernel>" + lab.kit().kernel().toRealPath() + "</kernel>"), dumped);
            assertEquals(1, d.isPersistent(), "a replica is persistent, whatever the primary said");

            // QEMU does need the way through: with the disk's directory 0700 the start fails on the image
            Files.setPosixFilePermissions(replica.getParent(), PosixFilePermissions.fromString("rwx------"));
            LibvirtException blocked = assertThrows(LibvirtException.class, d::create);
            System.out.println("start with the replica's directory 0700: " + blocked.getMessage());
            assertTrue(blocked.getMessage().contains("Permission denied"), blocked.getMessage());
            assertEquals("rw------- root:root", PrivateTree.modeAndOwner(replica), "the failed start gave the image back");
            PrivateFiles.makeTraversable(replica.getParent());
            d.create();
            String running = PrivateTree.modeAndOwner(replica);
            System.out.println("replica image while the replica domain runs: " + running + "; on the way: "
                    + PrivateTree.modeAndOwner(replica.getParent()) + ", " + PrivateTree.modeAndOwner(replica.getParent().getParent())
                    + ", " + PrivateTree.modeAndOwner(state.resolve("replicas")) + ", " + PrivateTree.modeAndOwner(state)
                    + "; sockets " + PrivateTree.modeAndOwner(sockets));
            assertTrue(running.startsWith("rw------- libvirt-qemu:"), "libvirt gave QEMU the image, and only it: " + running);
            String path = dumped.replaceAll("(?s).*<serial type='unix'>\\s*<source mode='bind' path='([^']+)'.*", "$1");
            assertTrue(path.startsWith(sockets.toString()), "the serial console is on the standby's socket: " + path);
            try (GuestConsole c = GuestConsole.connect(replicaName, Path.of(path), Duration.ofSeconds(30))) {
                c.awaitReady(Duration.ofSeconds(180));
                assertEquals("ok", c.check("mount -t ext4 /dev/vda /mnt && echo replica > /mnt/who && sync && umount /mnt "
                        + "&& echo ok").strip());
                assertEquals("0", c.check("ls /dev/vd* | grep -c vdb; true").strip(), "only the replicated disk");
            }
            String live = d.getXMLDesc(0);
            assertTrue(live.contains("<graphics type='vnc'") && live.contains("listen='127.0.0.1'"), live);
            d.destroy();
            assertEquals("rw------- root:root", PrivateTree.modeAndOwner(replica), "libvirt gave the image back");
            assertEquals(List.of(), PrivateTree.exposed(state), "the standby's state, after the run");
            assertFalse(Files.exists(Path.of(CRON)), "the primary's serial file on the standby was never made");
            assertArrayEquals(primaryImage, FileDigest.sha256(vm.image("vda")), "the primary's image was not touched");
            String who = Exec.run(Duration.ofSeconds(30), "sh", "-c", "qemu-img convert -O raw " + replica + " "
                    + work.resolve("r.raw") + " && grep -c replica " + work.resolve("r.raw") + "; true").orThrow().stdout();
            assertFalse(who.strip().equals("0"), "the guest wrote its replica");
        } finally {
            try {
                Domain d = lab.libvirt().domainLookupByName(replicaName);
                if (d.isActive() == 1) {
                    d.destroy();
                }
                d.undefine();
            } catch (LibvirtException gone) {
                // not defined
            }
            Files.deleteIfExists(Path.of(CRON));
            Exec.run(Duration.ofMinutes(1), "rm", "-rf", work.toString(), sockets.toString());
        }
    }

    private static Exec.Result asUser(String user, String... cmd) {
        String[] argv = new String[cmd.length + 4];
        argv[0] = "runuser";
        argv[1] = "-u";
        argv[2] = user;
        argv[3] = "--";
        System.arraycopy(cmd, 0, argv, 4, cmd.length);
        Exec.Result r = Exec.run(Duration.ofSeconds(30), argv);
        System.out.println("as " + user + ": " + String.join(" ", cmd) + " -> " + r.exitCode() + " " + r.stderr().strip());
        return r;
    }

    /** The lab guest's XML as a hostile primary would send it. */
    private static String hostile(String xml) {
        return xml.replaceFirst("<domain type='qemu'", "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'")
                .replaceFirst("</devices>", """
                        <disk type='file' device='cdrom'><source file='/etc/shadow'/><target dev='sda' bus='sata'/><readonly/></disk>
                        <disk type='file' device='disk'><source file='/etc/shadow'/><target dev='vdb' bus='virtio'/><readonly/></disk>
                        <filesystem type='mount' accessmode='passthrough'><source dir='/'/><target dir='hostroot'/></filesystem>
                        <serial type='file'><source path='%s'/><target port='1'/></serial>
                        <interface type='direct'><source dev='lo' mode='passthrough'/></interface>
                        <interface type='ethernet'><script path='/bin/false'/></interface>
                        <graphics type='vnc' port='-1' autoport='yes' listen='0.0.0.0' passwd='x'><listen type='address' address='0.0.0.0'/></graphics>
                        </devices>
                        <seclabel type='none'/>
                        <transient/>
                        <qemu:commandline><qemu:arg value='-fw_cfg'/><qemu:arg value='name=opt/x,file=/etc/shadow'/></qemu:commandline>
                        """.formatted(CRON))
                .replaceFirst("<emulator>[^<]*</emulator>", "<emulator>/bin/false</emulator>")
                // a second <source> before the driver: libvirt once took it instead of the replica
                .replaceFirst("<disk type='file' device='disk'>\\s*<driver", "<disk type='file' device='disk'><source file='/etc/shadow'/><driver");
    }
}
