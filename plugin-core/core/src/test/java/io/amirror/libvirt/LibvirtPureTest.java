package io.amirror.libvirt;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.LibvirtException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The parts of the libvirt boundary that need no libvirt: naming, XML, the state directory. */
class LibvirtPureTest {

    @Test
    void hookInstallWritesScriptAndSettingsAndSaysWhenLibvirtdMustRestart(@TempDir Path dir) throws Exception {
        Path hooks = dir.resolve("hooks");
        Path conf = dir.resolve("etc/hook.conf");
        LibvirtHook.Installed first = LibvirtHook.install(hooks, conf, Path.of("/var/lib/amirror"), Path.of("/usr/bin/amirror"));
        assertTrue(first.restartLibvirtd(), "no qemu hook before: libvirtd must look again");
        assertTrue(Files.isExecutable(first.script()));
        assertEquals(LibvirtHook.script(), Files.readString(first.script()));
        assertTrue(Files.readString(conf).contains("\nprimary_state=/var/lib/amirror\namirror=/usr/bin/amirror\n"));
        assertFalse(LibvirtHook.install(hooks, conf, Path.of("/s"), Path.of("/a")).restartLibvirtd(), "already there");
        assertThrows(IllegalArgumentException.class, () -> LibvirtHook.install(hooks, conf, Path.of("/x\nevil=1"),
                Path.of("/a")));
        // the single-file form never replaces another tool's hook
        Path other = dir.resolve("other");
        Files.createDirectories(other);
        Files.writeString(other.resolve("qemu"), "#!/bin/sh\nexit 0\n");
        assertThrows(IOException.class, () -> LibvirtHook.installSingleFile(other, conf, Path.of("/s"), Path.of("/a")));
        assertEquals("#!/bin/sh\nexit 0\n", Files.readString(other.resolve("qemu")));
        assertTrue(LibvirtHook.installSingleFile(dir.resolve("single"), conf, Path.of("/s"), Path.of("/a")).restartLibvirtd());
    }

    @Test
    void hookUninstallRemovesOnlyAmirrorsHook(@TempDir Path dir) throws Exception {
        Path hooks = dir.resolve("hooks");
        Path conf = dir.resolve("etc/hook.conf");
        LibvirtHook.Installed in = LibvirtHook.install(hooks, conf, Path.of("/s"), Path.of("/a"));
        Path neighbour = hooks.resolve("qemu.d/other-tool");
        Files.writeString(neighbour, "#!/bin/sh\nexit 0\n");
        LibvirtHook.Removed r = LibvirtHook.uninstall(hooks, conf);
        assertEquals(List.of(in.script(), conf), r.files());
        assertFalse(r.restartLibvirtd(), "libvirtd lists qemu.d at each event");
        assertTrue(Files.exists(neighbour), "another tool's script stays");
        assertEquals(List.of(), LibvirtHook.uninstall(hooks, conf).files(), "twice: nothing left to remove");

        // an older amirror's script (another text, the same marker) is amirror's too
        Path single = dir.resolve("single");
        LibvirtHook.installSingleFile(single, conf, Path.of("/s"), Path.of("/a"));
        Files.writeString(single.resolve("qemu"), "#!/bin/sh\n" + LibvirtHook.MARKER + "\n# an older version\nexit 0\n");
        LibvirtHook.Removed s = LibvirtHook.uninstall(single, conf);
        assertEquals(List.of(single.resolve("qemu"), conf), s.files());
        assertTrue(s.restartLibvirtd(), "the single hook path is libvirtd's until it restarts");

        // another tool's single qemu hook stays; a foreign script at amirror's own path is refused, nothing removed
        Path foreign = dir.resolve("foreign");
        Files.createDirectories(foreign.resolve("qemu.d"));
        Files.writeString(foreign.resolve("qemu"), "#!/bin/sh\nexit 0\n");
        Files.writeString(conf, "primary_state=/s\n");
        assertEquals(List.of(conf), LibvirtHook.uninstall(foreign, conf).files());
        assertTrue(Files.exists(foreign.resolve("qemu")));
        Files.writeString(foreign.resolve("qemu.d/amirror"), "#!/bin/sh\necho not ours\n");
        Files.writeString(conf, "primary_state=/s\n");
        IOException e = assertThrows(IOException.class, () -> LibvirtHook.uninstall(foreign, conf));
        assertTrue(e.getMessage().contains("not amirror's hook"), e.getMessage());
        assertTrue(Files.exists(foreign.resolve("qemu.d/amirror")) && Files.exists(conf), "nothing removed");
    }

    @Test
    void onlyAmirrorCheckpointNamesAreOurs() {
        assertEquals(OptionalInt.of(12), CheckpointChain.parse("amirror.12"));
        for (String other : List.of("amirror.", "amirror.0", "amirror.01", "amirror.1x", "backup.1", "amirror.99999999999",
                "virtnbdbackup.3")) {
            assertFalse(CheckpointChain.parse(other).isPresent(), other);
        }
    }

