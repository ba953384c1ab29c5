package io.amirror.delta;

import io.amirror.capture.CaptureResult;
import io.amirror.capture.DomainCapture;
import io.amirror.image.DiskImage;
import io.amirror.lab.DiskSpec;
import io.amirror.lab.DomainSpec;
import io.amirror.lab.GuestConsole;
import io.amirror.lab.Lab;
import io.amirror.lab.LabDomain;
import io.amirror.lab.RealVmTest;
import io.amirror.primary.Replication;
import io.amirror.spool.Spool;
import io.amirror.util.Exec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The primary's whole pipeline on a real guest: capture, refine against the replica hash map,
 * encode into the spool; the deltas, applied to a replica image, make it identical to the guest's
 * disk, and a rewrite of a 64 KiB cluster that changes one 4 KiB block costs one block.
 */
@RealVmTest
class PipelineRealVmTest {
    static final int SIZE = 64 << 20;

    @TempDir
    Path state;

    @Test
    void deltasFromTheSpoolRebuildTheDiskAndSendOnlyChangedBlocks(Lab lab) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(2);
        DiskImage.Tools tools = new DiskImage.Tools(lab.host().tool("qemu-img"), lab.host().tool("qemu-nbd"));
        Path replica = state.resolve("replica.qcow2");
        lab.qemuImg().createQcow2(replica, SIZE);
        try (LabDomain vm = lab.createDomain(DomainSpec.oneDisk(SIZE, DiskSpec.Content.EXT4)).start()) {
            GuestConsole c = vm.console();
            DomainCapture capture = new DomainCapture(new DomainCapture.Options(lab.host().tool("qemu-nbd"),
                    lab.host().tool("qemu-img"), lab.options().workDir().resolve("jobs"), Duration.ofSeconds(60)));
            Spool spool = new Spool(state.resolve("spool"), 1L << 30);
            Replication repl = Replication.ofDomain(vm.libvirtDomain(),
                    state, capture, spool, pool, 2);
            UUID uuid = repl.uuid();

            c.check("mount -t ext4 /dev/vda /mnt && mount -t ext4 -o ro /dev/" + vm.spec().testDataTarget()
                    + " /data && cp -r /data/common-licenses /data/perl5 /mnt/ && sync");
            byte[] cluster = new byte[65536];
            new Random(1).nextBytes(cluster);
            c.writeBytes("/dev/vda", 60L << 20, cluster);   // past the filesystem's busy area

            for (int round = 1; round <= 2; round++) {
                if (round == 2) {
                    // rewrite the whole cluster, changing only its third 4 KiB block
                    byte[] again = cluster.clone();
                    Arrays.fill(again, 8192, 12288, (byte) 0x5a);
                    c.writeBytes("/dev/vda", 60L << 20, again);
                    c.check("echo appended >> /mnt/common-licenses/GPL-3 && sync");
                    // unmount now, so nothing writes the disk after the last capture
                    c.check("umount /mnt && umount /data && sync");
                }
                var cap = repl.capture(new XzBlockCodec.Preset(6, false));
                CaptureResult r = cap.capture();
                DeltaEncoder.DiskDelta d = cap.deltas().get(0);
                assertEquals(List.of(d.entry()), spool.entries(uuid, "vda"));
                if (round == 2) {
                    // the 64 KiB cluster is dirty, yet only its changed block and the file's blocks travel
                    assertTrue(r.dataBytes() >= 65536);
                    assertTrue(d.refined().dataBlocks() <= 8, "refined to a few blocks: " + d.refined());
                    assertTrue(d.refined().unchangedBlocks() >= 15, "unchanged sub-blocks skipped: " + d.refined());
                }
                try (DiskImage img = DiskImage.open(replica, true, tools)) {
                    DeltaFiles.apply(d.entry().file(), img);
                }
                repl.acknowledged(cap);
                assertEquals(List.of(), spool.entries(uuid, "vda"), "acknowledged deltas leave the spool");
            }
            vm.powerOff(Duration.ofSeconds(60));
            Exec.Result cmp = Exec.run(Duration.ofMinutes(2), lab.host().tool("qemu-img").toString(), "compare",
                    replica.toString(), vm.image("vda").toString());
            assertEquals(0, cmp.exitCode(), "replica identical to the guest's disk: " + cmp.stdout() + cmp.stderr());
        } finally {
            pool.shutdownNow();
        }
    }
}
