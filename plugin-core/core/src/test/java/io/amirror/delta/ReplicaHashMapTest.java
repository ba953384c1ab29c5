package io.amirror.delta;

import io.amirror.libvirt.DiskInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Random;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The replica hash map and the refinement it drives. */
class ReplicaHashMapTest {
    static final int BS = DeltaFormat.BLOCK_SIZE;

    @TempDir
    Path dir;

    static byte[] disk(int blocks, long seed) {
        byte[] d = new byte[blocks * BS];
        new Random(seed).nextBytes(d);
        return d;
    }

    /** Runs one "capture" of {@code now} (every block dirty) through the refiner against the map. */
    static DeltaWriter.Summary refine(byte[] now, ReplicaHashMap map, int newPoint, ByteArrayOutputStream out,
                                      Refiner[] refinerOut) throws IOException {
        DeltaHeader h = new DeltaHeader(UUID.randomUUID(), "vda", now.length, newPoint - 1, newPoint, BS,
                DeltaFormat.CODEC_NONE, 1 << 20);
        try (ReplicaHashMap.Journal j = map.journal(newPoint);
             DeltaWriter w = new DeltaWriter(out, h, new XzBlockCodec.Preset(0, false), DeltaStreamTest.POOL, 1, j)) {
            Refiner r = new Refiner(w, map);
            r.beginDisk(new DiskInfo("vda", null, "raw", false, "disk"), now.length);
            r.data(0, now.clone());
            r.endDisk();
            DeltaWriter.Summary s = w.finish();
            j.seal();
            refinerOut[0] = r;
            return s;
        }
    }

    @Test
    void unchangedBlocksAreSkippedOnceTheMapKnowsThem() throws IOException {
        byte[] v1 = disk(64, 1);
        try (ReplicaHashMap map = ReplicaHashMap.open(dir.resolve("vda.map"), v1.length)) {
            Refiner[] r = new Refiner[1];
            refine(v1, map, 1, new ByteArrayOutputStream(), r);
            assertEquals(64, r[0].stats().dataBlocks(), "an unknown map skips nothing");
            map.commit(1);

            byte[] v2 = v1.clone();
            byte[] fresh = new byte[BS];
            new Random(2).nextBytes(fresh);
            System.arraycopy(fresh, 0, v2, 5 * BS, BS);      // one block changed
            Arrays.fill(v2, 9 * BS, 11 * BS, (byte) 0);       // two blocks zeroed
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            refine(v2, map, 2, out, r);
            assertEquals(new Refiner.Stats(1, 2, 61, 0), r[0].stats());
            assertArrayEquals(v2, DeltaStreamTest.apply(out.toByteArray(), v1));
            assertEquals(1, map.point(), "the map changes only on the ack");
            map.commit(2);
            assertEquals(2, map.point());
            refine(v2, map, 3, new ByteArrayOutputStream(), r);
            assertEquals(new Refiner.Stats(0, 0, 64, 0), r[0].stats(), "nothing left to send");
        }
    }

    @Test
    void aCrashDuringCommitIsFinishedByRecover() throws IOException {
        byte[] v1 = disk(32, 3);
        Path file = dir.resolve("vda.map");
        try (ReplicaHashMap map = ReplicaHashMap.open(file, v1.length)) {
            refine(v1, map, 1, new ByteArrayOutputStream(), new Refiner[1]);
            // the crash: half of the entries written, the header still says point 0
            map.write(0, BlockHash.of(v1, 0, BS));
        }
        try (ReplicaHashMap map = ReplicaHashMap.open(file, v1.length)) {
            assertEquals(0, map.point());
            map.recover(1);   // the chain says point 1 was acknowledged
            assertEquals(1, map.point());
            for (int b = 0; b < 32; b++) {
                assertTrue(ReplicaHashMap.matches(map.read(b, 1), 0, BlockHash.of(v1, b * BS, BS)), "block " + b);
            }
            assertFalse(Files.exists(map.journalFile(1)), "journal dropped once applied");
        }
    }

    @Test
    void anUnsealedJournalIsNeverApplied() throws IOException {
        byte[] v1 = disk(8, 4);
        try (ReplicaHashMap map = ReplicaHashMap.open(dir.resolve("m"), v1.length)) {
            try (ReplicaHashMap.Journal j = map.journal(1)) {
                j.data(0, BlockHash.of(v1, 0, BS));
            }
            var e = assertThrows(IOException.class, () -> map.commit(1));
            assertTrue(e.getMessage().contains("not sealed"), e.getMessage());
            assertFalse(ReplicaHashMap.matches(map.read(0, 1), 0, BlockHash.of(v1, 0, BS)));
        }
    }

    @Test
    void resizingKeepsWhatIsStillTrueAndForgetsTheRest() throws IOException {
        byte[] v1 = disk(16, 5);
        Path file = dir.resolve("r.map");
        try (ReplicaHashMap map = ReplicaHashMap.open(file, v1.length)) {
            map.rebuild(new ByteArrayInputStream(v1), 1);
        }
        try (ReplicaHashMap map = ReplicaHashMap.open(file, 20L * BS + 100)) { // grown, not block aligned
            assertEquals(21, map.blocks());
            assertTrue(ReplicaHashMap.matches(map.read(3, 1), 0, BlockHash.of(v1, 3 * BS, BS)));
            assertFalse(ReplicaHashMap.matches(map.read(15, 1), 0, BlockHash.of(v1, 15 * BS, BS)),
                    "the old last block is forgotten");
            assertFalse(ReplicaHashMap.matches(map.read(18, 1), 0, BlockHash.ZERO), "new blocks are unknown");
            map.resize(4L * BS);
            assertEquals(4, map.blocks());
        }
        assertEquals(ReplicaHashMap.HEADER + 4 * BlockHash.LENGTH, Files.size(file));
    }