    @Test
    void readsDisksFromDomainXml() {
        String xml = """
                <domain type='kvm'><name>n</name><devices>
                  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
                    <source file='/img/a b.qcow2'/><target dev='vda' bus='virtio'/></disk>
                  <disk type='file' device='disk'><driver name='qemu' type='raw'/>
                    <source file='/img/b.raw'/><target dev='vdb' bus='virtio'/><readonly/></disk>
                  <disk type='file' device='cdrom'><target dev='sda' bus='sata'/></disk>
                </devices></domain>""";
        List<DiskInfo> disks = DomainXmlReader.disks(xml);
        assertEquals(3, disks.size());
        assertEquals(new DiskInfo("vda", Path.of("/img/a b.qcow2"), "qcow2", false, "disk"), disks.get(0));
        assertTrue(disks.get(0).replicated() && disks.get(0).incrementallyTrackable());
        assertFalse(disks.get(1).replicated(), "read-only disks are not replicated");
        assertFalse(disks.get(2).replicated(), "cdroms are not replicated");
    }

    @Test
    void readsBlockDevicesAndKnowsNetworkDisksHaveNoLocalSource() {
        String xml = """
                <domain type='kvm'><name>n</name><devices>
                  <disk type='block' device='disk'><driver name='qemu' type='raw' cache='none'/>
                    <source dev='/dev/vg0/data'/><target dev='vdb' bus='virtio'/></disk>
                  <disk type='network' device='disk'><driver name='qemu' type='raw'/>
                    <source protocol='nbd' name='export'><host name='nas' port='10809'/></source>
                    <target dev='vdc' bus='virtio'/></disk>
                  <disk device='disk'><source file='/img/untyped'/><target dev='vdd'/></disk>
                </devices></domain>""";
        List<DiskInfo> disks = DomainXmlReader.disks(xml);
        assertEquals(new DiskInfo("vdb", Path.of("/dev/vg0/data"), "raw", false, "disk", "block"), disks.get(0));
        assertTrue(disks.get(0).replicated() && disks.get(0).readWhole() && !disks.get(0).incrementallyTrackable());
        assertEquals(new DiskInfo("vdc", null, "raw", false, "disk", "network"), disks.get(1));
        assertTrue(disks.get(1).writable() && !disks.get(1).replicated(), "writable, but no local source to read");
        assertEquals(new DiskInfo("vdd", Path.of("/img/untyped"), "raw", false, "disk", "file"), disks.get(2),
                "libvirt's defaults: a file, raw");
    }

    @Test
    void refusesXmlWithEntities() {
        String evil = "<!DOCTYPE d [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><domain><devices>&x;</devices></domain>";
        assertThrows(IllegalArgumentException.class, () -> DomainXmlReader.disks(evil));
    }

    @Test
    void rewritesTheParentOfASavedCheckpoint() {
        String saved = "<domaincheckpoint><name>amirror.5</name><parent><name>amirror.4</name></parent>"
                + "<creationTime>1</creationTime><disks><disk name='vda' checkpoint='bitmap'/></disks></domaincheckpoint>";
        String moved = CheckpointXml.withParent(saved, "amirror.3");
        assertTrue(moved.contains("<parent><name>amirror.3</name></parent>"), moved);
        assertFalse(moved.contains("amirror.4"), moved);
        String root = CheckpointXml.withParent(saved, null);
        assertFalse(root.contains("<parent>"), root);
        assertTrue(root.contains("<name>amirror.5</name>") && root.contains("checkpoint=\"bitmap\""), root);
    }

