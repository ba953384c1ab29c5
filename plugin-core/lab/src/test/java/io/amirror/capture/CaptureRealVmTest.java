package io.amirror.capture;

import io.amirror.capture.PlannedExtent.Kind;
import io.amirror.lab.DiskSpec;
import io.amirror.lab.DomainSpec;
import io.amirror.lab.GuestConsole;
import io.amirror.lab.Lab;
import io.amirror.lab.LabDomain;
import io.amirror.lab.RealVmTest;
import io.amirror.libvirt.CheckpointChain;
import io.amirror.libvirt.DiskInfo;
import io.amirror.libvirt.FileChainStore;
import io.amirror.libvirt.ShutoffReason;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Captures of a real guest's disk, checked three ways: the dirty 64 KiB clusters are exactly those
 * the guest's writes touched; DATA and ZERO are told apart (zero-fills and discards cost no data);
 * and a replica built from the captures equals the qcow2 image byte for byte.
 */
@RealVmTest
class CaptureRealVmTest {
    static final int SIZE = 64 << 20;
    static final long K64 = 65536;

    @TempDir
    Path state;

    static DomainCapture capturer(Lab lab) {
        return new DomainCapture(new DomainCapture.Options(lab.host().tool("qemu-nbd"), lab.host().tool("qemu-img"),
                lab.options().workDir().resolve("jobs"), Duration.ofSeconds(60)));
    }

    /** The guest's disk as it should be: every write the test makes goes here too. */
    static final class GuestDisk {
        final byte[] bytes = new byte[SIZE];
        GuestConsole console; // replaced when the guest boots again
        final Random rnd = new Random(7);

        GuestDisk(GuestConsole console) {
            this.console = console;
        }

        void write(long offset, int length) {
            byte[] b = new byte[length];
            rnd.nextBytes(b);
            console.writeBytes("/dev/vda", offset, b);
            System.arraycopy(b, 0, bytes, (int) offset, length);
        }

        void zeroFill(long offset, int length) {
            console.check("dd if=/dev/zero of=/dev/vda bs=65536 seek=" + offset / K64 + " count=" + length / K64
                    + " conv=notrunc,fsync 2>/dev/null");
            Arrays.fill(bytes, (int) offset, (int) offset + length, (byte) 0);
        }

        void discard(long offset, int length) {
            console.check("blkdiscard -o " + offset + " -l " + length + " /dev/vda && sync");
            Arrays.fill(bytes, (int) offset, (int) offset + length, (byte) 0);
        }
    }

    private static TreeSet<Long> clusters(long... ids) {
        TreeSet<Long> s = new TreeSet<>();
        for (long i : ids) {
            s.add(i);
        }
        return s;
    }

