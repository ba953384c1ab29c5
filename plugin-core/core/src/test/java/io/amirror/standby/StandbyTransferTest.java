package io.amirror.standby;

import io.amirror.delta.DeltaFormat;
import io.amirror.delta.DeltaReader;
import io.amirror.delta.Frame;
import io.amirror.image.DiskImage;
import io.amirror.transport.Sender;
import io.amirror.util.Exec;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static io.amirror.standby.LoopbackStandby.T;
import static io.amirror.standby.LoopbackStandby.UNLIMITED;
import static io.amirror.standby.LoopbackStandby.entry;
import static io.amirror.standby.LoopbackStandby.local;
import static io.amirror.standby.LoopbackStandby.sameImage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Deltas from a primary to the standby service over real TLS on loopback, applied to qcow2
 * replicas: the replica matches, points are kept and rolled back, a cut resumes at the byte, a
 * lost ACK costs nothing, and a crash during apply is finished on start. Points of several disks,
 * and what no offer may do to the history, are {@link StandbyPointTest}'s.
 */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class StandbyTransferTest {
    static final int TRIALS = Integer.getInteger("amirror.trials", 6);
    static LoopbackStandby f;

    @BeforeAll
    static void fixture() throws IOException {
        f = LoopbackStandby.get();
    }

    @Test
    void pinnedPeersShipTwoPointsAndTheReplicaMatches(@TempDir Path state) throws Exception {
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(r);
            assertEquals(1, s.ship(entry(f.d01, 0, 1)).ack().point());
            assertEquals(2, s.ship(entry(f.d12, 1, 2)).ack().point());
        }
        ReplicaDisk disk = f.disk(state);
        assertTrue(sameImage(disk.image(), f.v2), "replica equals the primary's image at point 2");
        assertEquals(List.of(1, 2), disk.points().stream().map(ReplicaDisk.Point::point).toList());
        assertEquals(2, disk.state().point());

        // an admin rolls the replica back to point 1: it is v1 again
        disk.rollTo(1);
        assertEquals(1, disk.state().point());
        assertTrue(sameImage(disk.image(), f.v1), "rolled back to point 1");
        var e = assertThrows(IOException.class, () -> disk.rollTo(7));
        assertTrue(e.getMessage().contains("kept: [1, 2]"), e.getMessage());
    }

    @Test
    void aRollBackCutByACrashIsFinishedNotTakenForTheNewerPoint(@TempDir Path state) throws Exception {
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(r);
            s.ship(entry(f.d01, 0, 1));
            s.ship(entry(f.d12, 1, 2));
        }
        ReplicaDisk disk = f.disk(state);
        // the crash, made by hand: the roll back to 1 was journaled, then qemu-img was cut half-way
        // (here: not started); the journal must not claim point 2 over whatever the image holds
        Path journal = disk.image().resolveSibling("state.json");
        ReplicaDisk.State at2 = disk.state();
        ApplyJournal.FILE.write(journal, new ReplicaDisk.State(2, 0, null, at2.virtualSize(), null, null, 1));
        disk.recover();
        assertEquals(1, disk.state().point());
        assertEquals(0, disk.state().rollingTo());
        assertTrue(sameImage(disk.image(), f.v1), "the roll back was finished");
        // and a journal of the format before rollingTo reads as no roll back
        Files.writeString(journal, "{\"format\":1,\"point\":1,\"pending\":0,\"pendingDelta\":null,"
                + "\"virtualSize\":67108864,\"appliedSha256\":null,\"pendingSha256\":null}");
        assertEquals(new ReplicaDisk.State(1, 0, null, 67108864, null, null, 0), disk.state());
    }

    @Test
    void retentionKeepsTheNewestPointsOnly(@TempDir Path state) throws Exception {
        try (StandbyService r = f.start(f.config(state, Set.of(f.primary.fingerprint()), null, 1, 1))) {
            Sender s = f.sender(r);
            s.ship(entry(f.d01, 0, 1));
            s.ship(entry(f.d12, 1, 2));
        }
        assertEquals(List.of(2), new ReplicaDisk(LoopbackStandby.replicas(state), LoopbackStandby.DOM, "vda", f.tools, 1)
                .points().stream().map(ReplicaDisk.Point::point).toList());
    }

    @Test
    void cutsResumeWhereTheyStoppedAndResendAtMostTheBlockInFlight(@TempDir Path root) throws Exception {
        long size = Files.size(f.d01);
        long maxUnit = DeltaFormat.maxStored(1 << 20) + DeltaFormat.BLOCK_HEADER_SIZE;
        Random rnd = new Random(42);
        for (int trial = 0; trial < TRIALS; trial++) {
            Path trialState = root.resolve("t" + trial);
            try (StandbyService r = f.start(trialState);
                 CuttingProxy link = new CuttingProxy(local(r.port()))) {
                Sender s = f.sender(f.primary, Set.of(f.standby.fingerprint()), link.address(), UNLIMITED);
                long cut = 2000 + rnd.nextLong(size);   // somewhere in the handshake or the data
                link.cutNextAfter(cut);
                assertThrows(IOException.class, () -> s.ship(entry(f.d01, 0, 1)));
                Sender.Shipped done = s.ship(entry(f.d01, 0, 1));
                assertEquals(1, done.ack().point());
                assertTrue(done.sentBytes() == size - done.resumedAt(), "only the rest is sent");
                assertTrue(cut >= size || done.resumedAt() >= cut - maxUnit - 64 * 1024,
                        "trial " + trial + ": resumed at " + done.resumedAt() + " after a cut at " + cut
                                + ": more than the block in flight was sent again");
            }
            assertTrue(sameImage(f.disk(trialState).image(), f.v1), "trial " + trial);
        }
    }

    @Test
    void aReOfferAfterALostAckIsAcknowledgedWithoutResending(@TempDir Path state) throws Exception {
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(r);
            s.ship(entry(f.d01, 0, 1));
            Sender.Shipped again = s.ship(entry(f.d01, 0, 1));
            assertEquals(1, again.ack().point());
            assertEquals(0, again.sentBytes(), "nothing sent twice");
            // a different delta claiming the same points (a new chain) is not mistaken for it
            assertThrows(Sender.RefusedException.class, () -> s.ship(entry(f.d12, 0, 1)));
        }
    }

    @Test
    void anApplyInterruptedByACrashIsFinishedOnStart(@TempDir Path state) throws Exception {
        try (StandbyService r = f.start(state)) {
            f.sender(r).ship(entry(f.d01, 0, 1));
        }
        ReplicaDisk disk = f.disk(state);
        // the crash: journal says "pending 2", half of the delta's frames reached the image
        Path dir = disk.image().getParent();
        Path pending = dir.resolve("delta-1-2.amd");
        Files.copy(f.d12, pending);
        Files.writeString(dir.resolve("state.json"), "{\"point\":1,\"pending\":2,\"pendingDelta\":\"" + pending
                + "\",\"virtualSize\":67108864,\"appliedSha256\":null,\"pendingSha256\":\"ab\"}");
        int[] n = {0};
        try (DiskImage img = DiskImage.open(disk.image(), true, f.tools);
             var in = Files.newInputStream(f.d12)) {
            DeltaReader.read(in, fr -> {
                if (n[0]++ % 2 == 0 && fr instanceof Frame.Data d) {
                    img.write(d.offset(), d.payload(), 0, d.payload().length);
                }
            });
        }
        assertFalse(sameImage(disk.image(), f.v2));
        disk.recover();
        assertEquals(2, disk.state().point());
        assertEquals(0, disk.state().pending());
        assertTrue(sameImage(disk.image(), f.v2), "re-applying finished the interrupted apply");
        // applying twice more (another crash right after) changes nothing either
        assertEquals(List.of(1, 2), disk.points().stream().map(ReplicaDisk.Point::point).toList());
    }

    @Test
    void aStartDuringATransferGoesFirstAndTheTransferResumesAfterAFailedStart(@TempDir Path state) throws Exception {
        try (StandbyService r = f.start(state)) {
            f.sender(r).ship(entry(f.d01, 0, 1));
            // point 2 at 100 KB/s: the receive holds the domain's lock for seconds
            Sender slow = f.sender(f.primary, Set.of(f.standby.fingerprint()), local(r.port()),
                    new io.amirror.transport.TokenBucket(() -> 100_000));
            var shipping = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    return slow.ship(entry(f.d12, 1, 2));
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            ReplicaDomain rd = new ReplicaDomain(LoopbackStandby.replicas(state), LoopbackStandby.DOM, f.tools);
            Path incoming = f.disk(state).image().resolveSibling("incoming");
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (System.nanoTime() < deadline && !receiving(incoming)) {
                Thread.sleep(20);
            }
            assertTrue(receiving(incoming), "the transfer of point 2 is under way");
            assertTrue(rd.lockHolder().contains("receiving vda 1->2"), rd.lockHolder());
            long t0 = System.nanoTime();
            Promotion.Outcome o = Promotion.prepare(rd, "files", java.time.Duration.ofSeconds(20));
            double waited = (System.nanoTime() - t0) / 1e9;
            assertEquals(1, o.point());
            assertTrue(waited < 5, "the transfer let go within about a second, not at its end: " + waited + " s");
            assertThrows(Exception.class, shipping::join, "the transfer was ended");
            // while the replica starts it takes nothing
            var refused = assertThrows(Sender.RefusedException.class, () -> f.sender(r).ship(entry(f.d12, 1, 2)));
            assertEquals(io.amirror.transport.WireMessage.Refuse.IN_USE, refused.refusal().code());
            // the start failed: a replica again, and point 2 resumes after the bytes already there
            Promotion.released(rd, "files", java.time.Duration.ofSeconds(5)).orElseThrow();
            Sender.Shipped done = f.sender(r).ship(entry(f.d12, 1, 2));
            assertEquals(2, done.ack().point());
            assertTrue(done.resumedAt() > 0, "resumed, not resent");
        }
        assertTrue(sameImage(f.disk(state).image(), f.v2));
    }

    private static boolean receiving(Path incoming) throws IOException {
        if (!Files.isDirectory(incoming)) {
            return false;
        }
        try (var s = Files.list(incoming)) {
            return s.anyMatch(p -> {
                try {
                    return Files.size(p) > 50_000;
                } catch (IOException e) {
                    return false;
                }
            });
        }
    }
}
