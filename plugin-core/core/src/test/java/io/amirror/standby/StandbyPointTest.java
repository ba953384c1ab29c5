package io.amirror.standby;

import io.amirror.spool.Spool;
import io.amirror.transport.ReplicaManifest;
import io.amirror.transport.Sender;
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
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static io.amirror.standby.LoopbackStandby.DOM;
import static io.amirror.standby.LoopbackStandby.T;
import static io.amirror.standby.LoopbackStandby.entry;
import static io.amirror.standby.LoopbackStandby.replicas;
import static io.amirror.standby.LoopbackStandby.sameImage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A point is the deltas of all a domain's disks, and the standby applies it whole: over real TLS
 * to a real standby with qemu-img replicas. A point waits until its last disk is there; a point the
 * primary redid replaces the deltas staged for it; a crash in the middle is finished forward; and
 * no offer, however crafted, moves a replica back or drops a recovery point.
 */
@Tag("real")
class StandbyPointTest {
    private static final List<String> BOTH = List.of("vda", "vdb");
    private static LoopbackStandby f;
    /** vdb's deltas: 0 -> 1 (to image v2) and 1 -> 2 (v2 -> v1). */
    private static Path b01;
    private static Path b12;

    @BeforeAll
    static void fixture() throws IOException {
        f = LoopbackStandby.get();
        b01 = f.shared.resolve("b01.amd");
        b12 = f.shared.resolve("b12.amd");
        if (!Files.exists(b01)) {
            f.create(f.v0, f.v2, b01, DOM, "vdb", 0, 1);
            f.create(f.v2, f.v1, b12, DOM, "vdb", 1, 2);
        }
    }

    private static Spool.Entry vdb(Path delta, int base, int next) throws IOException {
        return new Spool.Entry(DOM, "vdb", base, next, delta, Files.size(delta));
    }

    private static Sender.Shipped ship(Sender s, Spool.Entry e) throws IOException {
        return s.ship(e, BOTH, held -> {
        }, true);
    }

    private ReplicaDisk disk(Path state, String name) {
        return new ReplicaDisk(replicas(state), DOM, name, f.tools, LoopbackStandby.KEEP);
    }