    @Test
    void exactExtentsFromFullIncrementalAndShutOffCaptures(Lab lab) {
        try (LabDomain vm = lab.createDomain(DomainSpec.oneDisk(SIZE, DiskSpec.Content.BLANK)).start()) {
            GuestDisk guest = new GuestDisk(vm.console());
            CheckpointChain chain = new CheckpointChain(vm.libvirtDomain(), new FileChainStore(state));
            DomainCapture capture = capturer(lab);
            ReplicaModel replica = new ReplicaModel(SIZE);

            // point 1: full capture; only allocated clusters are read, the rest is ZERO
            guest.write(1 << 20, 8192);
            guest.write(8 << 20, 256 << 10);
            CaptureResult r1 = capture.capture(vm.libvirtDomain(), chain, replica.next());
            assertEquals(0, r1.basePoint());
            assertEquals(1, r1.newPoint());
            assertEquals(K64 + (256 << 10), r1.dataBytes(), "full capture reads allocated clusters only");
            assertArrayEquals(guest.bytes, replica.replica);
            chain.acknowledge(1);

            // point 2: aligned, unaligned, straddling writes, a zero-fill and a discard
            guest.write(2 << 20, 4096);                      // cluster 32
            guest.write(3 * K64 + 100, 1000);                // cluster 3
            guest.write(5 * K64 - 2048, 4096);               // clusters 4 and 5
            guest.zeroFill(8 << 20, 128 << 10);              // clusters 128, 129
            guest.discard((8 << 20) + (128 << 10), 128 << 10); // clusters 130, 131
            CaptureResult r2 = capture.capture(vm.libvirtDomain(), chain, replica.next());
            assertEquals(1, r2.basePoint());
            assertEquals(2, r2.newPoint());
            assertEquals(clusters(3, 4, 5, 32), replica.clusters(Kind.DATA));
            assertEquals(clusters(128, 129, 130, 131), replica.clusters(Kind.ZERO));
            assertEquals(4 * K64, r2.dataBytes());
            assertArrayEquals(guest.bytes, replica.replica);
            chain.acknowledge(2);
            assertEquals(List.of(2), chain.libvirtPoints(), "point 1 retired after the ack of 2");

            // point 3: written, then the guest shuts down cleanly; captured through qemu-nbd
            guest.write(20 << 20, 4096);                     // cluster 320
            vm.powerOff(Duration.ofSeconds(60));
            CaptureResult r3 = capture.capture(vm.libvirtDomain(), chain, replica.next());
            assertTrue(r3.offline());
            assertEquals(3, r3.newPoint());
            assertEquals(CaptureResult.Consistency.SHUT_OFF, r3.consistency(), "the guest powered itself off");
            assertEquals(clusters(320), replica.clusters(null));
            assertArrayEquals(guest.bytes, replica.replica);
            assertArrayEquals(guest.bytes, lab.qemuImg().read(vm.image("vda"), "qcow2", 0, SIZE),
                    "the replica equals the image itself");
            chain.acknowledge(3);
            assertEquals(List.of(2, 3), chain.libvirtPoints(), "libvirt deletes checkpoints of running domains only");
            // still shut off, nothing written since point 3: no point (no bitmap, no checkpoint)
            NothingChangedException nothing = assertThrows(NothingChangedException.class,
                    () -> capture.capture(vm.libvirtDomain(), chain, new ReplicaModel(SIZE).next()));
            assertTrue(nothing.getMessage().contains("nothing was written"), nothing.getMessage());
            assertEquals(List.of(2, 3), chain.libvirtPoints());
            assertEquals(3, chain.state().latest());

            // point 4: running again; the chain goes on from the point made while shut off
            vm.start();
            guest.console = vm.console();
            guest.write(40 << 20, 4096);                     // cluster 640
            CaptureResult r4 = capture.capture(vm.libvirtDomain(), chain, replica.next());
            assertFalse(r4.offline());
            assertEquals(3, r4.basePoint());
            assertEquals(List.of(3, 4), chain.libvirtPoints(), "point 2 retired once the domain ran again");
            assertEquals(clusters(640), replica.clusters(null));
            assertArrayEquals(guest.bytes, replica.replica);
            chain.acknowledge(4);

            // point 5: written, then destroyed (a power cut, not a shutdown): the same bytes, crash-consistent
            guest.write(41 << 20, 4096);                     // cluster 656
            vm.console().run("sync", Duration.ofSeconds(30));
            vm.destroy();
            assertEquals(ShutoffReason.DESTROYED, ShutoffReason.of(vm.libvirtDomain()));
            CaptureResult r5 = capture.capture(vm.libvirtDomain(), chain, replica.next());
            assertTrue(r5.offline());
            assertEquals(CaptureResult.Consistency.CRASH, r5.consistency(), "a destroyed guest's disks are a power cut's");
            assertArrayEquals(guest.bytes, replica.replica);
        }
    }

    @Test
    void deletedFilesTrimmedFromExt4TravelAsZeroExtents(Lab lab) throws Exception {
        int size = 2 * SIZE;
        DomainSpec spec = DomainSpec.oneDisk(size, DiskSpec.Content.EXT4);
        try (LabDomain vm = lab.createDomain(spec).start()) {
            GuestConsole c = vm.console();
            CheckpointChain chain = new CheckpointChain(vm.libvirtDomain(), new FileChainStore(state));
            DomainCapture capture = capturer(lab);
            ReplicaModel replica = new ReplicaModel(size);
            c.check("mount -t ext4 /dev/vda /mnt && mount -t ext4 -o ro /dev/" + spec.testDataTarget()
                    + " /data && mkdir /mnt/share && cp -r /data/doc /data/x86_64-linux-gnu /mnt/share/ && sync");
            String copied = c.check("du -sk /mnt/share").trim().split("\\s+")[0];
            assertTrue(Long.parseLong(copied) > 8 * 1024, "copied " + copied + " KiB of files");
            capture.capture(vm.libvirtDomain(), chain, replica.next());
            chain.acknowledge(1);

            // delete everything copied, then trim: the freed blocks come back as ZERO extents. Unmount
            // first, so that nothing writes the disk after the capture and the image can be compared.
            c.check("rm -rf /mnt/share && sync && fstrim /mnt && umount /mnt && umount /data && sync");
            CaptureResult r = capture.capture(vm.libvirtDomain(), chain, replica.next());
            long zero = r.disks().get(0).zeroBytes();
            long data = r.dataBytes();
            assertTrue(zero >= Long.parseLong(copied) * 1024 * 9 / 10,
                    "trimmed blocks are sent as ZERO: " + zero + " bytes of " + copied + " KiB deleted");
            // what ext4 writes after the delete (journal, bitmaps, inode tables) varies with its commit timing:
            // 1.5 to 2 MiB here, in 64 KiB clusters. The deleted files are over 8 MiB, so a capture that sent
            // them, or the trimmed ranges, as data would be far above this bound.
            assertTrue(data < 4 << 20 && data < Long.parseLong(copied) * 1024 / 2,
                    "only metadata is sent as data: " + data + " bytes for " + copied + " KiB deleted");

            vm.powerOff(Duration.ofSeconds(60));
            assertArrayEquals(lab.qemuImg().read(vm.image("vda"), "qcow2", 0, size), replica.replica,
                    "the replica equals the trimmed image byte for byte");
        }
    }

