package io.amirror.bridge;

import io.amirror.lab.Cli;
import io.amirror.lab.LoopbackStandby;
import io.amirror.lab.GuestConsole;
import io.amirror.lab.Lab;
import io.amirror.lab.RealVmTest;
import io.amirror.config.Policy;
import io.amirror.config.PolicyLoader;
import io.amirror.image.DiskImage;
import io.amirror.primary.DomainStatus;
import io.amirror.primary.Replication;
import io.amirror.primary.ReplicationCycle;
import io.amirror.primary.StandbyLink;
import io.amirror.spool.Spool;
import io.amirror.standby.ReplicaDisk;
import io.amirror.standby.StandbyLayout;
import io.amirror.standby.StandbyService;
import io.amirror.transport.Identity;
import io.amirror.transport.Sender;
import io.amirror.util.Exec;
import io.amirror.util.FileTrees;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A guest no libvirt knows: a bare {@code qemu-system-x86_64} boots the lab kernel with its disk on
 * the bridge's NBD socket and writes it, while points are cut and replicated through the core's
 * pipeline (the daemon's cycle, as for a libvirt domain) to a standby receiver. The replica must equal the disk; a bridge that lost its state
 * repairs the replica by hashes.
 */
@RealVmTest
class BridgeRealVmTest {
    private static final long DISK = 64L << 20;

    @Test
    void aBareQemuGuestOnTheBridgeIsReplicatedAndRepairedByHashes(Lab lab) throws Exception {
        Path work = Files.createTempDirectory(lab.options().workDir(), "bridge-");
        work.toFile().setExecutable(true, false);
        Path image = work.resolve("guest.raw");
        lab.qemuImg().createRaw(image, DISK);
        Path bridgeState = work.resolve("guest.raw.amirror");
        Path nbd = work.resolve("nbd.sock");
        Path console = work.resolve("console.sock");
        DiskImage.Tools tools = new DiskImage.Tools(lab.host().tool("qemu-img"), lab.host().tool("qemu-nbd"));
        Identity primaryId = Identity.loadOrCreate(work.resolve("primary"), "primary");
        Identity standbyId = Identity.loadOrCreate(work.resolve("standby"), "standby");
        Path replicas = StandbyLayout.of(work).replicas();
        ExecutorService pool = Executors.newFixedThreadPool(2);
        BridgeVolume volume = BridgeVolume.open(image, bridgeState, null, "bare-guest", "vda", List.of("qemu-system-x86_64"));
        BridgeServer server = BridgeServer.start(volume, bridgeState, nbd, null);
        Process qemu = null;
        try (StandbyService standby = LoopbackStandby.start(work, standbyId, primaryId.fingerprint(), tools)) {
            Path policyFile = work.resolve("bare-guest.json");
            Files.writeString(policyFile, """
                    {"name": "bare", "source": "bridge", "domains": {"names": ["bare-guest"]},
                     "bridge": {"image": "%s", "socket": "%s", "state": "%s"},
                     "standby": {"address": "127.0.0.1:%d", "fingerprint": "%s"},
                     "rpo": {"interval": "1h"}, "compression": "1"}
                    """.formatted(image, nbd, bridgeState, standby.port(), standbyId.fingerprint()));
            Policy policy = PolicyLoader.load(policyFile);
            Cycles replication = new Cycles(policy, new StandbyLink(primaryId, policy.standby(), null,
                    Duration.ofSeconds(30)), work.resolve("primary"), pool);

            qemu = new ProcessBuilder(lab.host().tool("qemu-system-x86_64").toString(), "-machine", "pc,accel=tcg",
                    "-m", "256", "-display", "none", "-no-reboot", "-monitor", "none",
                    "-kernel", lab.kit().kernel().toString(), "-initrd", lab.kit().initramfs().toString(),
                    "-append", "console=ttyS0 quiet loglevel=1 panic=-1",
                    "-drive", "file=nbd+unix:///?socket=" + nbd + ",format=raw,if=virtio,cache=none,discard=unmap",
                    "-serial", "unix:" + console + ",server=on,wait=off")
                    .redirectErrorStream(true).redirectOutput(work.resolve("qemu.log").toFile()).start();
            try (GuestConsole guest = GuestConsole.connect("bare-guest", console, Duration.ofSeconds(60))) {
                guest.awaitReady(Duration.ofSeconds(180));
                guest.check("dd if=/dev/urandom of=/dev/vda bs=64k seek=16 count=32 conv=fsync 2>/dev/null");

                ReplicationCycle.Outcome first = replication.run();
                System.out.printf("bridge first point: %d bytes read, delta %d bytes%n", first.captured().dataBytes(),
                        first.deltaBytes());
                assertEquals(0, first.basePoint());
                assertTrue(first.captured().dataBytes() >= 2L << 20 && first.captured().dataBytes() < 3L << 20,
                        "a full point of a sparse disk reads what the guest wrote, not the 64 MiB");
                ReplicaDisk replica = new ReplicaDisk(replicas, volume.state().uuid(), "vda", tools, 3);
                assertIdentical(lab, image, replica.image());

                // a guest writing all the time, while points are cut and read
                guest.check("(i=0; while [ $i -lt 100000 ]; do dd if=/dev/urandom of=/dev/vda bs=4k "
                        + "seek=$(( (i * 7919) % 16000 )) count=8 conv=fsync 2>/dev/null; usleep 100000; i=$((i+1)); done) "
                        + "</dev/null >/dev/null 2>&1 & echo $! > /tmp/writer");
                for (int i = 0; i < 3; i++) {
                    Thread.sleep(2000);
                    ReplicationCycle.Outcome c = replication.run();
                    System.out.printf("bridge point %d while writing: %d bytes read, delta %d bytes%n", c.newPoint(),
                            c.captured().dataBytes(), c.deltaBytes());
                    assertTrue(c.captured().dataBytes() < DISK / 4, "an incremental point reads what was written");
                }
                guest.check("kill $(cat /tmp/writer); sleep 1; sync");
                guest.check("dd if=/dev/zero of=/dev/vda bs=64k seek=200 count=4 conv=fsync 2>/dev/null && "
                        + "blkdiscard -o 2097152 -l 1048576 /dev/vda 2>/dev/null || true; sync");
                ReplicationCycle.Outcome last = replication.run();
                assertEquals(last.newPoint(), replica.state().point());
                assertIdentical(lab, image, replica.image());
                assertEquals(List.of(last.newPoint()), volume.state().points(), "older points retired after the ack");

                // the bridge loses its state (a new host, a wiped directory): the replica is repaired by hashes
                UUID uuid = volume.state().uuid();
                server.close();
                volume.close();
                FileTrees.delete(bridgeState);
                volume = BridgeVolume.open(image, bridgeState, uuid, "bare-guest", "vda", List.of("qemu-system-x86_64"));
                server = BridgeServer.start(volume, bridgeState, nbd, null);
            }
            // QEMU lost its NBD connection with the old server: stop it; the disk is quiet now
            qemu.destroyForcibly().waitFor();
            qemu = null;
            new BridgeVolumeWriter(volume).write(40L << 20, 3);
            ReplicationCycle.Outcome repair = replication.run();
            System.out.printf("bridge repair after lost state: %d bytes read, delta %d bytes, %d sent%n",
                    repair.captured().dataBytes(), repair.deltaBytes(), repair.sentBytes());
            assertTrue(repair.full() && repair.basePoint() != 0, "a repair by hashes after the standby's point");
            assertTrue(repair.deltaBytes() < 64 * 1024, "only the 3 changed blocks travel, not the disk: "
                    + repair.deltaBytes());
            ReplicaDisk replica = new ReplicaDisk(replicas, volume.state().uuid(), "vda", tools, 3);
            assertIdentical(lab, image, replica.image());

            // the primary is gone: the standby writes the replica out for a bridge and prints the launcher
            Path restored = work.resolve("restored.raw");
            String out = Cli.cli(work, "bridge-failover", 0, "bridge", "failover", "bare-guest",
                    "--state", work.toString(), "--image", restored.toString());
            assertTrue(out.contains("then its launcher: qemu-system-x86_64"), out);
            assertEquals(-1, Files.mismatch(image, restored), "the restored disk is the primary's");
            Sender.RefusedException refused = assertThrows(Sender.RefusedException.class,
                    () -> replication.run(), "a promoted replica takes no more deltas");
            assertTrue(refused.getMessage().contains("receives nothing more"),
                    refused.getMessage());
        } finally {
            if (qemu != null) {
                qemu.destroyForcibly().waitFor();
            }
            server.close();
            volume.close();
            pool.shutdownNow();
            FileTrees.deleteQuietly(work);
        }
    }

    /** The daemon's cycle for the bridge guest, run by hand, one after another. */
    private record Cycles(Policy policy, StandbyLink link, Path primaryState, ExecutorService pool) {
        ReplicationCycle.Outcome run() throws IOException {
            Spool spool = new Spool(primaryState.resolve("spool"), 1L << 30);
            Replication r = new Replication(new BridgeSources().open(policy, primaryState, Duration.ofSeconds(60)),
                    primaryState, spool, pool, 2);
            return new ReplicationCycle(r, policy, link, spool, new DomainStatus(policy.name())).run();
        }
    }

    /** Writes random blocks straight through the volume, as a guest would. */
    private record BridgeVolumeWriter(BridgeVolume volume) {
        void write(long offset, int blocks) throws IOException {
            byte[] b = new byte[blocks * DirtyMap.BLOCK];
            new Random(offset).nextBytes(b);
            volume.write(offset, ByteBuffer.wrap(b));
        }
    }

    private static void assertIdentical(Lab lab, Path raw, Path replica) {
        Exec.Result r = Exec.run(List.of(lab.host().tool("qemu-img").toString(), "compare", "-f", "raw", "-F", "qcow2",
                raw.toString(), replica.toString()), null, Map.of(), Duration.ofMinutes(2));
        assertEquals(0, r.exitCode(), r.stdout() + r.stderr());
    }
}
