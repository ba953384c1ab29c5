package io.amirror.standby;

import io.amirror.delta.DeltaFiles;
import io.amirror.delta.XzBlockCodec;
import io.amirror.image.DiskImage;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.util.Exec;
import io.amirror.util.FileDigest;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Promotion from the journal alone, on real qcow2 replicas (qemu-img, no VM): which point a start
 * picks when the disks disagree or an admin chose one, and that a refused start changes nothing.
 */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class PromotionTest {
    static final UUID DOM = UUID.fromString("0b6c0c11-2a67-4d0e-8f0e-4a8a4e5b7c01");
    static final Duration T = Duration.ofMinutes(2);
    @TempDir
    static Path shared;
    static DiskImage.Tools tools;
    /** Image versions 0 (empty), 1 and 2, and the deltas between them for disks vda and vdb. */
    static Path[] v = new Path[3];


    @BeforeAll
    static void images() throws Exception {
        tools = new DiskImage.Tools(Path.of(Exec.tool("qemu-img")), Path.of(Exec.tool("qemu-nbd")));
        for (int i = 0; i < 3; i++) {
            v[i] = shared.resolve("v" + i + ".qcow2");
        }
        Exec.run(T, Exec.tool("qemu-img"), "create", "-q", "-f", "qcow2", v[0].toString(), "4M").orThrow();
        Files.copy(v[0], v[1]);
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 1 0 1M", v[1].toString()).orThrow();
        Files.copy(v[1], v[2]);
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 2 512k 1M", v[2].toString()).orThrow();
    }

    /** Brings {@code disk} of the replica from point {@code from} to {@code to} through a real delta. */
    static void apply(ReplicaDisk disk, String name, int from, int to) throws IOException {
        Path d = shared.resolve(name + "-" + from + "-" + to + ".amd");
        if (!Files.exists(d)) {
            try (DiskImage a = DiskImage.open(v[from], false, tools); DiskImage b = DiskImage.open(v[to], false, tools)) {
                DeltaFiles.create(a, b, d, new DeltaFiles.CreateOptions(DOM, name, from, to,
                        new XzBlockCodec.Preset(1, false), 0, 1, 1 << 20));
            }
        }
        assertEquals(to, SingleDiskApply.apply(disk, d, from, to));
    }

    static ReplicaDomain replica(Path root, int vdaPoint, int vdbPoint) throws IOException {
        ReplicaDomain r = new ReplicaDomain(root, DOM, tools);
        for (String[] disk : new String[][] {{"vda", String.valueOf(vdaPoint)}, {"vdb", String.valueOf(vdbPoint)}}) {
            ReplicaDisk d = r.disk(disk[0], ReplicaDisk.Retention.count(10));
            for (int p = 1; p <= Integer.parseInt(disk[1]); p++) {
                apply(d, disk[0], p - 1, p);
            }
        }
        return r;
    }

    static boolean sameContent(Path a, Path b) {
        return Exec.run(T, Exec.tool("qemu-img"), "compare", "-q", a.toString(), b.toString()).exitCode() == 0;
    }

    @Test
    void disksAtDifferentPointsStartFromTheNewestPointAllKeep(@TempDir Path root) throws Exception {
        ReplicaDomain r = replica(root, 2, 1); // the primary died between shipping vda and vdb of point 2
        Promotion.Outcome o = Promotion.prepare(r, "files");
        assertEquals(1, o.point());
        assertTrue(o.steps().stream().anyMatch(s -> s.contains("rolled vda from point 2 to 1")), o.steps().toString());
        assertEquals(1, r.disk("vda").state().point());
        assertTrue(sameContent(r.disk("vda").image(), v[1]), "vda holds point 1's content");
        assertEquals(1, r.starting().orElseThrow().point());
        assertTrue(r.promoted().isEmpty(), "not promoted before the domain runs");
        // the same start prepared again (the hook after amirror failover) does nothing more
        Promotion.Outcome again = Promotion.prepare(r, "files");
        assertTrue(again.earlier());
        assertEquals(1, again.point());
        // the domain runs: promoted, and a later start finds it so
        assertEquals(1, Promotion.started(r, "files", WAIT).point());
        assertEquals(1, r.promoted().orElseThrow().point());
        assertTrue(r.starting().isEmpty());
        assertTrue(Promotion.prepare(r, "files").earlier());
        assertTrue(Promotion.released(r, "files", WAIT).isEmpty(), "a promoted domain's stop changes nothing");
        assertTrue(r.promoted().isPresent());
    }

    static final Duration WAIT = Duration.ofSeconds(5);

    @Test
    void aStartThatFailsLeavesAReplicaThatTakesDeltasAgain(@TempDir Path root) throws Exception {
        ReplicaDomain r = replica(root, 1, 1);
        Promotion.prepare(r, "files");
        var refused = assertThrows(StandbyRefusal.class, () -> Promotion.refuseDeltas(r));
        assertEquals(Refuse.IN_USE, refused.code(), "no delta while it starts");
        // libvirt released the domain without its ever running
        Promotion.Outcome o = Promotion.released(r, "files", WAIT).orElseThrow();
        assertTrue(o.steps().get(0).contains("stays a replica"), o.steps().toString());
        assertTrue(r.starting().isEmpty() && r.promoted().isEmpty());
        Promotion.refuseDeltas(r); // a replica again
        apply(r.disk("vda"), "vda", 1, 2);
        assertEquals(2, r.disk("vda").state().point());
    }

    @Test
    void aReplicaStartedWithoutTheHookIsPromotedWhenSeenAndNeverWrittenUnder(@TempDir Path root) throws Exception {
        ReplicaDomain r = replica(root, 1, 1);
        byte[] before = FileDigest.sha256(r.disk("vda").image());
        // a process holds the image as a guest's QEMU does (qemu-nbd takes QEMU's image locks)
        try (DiskImage held = DiskImage.open(r.disk("vda").image(), true, tools)) {
            assertTrue(r.disk("vda").inUse());
            var open = assertThrows(StandbyRefusal.class, () -> Promotion.refuseDeltas(r));
            assertEquals(Refuse.IN_USE, open.code());
            assertTrue(r.promoted().isEmpty(), "an image held by a tool is refused, not taken for a failover");
            var apply = assertThrows(StandbyRefusal.class, () -> r.disk("vda").rollTo(1));
            assertEquals(Refuse.IN_USE, apply.code());
            // prepared for a start, then seen open: the start ran, its started step was missed
            r.recordStarting(1, false);
            var promoted = assertThrows(StandbyRefusal.class, () -> Promotion.refuseDeltas(r));
            assertEquals(Refuse.PROMOTED, promoted.code());
            assertEquals(1, r.promoted().orElseThrow().point());
        }
        assertFalse(r.disk("vda").inUse());
        assertArrayEquals(before, FileDigest.sha256(r.disk("vda").image()));
        // started with no prepare at all (no hook then): promoted at the point it holds
        ReplicaDomain other = replica(root.resolve("other"), 1, 1);
        assertEquals(1, Promotion.started(other, "other", WAIT).point());
        assertTrue(other.promoted().isPresent());
    }

    @Test
    void aStartWaitsForTheLockABoundedTimeAndNamesItsHolder(@TempDir Path root) throws Exception {
        ReplicaDomain r = replica(root, 1, 1);
        // another process holds the domain's lock, as a standby's receive does
        r.tryLock("make the directory", WAIT).orElseThrow().close();
        Process holder = LockHolder.start(r.files().lock());
        try {
            long t0 = System.nanoTime();
            var refused = assertThrows(Promotion.Refused.class, () -> Promotion.prepare(r, "files", Duration.ofSeconds(1)));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(ms >= 900 && ms < 10_000, ms + " ms");
            assertTrue(refused.getMessage().contains("busy") && refused.getMessage().contains("receiving vda 1->2"),
                    refused.getMessage());
            assertTrue(r.starting().isEmpty(), "nothing was changed");
            assertFalse(Files.exists(r.files().startRequest()), "the request is withdrawn");
        } finally {
            holder.destroy();
            holder.waitFor();
        }
        assertEquals(1, Promotion.prepare(r, "files", Duration.ofSeconds(5)).point());
    }

    @Test
    void aChosenPointIsRolledToAndAPointNotKeptIsRefusedWithoutChange(@TempDir Path root) throws Exception {
        ReplicaDomain r = replica(root, 2, 2);
        r.requestFailoverPoint(7);
        byte[] before = FileDigest.sha256(r.disk("vda").image());
        var refused = assertThrows(Promotion.Refused.class, () -> Promotion.prepare(r, "files"));
        assertTrue(refused.getMessage().contains("point 7") && refused.getMessage().contains("[1, 2]"), refused.getMessage());
        assertArrayEquals(before, FileDigest.sha256(r.disk("vda").image()));
        assertEquals(2, r.disk("vda").state().point());
        assertTrue(r.promoted().isEmpty());

        r.requestFailoverPoint(1);
        assertEquals(1, Promotion.prepare(r, "files").point());
        assertTrue(sameContent(r.disk("vda").image(), v[1]) && sameContent(r.disk("vdb").image(), v[1]));
        assertTrue(r.failoverPoint().isEmpty(), "the choice is used up");
    }

    @Test
    void aFailoverIsATrialUntilCommittedAndAnotherKeptPointCanBeTriedMeanwhile(@TempDir Path root) throws Exception {
        ReplicaDomain r = replica(root, 2, 2);
        Promotion.prepare(r, "files");
        Promotion.started(r, "files", WAIT);
        assertFalse(r.promoted().orElseThrow().committed(), "a failover is a trial until the admin commits it");
        // the guest ran and wrote; then it was shut down, and the admin tries the older point
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 9 0 64k", r.disk("vda").image().toString()).orThrow();
        ReplicaFailover f = new ReplicaFailover(r, "files", "test:///default", null, line -> { });
        f.choosePoint(1);
        Promotion.Outcome o = Promotion.prepare(r, "files");
        assertEquals(1, o.point());
        assertTrue(o.steps().get(0).contains("taken back"), o.steps().toString());
        assertTrue(sameContent(r.disk("vda").image(), v[1]) && sameContent(r.disk("vdb").image(), v[1]));
        assertTrue(r.starting().orElseThrow().trial());
        assertThrows(StandbyRefusal.class, () -> Promotion.refuseDeltas(r), "no delta while it starts");
        // that start fails: still the domain (a trial), at point 1, never a replica that takes deltas again
        Promotion.released(r, "files", WAIT);
        assertEquals(1, r.promoted().orElseThrow().point());
        assertEquals(Refuse.PROMOTED, assertThrows(StandbyRefusal.class, () -> Promotion.refuseDeltas(r)).code());
        // the newer point is still kept: back to point 2, the same point afresh
        f.choosePoint(2);
        assertEquals(2, Promotion.prepare(r, "files").point());
        assertTrue(sameContent(r.disk("vda").image(), v[2]), "point 2 exactly: the guest's writes discarded");
        Promotion.started(r, "files", WAIT);
        assertEquals(List.of(1, 2), r.disk("vda").points().stream().map(ReplicaDisk.Point::point).toList());
        // final: no other point from now on
        assertTrue(f.commit().committed());
        assertThrows(Promotion.Refused.class, () -> f.choosePoint(1));
        assertTrue(Promotion.prepare(r, "files").earlier());
        assertTrue(sameContent(r.disk("vda").image(), v[2]));
    }

    @Test
    void nothingToStartIsRefused(@TempDir Path root) {
        var refused = assertThrows(Promotion.Refused.class, () -> Promotion.prepare(new ReplicaDomain(root, DOM, tools), "files"));
        assertTrue(refused.getMessage().contains("no point"), refused.getMessage());
        assertFalse(Files.exists(root.resolve(DOM.toString()).resolve("promoted.json")));
    }
}