    @Test
    void aScratchThatOutgrowsItsBudgetEndsTheCaptureCleanlyAndTheGuestsWritesGoOn(Lab lab) throws Exception {
        try (LabDomain vm = lab.createDomain(DomainSpec.oneDisk(SIZE, DiskSpec.Content.BLANK)).start()) {
            GuestConsole c = vm.console();
            CheckpointChain chain = new CheckpointChain(vm.libvirtDomain(), new FileChainStore(state));
            ReplicaModel replica = new ReplicaModel(SIZE);
            capturer(lab).capture(vm.libvirtDomain(), chain, replica.next());
            chain.acknowledge(1);
            c.check("dd if=/dev/urandom of=/dev/vda bs=1M count=16 seek=16 conv=fsync 2>/dev/null");

            // point 2 read slowly (a slow preset, say) under a 1 MiB scratch budget while the guest
            // rewrites 4 MiB of the blocks still to be read: each first write copies the old block
            DomainCapture tight = new DomainCapture(new DomainCapture.Options(lab.host().tool("qemu-nbd"),
                    lab.host().tool("qemu-img"), lab.options().workDir().resolve("jobs"), Duration.ofSeconds(60),
                    new ScratchBudget(1 << 20, 1.0, 0)));
            ReplicaModel slow = replica.next();
            CaptureSink slowSink = new CaptureSink() {
                @Override
                public void beginDisk(DiskInfo disk, long virtualSize) throws java.io.IOException {
                    slow.beginDisk(disk, virtualSize);
                }

                @Override
                public void zero(long offset, long length) throws java.io.IOException {
                    slow.zero(offset, length);
                }

                @Override
                public void data(long offset, byte[] data) throws java.io.IOException {
                    try {
                        Thread.sleep(1 + data.length / 4096); // about 4 MB/s
                    } catch (InterruptedException e) {
                        throw new java.io.InterruptedIOException();
                    }
                    slow.data(offset, data);
                }

                @Override
                public void endDisk() throws java.io.IOException {
                    slow.endDisk();
                }
            };
            var writes = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    Thread.sleep(500);
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
                return c.run("dd if=/dev/urandom of=/dev/vda bs=64k count=64 seek=448 conv=fsync 2>/dev/null", Duration.ofMinutes(2));
            });
            ScratchOverflowException over = assertThrows(ScratchOverflowException.class,
                    () -> tight.capture(vm.libvirtDomain(), chain, slowSink));
            System.out.println("scratch overflow: " + over.getMessage());
            assertTrue(over.getMessage().contains("over its budget of"), over.getMessage());
            assertEquals(0, writes.get().exitCode(), "the guest's writes never failed: " + writes.get().output());
            assertEquals(List.of(1), chain.libvirtPoints(), "the point was discarded, the chain is as it was");
            assertEquals(1, vm.libvirtDomain().isActive(), "the guest runs on");

            // the next attempt, read at full speed: everything since point 1, the rewrite included
            ReplicaModel again = replica.next();
            CaptureResult r = capturer(lab).capture(vm.libvirtDomain(), chain, again);
            assertEquals(1, r.basePoint());
            String guestMd5 = c.check("md5sum /dev/vda").split(" ")[0];
            assertEquals(guestMd5, md5(again.replica), "the replica holds every write, the rewrite included");
        }
    }

    private static String md5(byte[] b) throws Exception {
        return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("MD5").digest(b));
    }
}
