package io.amirror.capture;

import io.amirror.lab.DiskSpec;
import io.amirror.lab.DomainSpec;
import io.amirror.lab.Lab;
import io.amirror.lab.LabDomain;
import io.amirror.lab.RealVmTest;
import io.amirror.libvirt.ChainBrokenException;
import io.amirror.libvirt.ChainException;
import io.amirror.libvirt.CheckpointChain;
import io.amirror.libvirt.FileChainStore;
import io.amirror.util.Exec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;

import static io.amirror.capture.CaptureRealVmTest.SIZE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The checkpoint chain through acks, refusals, libvirtd restarts, redefinitions and breakage. */
@RealVmTest
class ChainRealVmTest {

    @TempDir
    Path state;

    private static void hasMessage(Throwable t, String part) {
        assertTrue(t.getMessage().contains(part), "message '" + t.getMessage() + "' should say '" + part + "'");
    }

    @Test
    void chainContinuesThroughAcksRestartsAndRedefinition(Lab lab) throws Exception {
        try (LabDomain vm = lab.createDomain(DomainSpec.oneDisk(SIZE, DiskSpec.Content.BLANK)).start()) {
            var guest = new CaptureRealVmTest.GuestDisk(vm.console());
            DomainCapture capture = CaptureRealVmTest.capturer(lab);
            CheckpointChain chain = new CheckpointChain(vm.libvirtDomain(), new FileChainStore(state));
            ReplicaModel replica = new ReplicaModel(SIZE);

            for (int i = 1; i <= 3; i++) {
                guest.write(i << 20, 4096);
                CaptureResult r = capture.capture(vm.libvirtDomain(), chain, replica.next());
                assertEquals(i - 1, r.basePoint(), "each capture starts at the last acknowledged point");
                assertEquals(i, r.newPoint());
                assertArrayEquals(guest.bytes, replica.replica);
                chain.acknowledge(i);
            }
            assertEquals(List.of(3), chain.libvirtPoints());
            hasMessage(assertThrows(ChainException.class, () -> chain.delete(3)), "has not acknowledged a newer point");

            // point 4 is captured but never reaches the standby
            guest.write(4 << 20, 4096);
            CaptureResult lost = capture.capture(vm.libvirtDomain(), chain, new ReplicaModel(SIZE));
            assertEquals(4, lost.newPoint());
            hasMessage(assertThrows(ChainException.class, () -> chain.delete(4)), "has not acknowledged a newer point");
            hasMessage(assertThrows(ChainException.class, () -> chain.delete(3)), "has not acknowledged a newer point");

            // libvirtd restarts and so does the daemon (a new chain object from the state directory)
            lab.restartLibvirtd();
            CheckpointChain afterRestart = new CheckpointChain(vm.libvirtDomain(), new FileChainStore(state));
            assertEquals(3, afterRestart.base());
            guest.write(5 << 20, 4096);
            CaptureResult r5 = capture.capture(vm.libvirtDomain(), afterRestart, replica.next());
            assertEquals(3, r5.basePoint(), "the unacknowledged point 4 is superseded, not built upon");
            assertEquals(5, r5.newPoint());
            assertEquals(Set.of(64L, 80L), replica.clusters(null), "changes of points 4 and 5 together");
            assertArrayEquals(guest.bytes, replica.replica);
            afterRestart.acknowledge(5);
            assertEquals(List.of(5), afterRestart.libvirtPoints());

            // libvirtd loses its state: checkpoint metadata gone, bitmaps still in the image
            Exec.run(Duration.ofSeconds(10), "rm", "-rf", "/var/lib/libvirt/qemu/checkpoint/" + vm.name()).orThrow();
            lab.restartLibvirtd();
            CheckpointChain afterLoss = new CheckpointChain(vm.libvirtDomain(), new FileChainStore(state));
            assertEquals(List.of(), afterLoss.libvirtPoints());
            guest.write(6 << 20, 4096);
            CaptureResult r6 = capture.capture(vm.libvirtDomain(), afterLoss, replica.next());
            assertEquals(5, r6.basePoint(), "point 5 redefined from its saved XML");
            assertEquals(Set.of(96L), replica.clusters(null));
            assertArrayEquals(guest.bytes, replica.replica);
            afterLoss.acknowledge(6);

            // an admin undefines the shut-off domain and defines it again
            vm.powerOff(Duration.ofSeconds(60));
            vm.redefine(true);
            vm.start();
            guest.console = vm.console();
            CheckpointChain afterRedefine = new CheckpointChain(vm.libvirtDomain(), new FileChainStore(state));
            assertEquals(List.of(), afterRedefine.libvirtPoints());
            guest.write(7 << 20, 4096);
            CaptureResult r7 = capture.capture(vm.libvirtDomain(), afterRedefine, replica.next());
            assertEquals(6, r7.basePoint(), "point 6 redefined from its saved XML");
            assertEquals(Set.of(112L), replica.clusters(null));
            assertArrayEquals(guest.bytes, replica.replica);
            assertEquals(List.of(6, 7), afterRedefine.libvirtPoints());
        }
    }