    @Test
    void groupDigestsOfTheMapEqualThoseOfTheImageUntilOneByteChanges() throws IOException {
        // 3.5 groups of 256 blocks, the last block partial: the edges count too
        byte[] image = new byte[3 * 256 * 4096 + 128 * 4096 + 1000];
        new Random(7).nextBytes(image);
        int group = GroupDigests.groupBlocks(image.length);
        assertEquals(GroupDigests.MIN_GROUP_BLOCKS, group);
        byte[] standby = GroupDigests.ofImage(new ByteArrayInputStream(image), image.length, group);
        assertEquals(4 * GroupDigests.LENGTH, standby.length);
        try (ReplicaHashMap m = ReplicaHashMap.open(dir.resolve("g.map"), image.length)) {
            assertTrue(Arrays.stream(GroupDigests.ofMap(m, group)).allMatch(d -> d == null), "an unknown map judges nothing");
            m.rebuild(new ByteArrayInputStream(image), 1);
            byte[][] primary = GroupDigests.ofMap(m, group);
            for (int g = 0; g < 4; g++) {
                assertArrayEquals(Arrays.copyOfRange(standby, g * 16, g * 16 + 16), primary[g], "group " + g);
            }
            image[image.length - 1] ^= 1; // the last byte of the partial block
            image[300 * 4096] ^= 1; // group 1
            byte[] changed = GroupDigests.ofImage(new ByteArrayInputStream(image), image.length, group);
            for (int g = 0; g < 4; g++) {
                assertEquals(g == 0 || g == 2, Arrays.equals(changed, g * 16, g * 16 + 16, primary[g], 0, 16), "group " + g);
            }
            GroupDigests.Comparison cmp = GroupDigests.compare(primary, changed, group, image.length);
            assertEquals(2, cmp.matching());
            assertEquals(0, cmp.unknown());
            assertEquals(2, cmp.mismatches().size());
            assertArrayEquals(new long[] {1 << 20, 1 << 20}, cmp.mismatches().get(0));
            assertArrayEquals(new long[] {3L << 20, image.length - (3L << 20)}, cmp.mismatches().get(1), "the short last group");
            // a forgotten range is unknown again, and judged no more
            m.forget(300 * 4096L, 1);
            assertEquals(1, GroupDigests.compare(GroupDigests.ofMap(m, group), changed, group, image.length).unknown());
        }
        // large disks get larger groups, never more than the protocol allows
        long big = 1L << 40;
        assertTrue(GroupDigests.groups(big, GroupDigests.groupBlocks(big)) <= GroupDigests.MAX_GROUPS);
        assertThrows(IOException.class, () -> GroupDigests.ofImage(new ByteArrayInputStream(new byte[10]), 4096, 256));
    }

    @Test
    void aMissingMapIsRebuiltByAFullRead() throws IOException {
        byte[] v1 = disk(40, 6);
        Path file = dir.resolve("missing.map");
        try (ReplicaHashMap map = ReplicaHashMap.open(file, v1.length)) {
            Refiner[] r = new Refiner[1];
            refine(v1, map, 2, new ByteArrayOutputStream(), r);
            assertEquals(40, r[0].stats().dataBlocks(), "without a map everything is sent");
            map.rebuild(new ByteArrayInputStream(v1), 2);
            refine(v1, map, 3, new ByteArrayOutputStream(), r);
            assertEquals(40, r[0].stats().unchangedBlocks(), "after the rebuild nothing is");
        }
    }

    @Test
    void aCorruptMapFileIsRefused() throws IOException {
        Path file = dir.resolve("c.map");
        try (ReplicaHashMap map = ReplicaHashMap.open(file, 8L * BS)) {
            assertEquals(8, map.blocks());
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(ReplicaHashMap.HEADER + 3);
        }
        var e = assertThrows(IOException.class, () -> ReplicaHashMap.open(file, 8L * BS));
        assertTrue(e.getMessage().contains("truncated or corrupt"), e.getMessage());
    }

    @Test
    void refinementNeedsWholeBlocks() throws IOException {
        DeltaHeader h = new DeltaHeader(UUID.randomUUID(), "vda", 8L * BS, 0, 1, BS, DeltaFormat.CODEC_NONE, 1 << 20);
        try (DeltaWriter w = new DeltaWriter(new ByteArrayOutputStream(), h, new XzBlockCodec.Preset(0, false),
                DeltaStreamTest.POOL, 1, DeltaWriter.ResultListener.NONE)) {
            Refiner r = new Refiner(w, null);
            r.beginDisk(new DiskInfo("vda", null, "raw", false, "disk"), 8L * BS);
            assertThrows(IllegalArgumentException.class, () -> r.data(512, new byte[BS]));
        }
    }
}
