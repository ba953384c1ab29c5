package io.amirror.delta;

import io.amirror.image.DiskImage;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.*;

/**
 * COPY frames from end to end on real files: found by the refiner through the source index,
 * applied from the base point, checked against their hashes, and safe to apply again.
 */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class CopyFramesTest {
    static final int BS = DeltaFormat.BLOCK_SIZE;
    static final int BLOCKS = 512; // 2 MiB
    static final DiskImage.Tools TOOLS = DiskImage.Tools.installed();

    /** OLD: distinct random blocks. NEW: a run of OLD copied elsewhere, a block moved back, new data, a hole. */
    static byte[][] images() {
        byte[] old = new byte[BLOCKS * BS];
        new Random(1).nextBytes(old);
        byte[] now = old.clone();
        System.arraycopy(old, 10 * BS, now, 300 * BS, 40 * BS);      // a file copied: 40 blocks
        System.arraycopy(old, 305 * BS, now, 12 * BS, BS);           // a source overwritten by another's target
        System.arraycopy(old, 100 * BS, now, 450 * BS, BS);          // an isolated duplicate
        byte[] fresh = new byte[8 * BS];
        new Random(2).nextBytes(fresh);
        System.arraycopy(fresh, 0, now, 200 * BS, fresh.length);     // new data
        Arrays.fill(now, 480 * BS, 490 * BS, (byte) 0);              // a trim
        return new byte[][] {old, now};
    }

    static DeltaFiles.CreateResult create(Path dir, byte[] old, byte[] now, Path out, boolean copies) throws IOException {
        Path a = dir.resolve("old.raw");
        Path b = dir.resolve("new.raw");
        Files.write(a, old);
        Files.write(b, now);
        try (DiskImage x = DiskImage.open(a, false, TOOLS); DiskImage y = DiskImage.open(b, false, TOOLS)) {
            return DeltaFiles.create(x, y, out, new DeltaFiles.CreateOptions(UUID.randomUUID(), "vda", 1, 2,
                    new XzBlockCodec.Preset(6, false), 0, 1, 1 << 20), copies);
        }
    }

    @Test
    void copiedBlocksTravelAsReferencesAndApplyFromTheBase(@TempDir Path dir) throws IOException {
        byte[][] v = images();
        Path with = dir.resolve("with.amd");
        Path without = dir.resolve("without.amd");
        DeltaFiles.CreateResult c = create(dir, v[0], v[1], with, true);
        DeltaFiles.CreateResult d = create(dir, v[0], v[1], without, false);
        assertEquals(42, c.refined().copyBlocks(), "40 copied, 1 moved back, 1 duplicate");
        assertEquals(8, c.refined().dataBlocks(), "only the new data goes as data");
        assertEquals(50, d.refined().dataBlocks());
        System.out.printf("COPY frames: %d bytes with, %d bytes without (42 reused blocks, 8 new)%n", Files.size(with),
                Files.size(without));
        assertTrue(Files.size(with) < Files.size(without) / 3, Files.size(with) + " vs " + Files.size(without));

        Path image = dir.resolve("image.raw");
        Files.write(image, v[0]);
        try (DiskImage img = DiskImage.open(image, true, TOOLS)) {
            DeltaFiles.apply(with, img);
        }
        assertArrayEquals(v[1], Files.readAllBytes(image));
    }

    @Test
    void aReapplyAfterACrashReadsSourcesFromTheBaseNotFromTheHalfWrittenImage(@TempDir Path dir) throws IOException {
        byte[][] v = images();
        Path delta = dir.resolve("d.amd");
        create(dir, v[0], v[1], delta, true);
        Path base = dir.resolve("base.raw");       // the recovery point the standby keeps
        Files.write(base, v[0]);
        Path image = dir.resolve("image.raw");
        Files.write(image, v[1]);                   // the crash came after every write, before the point was recorded
        try (DiskImage img = DiskImage.open(image, true, TOOLS)) {
            DeltaFiles.Sources sources = DeltaFiles.gatherSources(delta, () -> DiskImage.open(base, false, TOOLS), true);
            DeltaFiles.apply(delta, img, sources);
            assertFalse(Files.exists(sources.file()), "the scratch copy of the sources goes");
        }
        assertArrayEquals(v[1], Files.readAllBytes(image), "applying again is harmless");
        // the same again with sources taken from the written image would be wrong: block 305 was overwritten
        try (DiskImage img = DiskImage.open(image, true, TOOLS)) {
            assertThrows(DeltaFiles.StaleSourceException.class, () -> DeltaFiles.gatherSources(delta, () -> img, false));
        }
    }

    @Test
    void aDriftedSourceIsRefusedWithItsRangeAndNothingIsWritten(@TempDir Path dir) throws IOException {
        byte[][] v = images();
        Path delta = dir.resolve("d.amd");
        create(dir, v[0], v[1], delta, true);
        byte[] drifted = v[0].clone();
        drifted[20 * BS + 7] ^= 1;                   // inside the copied file's source
        drifted[100 * BS] ^= 1;                      // the isolated duplicate's source
        Path image = dir.resolve("image.raw");
        Files.write(image, drifted);
        try (DiskImage img = DiskImage.open(image, true, TOOLS)) {
            DeltaFiles.StaleSourceException e = assertThrows(DeltaFiles.StaleSourceException.class,
                    () -> DeltaFiles.apply(delta, img));
            assertEquals(2, e.ranges().size());
            assertArrayEquals(new long[] {20L * BS, BS}, e.ranges().get(0));
            assertArrayEquals(new long[] {100L * BS, BS}, e.ranges().get(1));
        }
        assertArrayEquals(drifted, Files.readAllBytes(image), "a refused delta wrote nothing");
        assertFalse(Files.exists(dir.resolve("d.amd.sources")));
    }

    @Test
    void aSampledIndexStillFindsCopiedRuns(@TempDir Path dir) throws IOException {
        byte[][] v = images();
        Path map = dir.resolve("m.map");
        try (ReplicaHashMap m = ReplicaHashMap.open(map, v[0].length)) {
            m.rebuild(new ByteArrayInputStream(v[0]), 1);
            SourceIndex full = SourceIndex.build(m, 1 << 20);
            assertEquals(BLOCKS, full.size());
            assertEquals(0, full.sampleBits());
            SourceIndex sampled = SourceIndex.build(m, 64);
            assertTrue(sampled.sampleBits() >= 3, "512 blocks in 64 entries: 1 in 8 or fewer");
            assertTrue(sampled.size() <= 64);
            int found = 0;
            for (int b = 0; b < BLOCKS; b++) {
                var at = sampled.find(BlockHash.of(v[0], b * BS, BS));
                if (at.isPresent()) {
                    assertEquals(b, at.getAsLong(), "a hit is the block itself");
                    found++;
                }
            }
            assertEquals(sampled.size(), found);
        }
    }

    /** A new block written many times within one delta costs about one block: xz's window matches the repeats. */
    @Test
    void aNewBlockWrittenManyTimesInOneDeltaIsSentOnce(@TempDir Path dir) throws IOException {
        byte[] old = new byte[BLOCKS * BS];
        new Random(3).nextBytes(old);
        byte[] now = old.clone();
        byte[] block = new byte[BS];
        new Random(4).nextBytes(block);
        for (int i = 0; i < 64; i++) {
            System.arraycopy(block, 0, now, (100 + 5 * i) * BS, BS);
        }
        Path delta = dir.resolve("dup.amd");
        DeltaFiles.CreateResult r = create(dir, old, now, delta, true);
        System.out.printf("one new 4 KiB block written 64 times: %d bytes of delta%n", Files.size(delta));
        assertEquals(64, r.refined().dataBlocks());
        assertTrue(Files.size(delta) < 2 * BS, "the repeats cost a few bytes each: " + Files.size(delta));
    }
}