    @Test
    void aLostOrCrashedChainIsDetectedAndResetWithoutGuessing(Lab lab) throws Exception {
        try (LabDomain vm = lab.createDomain(DomainSpec.oneDisk(SIZE, DiskSpec.Content.BLANK)).start()) {
            var guest = new CaptureRealVmTest.GuestDisk(vm.console());
            DomainCapture capture = CaptureRealVmTest.capturer(lab);
            CheckpointChain chain = new CheckpointChain(vm.libvirtDomain(), new FileChainStore(state));
            guest.write(1 << 20, 4096);
            capture.capture(vm.libvirtDomain(), chain, new ReplicaModel(SIZE));
            chain.acknowledge(1);
            guest.write(2 << 20, 4096);
            capture.capture(vm.libvirtDomain(), chain, new ReplicaModel(SIZE));
            chain.acknowledge(2);

            // both libvirt's metadata and the state directory are gone; the bitmap stays in the image
            vm.powerOff(Duration.ofSeconds(60));
            vm.redefine(true);
            vm.start();
            guest.console = vm.console();
            Path otherState = Files.createTempDirectory(state, "lost");
            CheckpointChain fresh = new CheckpointChain(vm.libvirtDomain(), new FileChainStore(otherState));
            var broken = assertThrows(ChainBrokenException.class,
                    () -> capture.capture(vm.libvirtDomain(), fresh, new ReplicaModel(SIZE)));
            hasMessage(broken, "[amirror.2]");
            hasMessage(broken, "reset the chain");
            assertEquals(List.of(), fresh.libvirtPoints(), "a refused capture creates nothing");

            capture.resetChain(vm.libvirtDomain(), fresh);
            ReplicaModel replica = new ReplicaModel(SIZE);
            CaptureResult full = capture.capture(vm.libvirtDomain(), fresh, replica);
            assertEquals(0, full.basePoint());
            assertEquals(1, full.newPoint());
            assertArrayEquals(guest.bytes, replica.replica);
            fresh.acknowledge(1);

            // QEMU dies with the image open: a bitmap it had loaded from the image is left in-use
            vm.powerOff(Duration.ofSeconds(60));
            vm.start();
            guest.console = vm.console();
            guest.write(3 << 20, 4096);
            vm.killQemu();
            var crashed = assertThrows(ChainBrokenException.class,
                    () -> capture.capture(vm.libvirtDomain(), fresh, new ReplicaModel(SIZE)));
            hasMessage(crashed, "inconsistent");
        }
    }

    @Test
    void aDiskItCannotExportIsNamedNotSkipped(Lab lab) {
        // raw and qcow2 are replicated (raw read whole); a vmdk disk can be neither tracked nor exported
        DomainSpec spec = new DomainSpec(256, List.of(DiskSpec.qcow2("vda", 16 << 20, DiskSpec.Content.BLANK),
                new DiskSpec("vdb", 16 << 20, DiskSpec.Content.BLANK, "vmdk")), false);
        try (LabDomain vm = lab.createDomain(spec)) {
            CheckpointChain chain = new CheckpointChain(vm.libvirtDomain(), new FileChainStore(state));
            var e = assertThrows(CaptureException.class, () -> CaptureRealVmTest.capturer(lab)
                    .capture(vm.libvirtDomain(), chain, new ReplicaModel(16 << 20)));
            hasMessage(e, "disk vdb");
            hasMessage(e, "vmdk, which amirror cannot export");
            assertEquals(List.of(), chain.state().points());
        }
    }
}
