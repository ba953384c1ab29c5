package io.amirror.standby;

import io.amirror.config.Policy;
import io.amirror.config.StandbyConfig;
import io.amirror.control.HookEventQueue;
import io.amirror.libvirt.ChainState;
import io.amirror.libvirt.FileChainStore;
import io.amirror.primary.DomainStatus;
import io.amirror.primary.Replication;
import io.amirror.primary.ReplicationCycle;
import io.amirror.primary.StandbyLink;
import io.amirror.spool.Spool;
import io.amirror.transport.Identity;
import io.amirror.transport.ReplicaManifest;
import io.amirror.util.PrivateFiles;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 20: guest data and secrets are never readable by other local users. A real replication
 * over loopback TLS, with the test process's umask as it is (0022 on a developer's shell or CI):
 * the primary's replication cycle (spool, hash maps, their journals, the cycle's files, a chain's
 * files, the hook queue, the identity) ships two points of a disk to a real standby (partials,
 * journal, qcow2 image with its recovery points, the manifest carrying a VNC password, the
 * definition report, the socket directory); a seed is adopted from a copy ({@code qemu-img
 * convert}), exported to removable media and imported into another standby. Then every file and
 * directory under both state directories and the media is walked: nothing is readable, writable
 * or executable by group or others, except the documented traversal bits of the directories on
 * QEMU's way to a replica image (the state directory, {@code replicas/}, {@code replicas/UUID/},
 * {@code replicas/UUID/DISK/}: 0710 with group libvirt-qemu, or 0711).
 */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class StateModesOnBothSidesTest {
    static final UUID GUEST = UUID.fromString("1b4e28ba-2fa1-41d2-883f-0016d3cca427");
    static final UUID ADOPTED = UUID.fromString("2c5f39cb-3ab2-42e3-994a-1127e4ddb538");
    static final String VNC_PASSWORD = "vnc-s3cret-of-the-guest";
    static final Pattern UUID_NAME = Pattern.compile("[0-9a-f-]{36}");
    static LoopbackStandby f;

    @BeforeAll
    static void fixture() throws IOException {
        f = LoopbackStandby.get();
    }

    @Test
    void noStateFileOrDirectoryOfEitherSideIsReadableByOtherUsers(@TempDir Path dir) throws Exception {
        System.out.println("the test process's umask: " + umask() + " (the modes below must not depend on it)");
        Path primaryState = dir.resolve("primary");
        Path standbyState = dir.resolve("standby");
        Identity primary = Identity.loadOrCreate(primaryState, "primary");
        Identity standby = Identity.loadOrCreate(standbyState, "standby");
        MemoryGuest source = new MemoryGuest(GUEST, domainXml(GUEST)).add("vda", 4 << 20);
        StandbyConfig config = LoopbackStandby.trusting(standbyState, primary, true);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (StandbyService s = StandbyService.start(config, standby, f.tools);
             HookEventQueue events = new HookEventQueue(primaryState, e -> { })) {
            Policy policy = LoopbackStandby.officePolicy(s, standby);
            Spool spool = new Spool(primaryState.resolve("spool"), 1L << 30);
            StandbyLink link = new StandbyLink(primary, policy.standby(), null, Duration.ofSeconds(30));
            Replication replication = new Replication(source, primaryState, spool, pool, 2);
            ReplicationCycle.Outcome first = new ReplicationCycle(replication, policy, link, spool, new DomainStatus("files")).run();
            source.write("vda", 1 << 20, 256 << 10);
            ReplicationCycle.Outcome second = new ReplicationCycle(replication, policy, link, spool, new DomainStatus("files")).run();
            assertEquals(1, first.newPoint());
            assertEquals(2, second.newPoint());
            // a point in the spool, not yet shipped (the daemon was cut off), and a chain's files as a libvirt domain keeps them
            source.write("vda", 2 << 20, 64 << 10);
            replication.capture(new io.amirror.delta.XzBlockCodec.Preset(1, false));
            spool.markShipping(spool.entries(GUEST, "vda").get(0));
            FileChainStore chains = new FileChainStore(primaryState);
            chains.save(new ChainState(GUEST.toString(), "files", 2, List.of(2, 3)));
            chains.saveCheckpointXml(GUEST.toString(), 3, "<domaincheckpoint><name>amirror-3</name></domaincheckpoint>");
        } finally {
            pool.shutdownNow();
        }

        // the standby's other ways in: a transfer cut mid-way, a seed adopted from a copy, a seed on media, imported
        ReplicaDisk vda = new ReplicaDisk(LoopbackStandby.replicas(standbyState), GUEST, "vda", f.tools, 3);
        Path partial = vda.prepareIncoming(2, 3, 1 << 20, new byte[32], 64L << 20, Long.MAX_VALUE);
        try (PartialDelta p = PartialDelta.open(partial)) {
            p.append(new byte[4096]);
        }
        ReplicaDisk adopted = new ReplicaDisk(LoopbackStandby.replicas(standbyState), ADOPTED, "vda", f.tools, 3);
        adopted.adopt(f.v1);
        Path media = dir.resolve("media").resolve("files");
        SeedMedia.write(media, LoopbackStandby.DOM, "files", 1, List.of(f.d01), List.of("vda"), new ReplicaManifest(
                LoopbackStandby.DOM, "files", 1, domainXml(LoopbackStandby.DOM), Map.of(), Map.of(), 3, 86400, null));
        Path otherStandby = dir.resolve("other-standby");
        PrivateFiles.createTraversable(otherStandby);
        SeedMedia.importInto(media, LoopbackStandby.replicas(otherStandby), f.tools);

        Path manifest = StandbyLayout.domain(LoopbackStandby.replicas(standbyState), GUEST).manifest();
        assertTrue(Files.readString(manifest).contains(VNC_PASSWORD), "the manifest carries the primary's VNC password");
        assertTrue(Files.isDirectory(standbyState.resolve("sockets")), "the definer made the replicas' socket directory");
        assertTrue(Files.exists(StandbyLayout.domain(LoopbackStandby.replicas(standbyState), GUEST).definitionReport()));
        assertTrue(Files.exists(StandbyLayout.domain(LoopbackStandby.replicas(standbyState), GUEST).defined()),
                "the replica domain was defined (libvirt's test driver)");
        assertTrue(Files.exists(vda.image()) && Files.exists(adopted.image()) && Files.exists(adopted.seedMap()));
        assertEquals(List.of(1, 2), vda.points().stream().map(ReplicaDisk.Point::point).toList());
        assertTrue(Files.exists(primaryState.resolve("maps").resolve(GUEST.toString()).resolve("vda.map.pending-3")));

        List<String> problems = new ArrayList<>();
        int[] seen = {0};
        for (Path root : List.of(primaryState, standbyState, otherStandby, media)) {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) throws IOException {
                    check(root, d, true);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    check(root, file, false);
                    return FileVisitResult.CONTINUE;
                }

                private void check(Path root, Path p, boolean directory) throws IOException {
                    seen[0]++;
                    PosixFileAttributes a = Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                    Set<PosixFilePermission> m = a.permissions();
                    String mode = PosixFilePermissions.toString(m) + " " + a.group().getName();
                    boolean onQemusWay = directory && root != media && onTheWayToAReplica(root.relativize(p));
                    if (onQemusWay) {
                        boolean toItsGroup = m.equals(PrivateFiles.TRAVERSE_GROUP)
                                && a.group().getName().equals(PrivateFiles.QEMU_USER);
                        if (!toItsGroup && !m.equals(PrivateFiles.TRAVERSE_ANY)) {
                            problems.add(p + ": " + mode + " (QEMU's way to a replica: rwx--x--- group libvirt-qemu, or rwx--x--x)");
                        }
                    } else if (!PrivateFiles.isPrivate(m)) {
                        problems.add(p + ": " + mode);
                    }
                }
            });
        }
        System.out.println(seen[0] + " paths checked");
        assertTrue(seen[0] > 40, "the walk saw the trees: " + seen[0]);
        assertEquals(List.of(), problems, "readable, writable or searchable by other users");
    }

    /** The documented traversal directories, relative to a state directory: "", replicas, replicas/UUID, replicas/UUID/DISK. */
    static boolean onTheWayToAReplica(Path rel) {
        int n = rel.toString().isEmpty() ? 0 : rel.getNameCount();
        return n == 0 || rel.getName(0).toString().equals("replicas") && n <= 3
                && (n < 2 || UUID_NAME.matcher(rel.getName(1).toString()).matches());
    }

    static String domainXml(UUID uuid) {
        return """
                <domain type='qemu'>
                  <name>files</name>
                  <uuid>%s</uuid>
                  <memory unit='KiB'>131072</memory>
                  <os><type arch='x86_64' machine='pc'>hvm</type></os>
                  <devices>
                    <disk type='file' device='disk'>
                      <driver name='qemu' type='qcow2'/>
                      <source file='/var/lib/libvirt/images/files.qcow2'/>
                      <target dev='vda' bus='virtio'/>
                    </disk>
                    <serial type='pty'><target port='0'/></serial>
                    <graphics type='vnc' port='-1' autoport='yes' passwd='%s'/>
                  </devices>
                </domain>
                """.formatted(uuid, VNC_PASSWORD);
    }

    static String umask() {
        try {
            return Files.readAllLines(Path.of("/proc/self/status")).stream().filter(l -> l.startsWith("Umask:"))
                    .map(l -> l.substring(6).strip()).findFirst().orElse("unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }
}
