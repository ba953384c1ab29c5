package io.amirror.standby;

import io.amirror.transport.ReplicaManifest;

import io.amirror.delta.GroupDigests;
import io.amirror.image.DiskImage;
import io.amirror.transport.Sender;
import io.amirror.transport.WireMessage.Refuse;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static io.amirror.standby.LoopbackStandby.DOM;
import static io.amirror.standby.LoopbackStandby.entry;
import static io.amirror.standby.LoopbackStandby.replicas;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The standby's answers besides deltas: a DESCRIBE's manifest is stored when it is what the
 * message announces, and VERIFY returns the replica's group digests at the point asked for only;
 * a promoted replica answers neither.
 */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class StandbyDescribeVerifyTest {
    static final int GROUP = GroupDigests.MIN_GROUP_BLOCKS;
    static LoopbackStandby f;

    @BeforeAll
    static void fixture() throws IOException {
        f = LoopbackStandby.get();
    }

    static ReplicaManifest manifest(int point) {
        return new ReplicaManifest(DOM, "files", point, "<domain type='qemu'><name>files</name></domain>", Map.of(),
                Map.of(), 5, 86400, null);
    }

    @Test
    void aDescribedManifestIsStoredAndOneThatIsNotWhatItSaysIsRefused(@TempDir Path state) throws Exception {
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(r);
            s.ship(entry(f.d01, 0, 1));
            s.describe(DOM, 1, manifest(1).toXz());
            var other = assertThrows(Sender.RefusedException.class, () -> s.describe(DOM, 2, manifest(1).toXz()));
            assertEquals(Refuse.BAD_DELTA, other.refusal().code());
            assertTrue(other.getMessage().contains("not what DESCRIBE announced"), other.getMessage());
            var notXz = assertThrows(Sender.RefusedException.class, () -> s.describe(DOM, 1, new byte[] {1, 2, 3}));
            assertEquals(Refuse.BAD_DELTA, notXz.refusal().code());
        }
        ReplicaDomain rd = new ReplicaDomain(replicas(state), DOM, f.tools);
        assertEquals(manifest(1), rd.manifest().orElseThrow(), "the first manifest is the one kept");
    }

    @Test
    void verifyAnswersTheReplicasGroupDigestsAtItsPointOnly(@TempDir Path state) throws Exception {
        byte[] expected;
        try (DiskImage img = DiskImage.open(f.v2, false, f.tools)) {
            expected = GroupDigests.ofImage(img.stream(), img.size(), GROUP);
        }
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(r);
            s.ship(entry(f.d01, 0, 1));
            s.ship(entry(f.d12, 1, 2));
            assertArrayEquals(expected, s.verify(DOM, "vda", 2, GROUP, read -> {
            }), "the digests of the primary's image at point 2");
            var earlier = assertThrows(Sender.RefusedException.class, () -> s.verify(DOM, "vda", 1, GROUP, read -> {
            }));
            assertEquals(Refuse.BASE_MISMATCH, earlier.refusal().code());
            assertTrue(earlier.getMessage().contains("is at point 2, not 1"), earlier.getMessage());
        }
    }

    @Test
    void aPromotedReplicaAnswersNeitherDescribeNorVerify(@TempDir Path state) throws Exception {
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(r);
            s.ship(entry(f.d01, 0, 1));
            Files.writeString(replicas(state).resolve(DOM.toString()).resolve("promoted.json"),
                    "{\"point\": 1, \"at\": \"2026-11-26T04:00:00Z\"}");
            var describe = assertThrows(Sender.RefusedException.class, () -> s.describe(DOM, 1, manifest(1).toXz()));
            assertEquals(Refuse.PROMOTED, describe.refusal().code());
            var verify = assertThrows(Sender.RefusedException.class, () -> s.verify(DOM, "vda", 1, GROUP, read -> {
            }));
            assertEquals(Refuse.PROMOTED, verify.refusal().code());
            var offer = assertThrows(Sender.RefusedException.class, () -> s.ship(entry(f.d12, 1, 2)));
            assertEquals(Refuse.PROMOTED, offer.refusal().code());
        }
        assertTrue(new ReplicaDomain(replicas(state), DOM, f.tools).manifest().isEmpty(), "nothing was stored");
    }
}