    @Test
    void rawDisksAreExportedInFullBesideIncrementalOnesAndCheckpointedWithoutBitmap() {
        List<DiskInfo> all = List.of(new DiskInfo("vda", Path.of("/a"), "qcow2", false, "disk"),
                new DiskInfo("vdb", Path.of("/b.raw"), "raw", false, "disk"),
                new DiskInfo("vdc", Path.of("/dev/loop3"), "raw", false, "disk", "block"),
                new DiskInfo("vdd", Path.of("/t"), "raw", true, "disk"));
        List<String> exported = List.of("vda", "vdb", "vdc");
        String backup = PullBackup.backupXml(all, exported, 4, Path.of("/j/s.sock"), Path.of("/j"));
        assertTrue(backup.contains("<incremental>amirror.4</incremental>"), backup);
        assertTrue(backup.contains("<disk name='vda' backup='yes' type='file'><scratch file='/j/vda.scratch'/>"), backup);
        assertTrue(backup.contains("<disk name='vdb' backup='yes' type='file' backupmode='full'><scratch file='/j/vdb.scratch'/>"),
                backup);
        // a block device's scratch is a file all the same
        assertTrue(backup.contains("<disk name='vdc' backup='yes' type='file' backupmode='full'><scratch file='/j/vdc.scratch'/>"),
                backup);
        assertTrue(backup.contains("<disk name='vdd' backup='no'/>"), backup);
        String first = PullBackup.backupXml(all, exported, 0, Path.of("/j/s.sock"), Path.of("/j"));
        assertFalse(first.contains("incremental") || first.contains("backupmode"), "a first point is full anyway: " + first);
        String cp = PullBackup.checkpointXml(all, exported, 5);
        assertTrue(cp.contains("<disk name='vda' checkpoint='bitmap'/>"), cp);
        assertTrue(cp.contains("<disk name='vdb' checkpoint='no'/>") && cp.contains("<disk name='vdc' checkpoint='no'/>")
                && cp.contains("<disk name='vdd' checkpoint='no'/>"), cp);

        // raw disks alone: no incremental part at all, and a checkpoint without bitmaps (libvirt 9.0 accepts both)
        List<DiskInfo> rawOnly = all.subList(1, 3);
        String raw = PullBackup.backupXml(rawOnly, List.of("vdb", "vdc"), 4, Path.of("/j/s.sock"), Path.of("/j"));
        assertFalse(raw.contains("incremental") || raw.contains("backupmode"), raw);
        assertFalse(PullBackup.checkpointXml(rawOnly, List.of("vdb", "vdc"), 5).contains("bitmap"));
    }

    @Test
    void backupAndCheckpointXmlNameEveryDisk() {
        List<DiskInfo> all = List.of(new DiskInfo("vda", Path.of("/a"), "qcow2", false, "disk"),
                new DiskInfo("vdb", Path.of("/b"), "raw", true, "disk"));
        String backup = PullBackup.backupXml(all, List.of("vda"), 4, Path.of("/j/s.sock"), Path.of("/j"));
        assertTrue(backup.contains("<incremental>amirror.4</incremental>"), backup);
        assertTrue(backup.contains("<disk name='vda' backup='yes' type='file'><scratch file='/j/vda.scratch'/>"), backup);
        assertTrue(backup.contains("<disk name='vdb' backup='no'/>"), backup);
        assertFalse(PullBackup.backupXml(all, List.of("vda"), 0, Path.of("/s"), Path.of("/j")).contains("incremental"));
        String cp = PullBackup.checkpointXml(all, List.of("vda"), 5);
        assertTrue(cp.contains("<name>amirror.5</name>") && cp.contains("<disk name='vdb' checkpoint='no'/>"), cp);
    }

    @Test
    void chainStateSurvivesARoundTripAndRejectsStrangers(@TempDir Path dir) throws Exception {
        FileChainStore store = new FileChainStore(dir);
        String uuid = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assertEquals(ChainState.empty(uuid, "web"), store.load(uuid, "web"));
        ChainState s = new ChainState(uuid, "web", 3, List.of(3, 4));
        store.save(s);
        store.saveCheckpointXml(uuid, 4, "<domaincheckpoint/>");
        assertEquals(s, store.load(uuid, "renamed"));
        assertEquals("<domaincheckpoint/>", store.checkpointXml(uuid, 4).orElseThrow());
        store.deleteCheckpointXml(uuid, 4);
        assertTrue(store.checkpointXml(uuid, 4).isEmpty());

        assertThrows(IllegalArgumentException.class, () -> store.load("../../etc", "x"), "UUIDs only, no paths");
        Path chainFile = dir.resolve("chains").resolve(uuid).resolve("chain.json");
        Files.writeString(chainFile, "{\"points\": [5, 2]}");
        var e = assertThrows(IOException.class, () -> store.load(uuid, "web"));
        assertTrue(e.getMessage().contains(chainFile + ": chain state") && e.getMessage().contains("must be increasing"),
                e.getMessage());
    }

    @Test
    void libvirtBitmapErrorsBecomeBrokenChainErrors() {
        var exists = PullBackup.classify(fakeError("internal error: unable to execute QEMU command "
                + "'transaction': Bitmap already exists: amirror.1"), 0, 1);
        assertTrue(exists instanceof ChainBrokenException && exists.getMessage().contains("reset the chain"));
        var other = PullBackup.classify(fakeError("Requested operation is not valid: domain is not running"), 2, 3);
        assertFalse(other instanceof ChainBrokenException);
        assertTrue(other.getMessage().contains("from amirror.2 to amirror.3"), other.getMessage());
    }

    private static LibvirtException fakeError(String message) {
        // LibvirtException has no public constructor; a subclass-free stand-in through reflection
        try {
            var err = new org.libvirt.Error(new org.libvirt.jna.virError());
            var f = org.libvirt.Error.class.getDeclaredField("message");
            f.setAccessible(true);
            f.set(err, message);
            var c = LibvirtException.class.getDeclaredConstructor(org.libvirt.Error.class);
            c.setAccessible(true);
            return c.newInstance(err);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }
}
