package io.amirror.standby;

import io.amirror.delta.ReplicaHashMap;
import io.amirror.image.DiskImage;
import io.amirror.transport.Sender;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static io.amirror.standby.LoopbackStandby.DOM;
import static io.amirror.standby.LoopbackStandby.entry;
import static io.amirror.standby.LoopbackStandby.sameImage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A copy adopted on the standby as a seed: its hashes answer the primary's SEED_QUERY, and the first delta applies on it. */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class StandbySeedTest {
    static LoopbackStandby f;

    @BeforeAll
    static void fixture() throws IOException {
        f = LoopbackStandby.get();
    }

    @Test
    void aSeedOnTheStandbyBecomesThePrimarysMapAndTheFirstDeltaAppliesOnTopOfIt(@TempDir Path state) throws Exception {
        ReplicaDisk seeded = f.disk(state);
        seeded.adopt(f.v1);
        assertThrows(IOException.class, () -> seeded.adopt(f.v2), "a seed starts an empty replica only");
        long size;
        try (DiskImage img = DiskImage.open(f.v1, false, f.tools)) {
            size = img.size();
        }
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(r);
            try (ReplicaHashMap map = ReplicaHashMap.open(state.resolve("p.map"), size);
                 ReplicaHashMap theirs = ReplicaHashMap.openExisting(seeded.seedMap())) {
                long got = s.seed(DOM, "vda", map);
                assertTrue(got > 0 && got < size / 256, "hashes, compressed: " + got);
                assertArrayEquals(theirs.read(0, (int) theirs.blocks()), map.read(0, (int) map.blocks()));
            }
            // no seed for another disk, or for a disk of another size: the map is left alone
            try (ReplicaHashMap other = ReplicaHashMap.open(state.resolve("o.map"), size);
                 ReplicaHashMap bigger = ReplicaHashMap.open(state.resolve("b.map"), 2 * size)) {
                assertEquals(-1, s.seed(DOM, "vdb", other));
                assertEquals(-1, s.seed(DOM, "vda", bigger));
            }
            // the delta v1 -> v2 starts from point 0 here: applied on the seed, it gives v2
            Path d = state.resolve("seeded-0-1.amd");
            f.create(f.v1, f.v2, d, 0, 1);
            assertEquals(1, s.ship(entry(d, 0, 1)).ack().point());
        }
        assertTrue(sameImage(seeded.image(), f.v2));
        assertFalse(Files.exists(seeded.seedMap()), "the seed's hashes go once the replica moved on");
    }
}
