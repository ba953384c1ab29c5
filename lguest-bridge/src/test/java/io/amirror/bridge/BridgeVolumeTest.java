package io.amirror.bridge;

import io.amirror.util.FileTrees;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The volume's points and maps against a model: the image's content per block at every cut. */
class BridgeVolumeTest {
    private static final int BLOCKS = 48;
    private static final int B = DirtyMap.BLOCK;

    /** One step: write {@code n} blocks at {@code block} (byte {@code fill}), zero, cut, or delete a point. */
    record Step(int kind, int block, int n, int fill) {
    }

    @Provide
    Arbitrary<List<Step>> steps() {
        Arbitrary<Step> s = Combinators.combine(Arbitraries.integers().between(0, 9),
                Arbitraries.integers().between(0, BLOCKS - 1), Arbitraries.integers().between(1, 5),
                Arbitraries.integers().between(1, 255)).as(Step::new);
        return s.list().ofMinSize(1).ofMaxSize(40);
    }

    /**
     * Whatever the order of writes, zeroes, cuts and deletes: every open point reads exactly as the
     * image was at its cut, and the union of the maps from any point b up to a later point n covers
     * every block whose content differs between the two.
     */
    @Property(tries = 60)
    void pointsReadAsCutAndMapsCoverEveryChange(@ForAll("steps") List<Step> steps) throws IOException {
        Path dir = Files.createTempDirectory("bridge-prop");
        try {
            Path image = dir.resolve("disk.raw");
            Files.write(image, new byte[BLOCKS * B]);
            int[] now = new int[BLOCKS];            // model: fill byte of each block
            Map<Integer, int[]> atCut = new HashMap<>();
            try (BridgeVolume v = BridgeVolume.open(image, dir.resolve("state"), null, "g", "vda", List.of())) {
                for (Step st : steps) {
                    int n = Math.min(st.n(), BLOCKS - st.block());
                    if (st.kind() <= 5) {
                        byte[] d = new byte[n * B];
                        Arrays.fill(d, (byte) st.fill());
                        v.write((long) st.block() * B, ByteBuffer.wrap(d));
                        Arrays.fill(now, st.block(), st.block() + n, st.fill());
                    } else if (st.kind() == 6) {
                        v.writeZeroes((long) st.block() * B, (long) n * B, st.fill() % 2 == 0);
                        Arrays.fill(now, st.block(), st.block() + n, 0);
                    } else if (st.kind() <= 8) {
                        int p = v.cut(0);
                        atCut.put(p, now.clone());
                    } else if (!v.state().points().isEmpty()) {
                        List<Integer> ps = v.state().points();
                        int p = ps.get(st.fill() % ps.size());
                        v.delete(p);
                        atCut.remove(p);
                    }
                    check(v, atCut, now);
                }
            }
        } finally {
            FileTrees.delete(dir);
        }
    }

    private static void check(BridgeVolume v, Map<Integer, int[]> atCut, int[] now) throws IOException {
        List<Integer> points = v.state().points();
        for (int p : points) {
            int[] expected = atCut.get(p);
            ByteBuffer got = ByteBuffer.allocate(BLOCKS * B);
            v.readPoint(p, 0, got);
            for (int b = 0; b < BLOCKS; b++) {
                assertEquals((byte) expected[b], got.get(b * B), "point " + p + " block " + b);
                assertEquals((byte) expected[b], got.get(b * B + B - 1), "point " + p + " block " + b + " end");
            }
        }
        for (int i = 0; i < points.size(); i++) {
            for (int j = i + 1; j <= points.size(); j++) {
                int[] from = atCut.get(points.get(i));
                int[] to = j < points.size() ? atCut.get(points.get(j)) : now;
                boolean[] covered = new boolean[BLOCKS];
                for (int k = i; k < j; k++) {
                    for (long[] r : v.changedAfter(points.get(k))) {
                        for (long o = r[0]; o < r[0] + r[1]; o += B) {
                            covered[(int) (o / B)] = true;
                        }
                    }
                }
                for (int b = 0; b < BLOCKS; b++) {
                    if (from[b] != to[b]) {
                        assertTrue(covered[b], "block " + b + " changed after point " + points.get(i) + " unmarked");
                    }
                }
            }
        }
    }

    @Test
    void theMapsAndPointsSurviveAReopenAndAStrayCutIsRemoved(@TempDir Path dir) throws IOException {
        Path image = dir.resolve("disk.raw");
        Files.write(image, new byte[16 * B]);
        Path state = dir.resolve("state");
        try (BridgeVolume v = BridgeVolume.open(image, state, null, "g", "vda", List.of("qemu-system-x86_64", "-m", "256"))) {
            assertEquals(1, v.cut(0));
            v.write(3 * B, ByteBuffer.wrap(new byte[] {1, 2, 3}));
            assertEquals(5, v.cut(5), "a cut is at least the number asked");
        }
        Files.write(state.resolve("point-9.map"), new byte[40]); // a cut that died before its state was written
        try (BridgeVolume v = BridgeVolume.open(image, state, null, "other", "vdb", List.of())) {
            assertEquals(List.of(1, 5), v.state().points());
            assertEquals("g", v.state().name(), "the first open names the guest");
            assertEquals(List.of("qemu-system-x86_64", "-m", "256"), v.state().launcher());
            assertEquals(1, v.changedAfter(1).size());
            assertArrayEquals(new long[] {3 * B, B}, v.changedAfter(1).get(0));
            assertFalse(v.readable(5), "a snapshot does not outlive its process");
        }
        assertFalse(Files.exists(state.resolve("point-9.map")));
    }

    @Test
    void anImageThatChangedSizeOrIsNotAMultipleOf4KiBIsRefused(@TempDir Path dir) throws IOException {
        Path image = dir.resolve("disk.raw");
        Files.write(image, new byte[16 * B]);
        try (BridgeVolume v = BridgeVolume.open(image, dir.resolve("s"), null, "g", "vda", List.of())) {
            v.cut(0);
        }
        Files.write(image, new byte[32 * B]);
        IOException e = assertThrows(IOException.class, () -> BridgeVolume.open(image, dir.resolve("s"), null, "g", "vda", List.of()));
        assertTrue(e.getMessage().contains("no longer describe it"), e.getMessage());
        Files.write(image, new byte[B + 512]);
        e = assertThrows(IOException.class, () -> BridgeVolume.open(image, dir.resolve("t"), null, "g", "vda", List.of()));
        assertTrue(e.getMessage().contains("multiple of 4096"), e.getMessage());
    }

    @Test
    void aDamagedMapIsRefusedNotTrusted(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("m.map");
        try (DirtyMap m = DirtyMap.create(f, 64 * B)) {
            m.mark(5 * B, 1);
        }
        byte[] raw = Files.readAllBytes(f);
        Files.write(f, Arrays.copyOf(raw, raw.length - 1));
        assertThrows(IOException.class, () -> DirtyMap.open(f, 64 * B));
        raw[0] ^= 1;
        Files.write(f, raw);
        assertThrows(IOException.class, () -> DirtyMap.open(f, 64 * B));
    }
}