    @Test
    void aPointOfTwoDisksIsAppliedOnlyWhenBothAreThere(@TempDir Path state) throws Exception {
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(r);
            assertEquals(1, ship(s, entry(f.d01, 0, 1)).ack().point(), "vda's delta is held");
            assertEquals(0, disk(state, "vda").state().point(), "but not applied while vdb's is missing");
            assertFalse(Files.exists(disk(state, "vda").image()));
            assertEquals(0, ship(s, entry(f.d01, 0, 1)).sentBytes(), "a re-offer of the held delta sends nothing");
            ship(s, vdb(b01, 0, 1));
            assertEquals(1, disk(state, "vda").state().point());
            assertEquals(1, disk(state, "vdb").state().point());
            assertTrue(sameImage(disk(state, "vda").image(), f.v1));
            assertTrue(sameImage(disk(state, "vdb").image(), f.v2));
            assertFalse(Files.exists(StandbyLayout.domain(replicas(state), DOM).pointJournal()));
        }
    }

    @Test
    void aPointThePrimaryRedidReplacesTheDeltaHeldForIt(@TempDir Path state) throws Exception {
        Path other = state.resolve("v1b.qcow2");
        Files.copy(f.v1, other);
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 9 4M 128k", other.toString()).orThrow();
        Path redo = state.resolve("d01b.amd");
        f.create(f.v0, other, redo, 0, 1);
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(r);
            ship(s, entry(f.d01, 0, 1));
            // vdb was refused (say STALE): the primary captured point 1 again, so vda comes again, other bytes
            ship(s, entry(redo, 0, 1));
            ship(s, vdb(b01, 0, 1));
        }
        assertTrue(sameImage(disk(state, "vda").image(), other), "point 1 is the redone one");
        assertEquals(List.of(1), disk(state, "vda").points().stream().map(ReplicaDisk.Point::point).toList());
        try (var files = Files.list(disk(state, "vda").image().getParent())) {
            assertTrue(files.noneMatch(StandbyLayout.DiskFiles::isStaged), "no held delta is left behind");
        }
    }

    @Test
    void noOfferMovesAReplicaBackOrDropsAPoint(@TempDir Path state) throws Exception {
        Path other = state.resolve("v1c.qcow2");
        Files.copy(f.v1, other);
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 5 1M 64k", other.toString()).orThrow();
        Path older = state.resolve("d01c.amd");
        f.create(f.v0, other, older, 0, 1);
        Path redone = state.resolve("d12c.amd");
        f.create(f.v1, other, redone, 1, 2);
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(r);
            s.ship(entry(f.d01, 0, 1));
            s.ship(entry(f.d12, 1, 2));
            ReplicaDisk vda = f.disk(state);
            byte[] image = FileDigest.sha256(vda.image());
            // a delta of an older point, the current point with other bytes, a point skipped back to: all
            // refused before a byte is written (the same delta again is a lost ACK's re-offer: acknowledged)
            assertEquals(0, s.ship(entry(f.d12, 1, 2)).sentBytes());
            for (Spool.Entry e : List.of(entry(older, 0, 1), entry(redone, 1, 2), entry(older, 0, 2))) {
                Sender.RefusedException x = assertThrows(Sender.RefusedException.class, () -> s.ship(e));
                assertEquals(Refuse.BASE_MISMATCH, x.refusal().code(), x.getMessage());
            }
            // a corrupt delta for the next point: refused after its bytes came, and nothing moves
            Path corrupt = state.resolve("corrupt.amd");
            byte[] bytes = Files.readAllBytes(f.d12);
            bytes[bytes.length / 2] ^= 0x40;
            Files.write(corrupt, bytes);
            Path nextCorrupt = state.resolve("next-corrupt.amd");
            f.create(f.v2, f.v1, nextCorrupt, 2, 3);
            byte[] n = Files.readAllBytes(nextCorrupt);
            n[n.length / 2] ^= 0x40;
            Files.write(nextCorrupt, n);
            Sender.RefusedException x = assertThrows(Sender.RefusedException.class, () -> s.ship(entry(nextCorrupt, 2, 3)));
            assertEquals(Refuse.BAD_DELTA, x.refusal().code(), x.getMessage());
            assertEquals(2, vda.state().point());
            assertEquals(List.of(1, 2), vda.points().stream().map(ReplicaDisk.Point::point).toList());
            assertArrayEquals(image, FileDigest.sha256(vda.image()), "the replica image is untouched");
        }
    }

    @Test
    void aPointAppliedHalfWhenTheStandbyStoppedIsFinishedForEveryDisk(@TempDir Path state) throws Exception {
        ReplicaDomain rd = halfAppliedPoint2(state);
        ReplicaDisk vda = disk(state, "vda");
        ReplicaDisk vdb = disk(state, "vdb");
        assertEquals(List.of(2, 1), List.of(vda.state().point(), vdb.state().point()));
        assertEquals("applying", ReplicaReport.of(replicas(state), f.tools, Instant.now(), null).get(0).health());
        // the next request, whatever it is, finishes the point first: here a verify of vdb at point 2
        try (StandbyService r = f.start(state)) {
            assertEquals(64 * 16, f.sender(r).verify(DOM, "vdb", 2, 256, done -> {
            }).length, "vdb answers at point 2: 64 groups of 1 MiB");
        }
        assertEquals(2, vdb.state().point());
        assertTrue(sameImage(vda.image(), f.v2));
        assertTrue(sameImage(vdb.image(), f.v1));
        assertFalse(Files.exists(rd.files().pointJournal()));
    }

    @Test
    void aFailoverFinishesAHalfAppliedPointForEveryDiskBeforeTheStart(@TempDir Path state) throws Exception {
        // the standby stopped with point 2 half applied; the primary host is gone
        ReplicaDomain rd = halfAppliedPoint2(state);
        ReplicaDisk vda = disk(state, "vda");
        ReplicaDisk vdb = disk(state, "vdb");
        Promotion.Outcome o = Promotion.prepare(rd, "files");
        assertEquals(2, o.point(), o.steps().toString());
        assertEquals(List.of(2, 2), List.of(vda.state().point(), vdb.state().point()));
        assertTrue(sameImage(vdb.image(), f.v1), "vdb reached point 2 too: the replica starts consistent");
        assertFalse(Files.exists(rd.files().pointJournal()));
        assertEquals(2, rd.starting().orElseThrow().point(), "prepared: promoted once it is seen running");
    }

    /**
     * Points 1 of both disks shipped for real, then the crash made by hand: both deltas of point 2
     * staged, the point journaled, vda applied, vdb not.
     */
    private ReplicaDomain halfAppliedPoint2(Path state) throws IOException {
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(r);
            ship(s, entry(f.d01, 0, 1));
            ship(s, vdb(b01, 0, 1));
        }
        ReplicaDomain rd = new ReplicaDomain(replicas(state), DOM, f.tools);
        ReplicaDisk.Staged a = stage(disk(state, "vda"), f.d12, 1, 2);
        ReplicaDisk.Staged b = stage(disk(state, "vdb"), b12, 1, 2);
        PointApply.FILE.write(rd.files().pointJournal(), new PointApply.Pending(2, List.of(
                new PointApply.Part("vda", 1, a.file().toString(), a.sha256()),
                new PointApply.Part("vdb", 1, b.file().toString(), b.sha256()))));
        disk(state, "vda").applyStaged(a);
        return rd;
    }

    private static ReplicaDisk.Staged stage(ReplicaDisk disk, Path delta, int from, int to) throws IOException {
        byte[] sha = FileDigest.sha256(delta);
        long size = SingleDiskApply.virtualSize(delta);
        Path in = disk.prepareIncoming(from, to, Files.size(delta), sha, size, Long.MAX_VALUE);
        Files.copy(delta, in);
        ReplicaDisk.Staged st = disk.stage(in, from, to, Files.size(delta), sha, size);
        st.forgetSources();
        return new ReplicaDisk.Staged(st.file(), from, to, st.sha256(), null);
    }

    @Test
    void aPrimaryAsksToKeepMoreNeverFewerAndYoungPointsAreImmutable(@TempDir Path state) throws Exception {
        // the standby keeps at least 2 points; a primary asking for 1 point and 1 second changes nothing
        ReplicaDisk.Retention floor = new ReplicaDisk.Retention(2, Duration.ofDays(30));
        var hostile = new ReplicaManifest(DOM, "files", 3, "<domain/>", Map.of(),
                Map.of(), 1, 1, null);
        assertEquals(floor, floor.withRequest(Optional.of(hostile)));
        var absurd = new ReplicaManifest(DOM, "files", 3, "<domain/>", Map.of(),
                Map.of(), Integer.MAX_VALUE, Long.MAX_VALUE, null);
        ReplicaDisk.Retention raised = floor.withRequest(Optional.of(absurd));
        assertEquals(ReplicaDisk.Retention.MOST_POINTS, raised.count(), "a request is bounded");
        assertEquals(ReplicaDisk.Retention.LONGEST, raised.maxAge());
        // immutable: with a one-day window, a count of 1 drops nothing of today's points
        Path root = replicas(state);
        ReplicaDisk locked = new ReplicaDisk(root, DOM, "vda", f.tools,
                new ReplicaDisk.Retention(1, Duration.ofDays(30), Duration.ofDays(1)));
        SingleDiskApply.apply(locked, f.d01, 0, 1);
        SingleDiskApply.apply(locked, f.d12, 1, 2);
        assertEquals(List.of(1, 2), locked.points().stream().map(ReplicaDisk.Point::point).toList());
    }

    @Test
    void theStandbyKeepsItsOwnRetentionWhenADescriptionAsksForLess(@TempDir Path state) throws Exception {
        try (StandbyService r = f.start(f.config(state, Set.of(f.primary.fingerprint()), null, 3, 30))) {
            Sender s = f.sender(r);
            s.ship(entry(f.d01, 0, 1));
            var m = new ReplicaManifest(DOM, "files", 1, "<domain type='qemu'><name>files</name>"
                    + "<memory>65536</memory><os><type>hvm</type></os></domain>", Map.of(), Map.of(),
                    1, 1, null);
            s.describe(DOM, 1, m.toXz());
            s.ship(entry(f.d12, 1, 2));
            Path other = state.resolve("v3.qcow2");
            Files.copy(f.v2, other);
            Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 4 2M 64k", other.toString()).orThrow();
            Path d23 = state.resolve("d23.amd");
            f.create(f.v2, other, d23, 2, 3);
            s.ship(entry(d23, 2, 3));
        }
        assertEquals(List.of(1, 2, 3), f.disk(state).points().stream().map(ReplicaDisk.Point::point).toList(),
                "keepPoints 1, keepSeconds 1 from the primary did not prune below the standby's 3");
    }

    @Test
    void aDiskRemovedOnThePrimaryIsRetiredWithItsHistoryAndTheFailoverGoesOn(@TempDir Path state) throws Exception {
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(r);
            ship(s, entry(f.d01, 0, 1));
            ship(s, vdb(b01, 0, 1));
            // the primary detached vdb: point 2 is vda's alone
            assertEquals(2, s.ship(entry(f.d12, 1, 2), List.of("vda"), held -> {
            }, true).ack().point());
        }
        ReplicaDomain rd = new ReplicaDomain(replicas(state), DOM, f.tools);
        assertEquals(List.of("vda"), rd.diskNames(), "vdb is no longer part of the replica");
        Path retired = rd.directory().resolve("vdb.retired-1");
        assertTrue(Files.isDirectory(retired), "retired at the point it left at, not deleted");
        assertTrue(sameImage(retired.resolve("replica.qcow2"), f.v2), "with its image whole");
        assertEquals(2, disk(state, "vda").state().point());
        // a failover now starts at point 2, with the disks the domain has
        assertEquals(2, Promotion.prepare(rd, "files").point());
    }

    @Test
    void aDiskAddedOnThePrimaryStartsItsOwnReplicaInThePointItJoins(@TempDir Path state) throws Exception {
        // the primary sends a disk its standby never acknowledged from point 0, whatever the others' base
        Path c02 = state.resolve("c02.amd");
        f.create(f.v0, f.v2, c02, DOM, "vdc", 0, 2);
        List<String> three = List.of("vda", "vdb", "vdc");
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(r);
            ship(s, entry(f.d01, 0, 1));
            ship(s, vdb(b01, 0, 1));
            for (Spool.Entry e : List.of(entry(f.d12, 1, 2), vdb(b12, 1, 2),
                    new Spool.Entry(DOM, "vdc", 0, 2, c02, Files.size(c02)))) {
                assertEquals(2, s.ship(e, three, held -> {
                }, true).ack().point());
            }
            // a disk that holds something never takes a delta of another base
            var refused = assertThrows(Sender.RefusedException.class, () -> s.ship(vdb(b12, 1, 3), three, held -> {
            }, true));
            assertEquals(io.amirror.transport.WireMessage.Refuse.BASE_MISMATCH, refused.refusal().code());
        }
        assertEquals(List.of(2, 2, 2), List.of(disk(state, "vda").state().point(), disk(state, "vdb").state().point(),
                disk(state, "vdc").state().point()));
        assertTrue(sameImage(disk(state, "vdc").image(), f.v2), "the new disk whole");
        ReplicaDomain rd = new ReplicaDomain(replicas(state), DOM, f.tools);
        assertEquals(2, Promotion.prepare(rd, "files").point(), "a failover starts at the point all three hold");
    }
}
