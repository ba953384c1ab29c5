package io.amirror.spool;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SpoolTest {
    static final UUID DOM = UUID.fromString("0f8fad5b-d9cb-469f-a165-70867728950e");

    @TempDir
    Path root;

    static Spool.Entry put(Spool s, int base, int next, int bytes) throws IOException {
        try (Spool.Writing w = s.begin(DOM, "vda", base, next)) {
            w.stream().write(new byte[bytes]);
            return w.commit();
        }
    }

    @Test
    void aNewerDeltaSupersedesUnshippedOlderOnes() throws IOException {
        Spool s = new Spool(root, 1 << 20);
        put(s, 3, 4, 100);
        put(s, 3, 5, 100);
        Spool.Entry e6 = put(s, 3, 6, 100);
        assertEquals(List.of(e6), s.entries(DOM, "vda"), "points 4 and 5 are covered by 3->6");
    }

    @Test
    void aDeltaBeingShippedIsNotSuperseded() throws IOException {
        Spool s = new Spool(root, 1 << 20);
        Spool.Entry e4 = put(s, 3, 4, 100);
        s.markShipping(e4);
        put(s, 3, 5, 100);
        assertEquals(2, s.entries(DOM, "vda").size());
        s.acknowledged(DOM, "vda", 4);
        assertEquals(List.of(5), s.entries(DOM, "vda").stream().map(Spool.Entry::newPoint).toList());
    }

    @Test
    void partialDeltasAreInvisibleAndAbortLeavesNothing() throws IOException {
        Spool s = new Spool(root, 1 << 20);
        try (Spool.Writing w = s.begin(DOM, "vda", 0, 1)) {
            w.stream().write(new byte[5000]);
            w.stream().flush();
            assertEquals(List.of(), s.entries(DOM, "vda"), "not visible before commit");
        }
        assertEquals(0, s.usedBytes(), "closed without commit: gone");
    }

    @Test
    void theSizeBoundStopsAWriterWithAClearErrorAndDropsNothingElse() throws IOException {
        Spool s = new Spool(root, 10_000);
        Spool.Entry kept = put(s, 0, 1, 6000);
        s.markShipping(kept);
        Spool.Writing w = s.begin(DOM, "vda", 0, 2);
        SpoolFullException e = assertThrows(SpoolFullException.class, () -> {
            w.stream().write(new byte[8000]);
            w.stream().flush();
        });
        assertTrue(e.getMessage().contains("spool full"), e.getMessage());
        w.abort();
        assertEquals(List.of(kept), s.entries(DOM, "vda"), "the existing delta is untouched");
        assertTrue(Files.exists(kept.file()));
    }

    @Test
    void concurrentWritersShareOneBoundNeverPassingItTogether() throws Exception {
        long max = 1 << 20;
        Spool s = new Spool(root, max);
        UUID other = UUID.fromString("1f8fad5b-d9cb-469f-a165-70867728950e");
        // both open while the spool is empty: each alone would have had the whole bound
        Spool.Writing a = s.begin(DOM, "vda", 0, 1);
        Spool.Writing b = s.begin(other, "vda", 0, 1);
        java.util.concurrent.CyclicBarrier start = new java.util.concurrent.CyclicBarrier(2);
        java.util.concurrent.ConcurrentLinkedQueue<SpoolFullException> refused = new java.util.concurrent.ConcurrentLinkedQueue<>();
        List<Thread> threads = new java.util.ArrayList<>();
        for (Spool.Writing w : List.of(a, b)) {
            Thread t = new Thread(() -> {
                try {
                    start.await();
                    for (int i = 0; i < 200; i++) { // 800 KiB each, 1.6 MiB together
                        w.stream().write(new byte[4096]);
                        w.stream().flush();
                    }
                    w.commit();
                } catch (SpoolFullException e) {
                    refused.add(e);
                    try {
                        w.abort();
                    } catch (IOException ignored) {
                        // the assertions below see the file
                    }
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            t.start();
            threads.add(t);
        }
        for (Thread t : threads) {
            t.join(30_000);
        }
        // interleaved, either may reach the bound first, and both can (each half-way): never neither
        assertTrue(refused.size() >= 1, "the two together cannot pass the shared bound");
        SpoolFullException e = refused.peek();
        assertEquals(max, e.max());
        assertTrue(e.written() > 0 && e.written() <= 200 * 4096, "the refused delta says how far it got: " + e.written());
        assertTrue(s.usedBytes() <= max, "together never past the bound: " + s.usedBytes());
        assertEquals(refused.size() == 1 ? 200 * 4096 : 0, s.usedBytes(),
                "only a committed delta remains; a refused one's partial is gone");
        try (var files = Files.walk(root)) {
            assertFalse(files.anyMatch(p -> p.toString().endsWith(".partial")));
        }
        assertEquals(s.usedBytes(), s.committedBytes(), "nothing is left reserved");
    }

    @Test
    void roomComesBackWhenDeltasAreAcknowledgedAndAFullSpoolRefusesAtOnce() throws IOException {
        Spool s = new Spool(root, 10_000);
        put(s, 0, 1, 10_000);
        SpoolFullException full = assertThrows(SpoolFullException.class, () -> s.begin(DOM, "vdb", 0, 1));
        assertEquals(0, full.written());
        s.acknowledged(DOM, "vda", 1);
        assertEquals(0, s.committedBytes());
        assertEquals(9000, put(s, 1, 2, 9000).size());
    }

    @Test
    void aBoundOfZeroIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new Spool(root, 0));
    }

    @Test
    void partialsLeftByACrashAreSwept() throws IOException {
        Spool s = new Spool(root, 1 << 20);
        Spool.Writing w = s.begin(DOM, "vda", 0, 1);
        w.stream().write(new byte[10]);
        w.stream().flush();
        // the process dies here: no commit, no abort; the next daemon's spool sweeps
        new Spool(root, 1 << 20).sweepPartials();
        assertFalse(Files.list(root.resolve(DOM.toString()).resolve("vda")).anyMatch(p -> p.toString().endsWith(".partial")));
    }

    @Test
    void diskNamesCannotEscapeTheSpool() {
        Spool s = new Spool(root, 1 << 20);
        assertThrows(IllegalArgumentException.class, () -> s.begin(DOM, "../../etc", 0, 1));
    }

    @Test
    void deltasAreTheOwnersOnlyEvenOverALeftoverPartial() throws IOException {
        Spool s = new Spool(root, 1 << 20);
        Path leftover = root.resolve(DOM.toString()).resolve("vda").resolve("delta-0-1.amd.partial");
        Files.createDirectories(leftover.getParent());
        Files.write(leftover, new byte[10]);
        Files.setPosixFilePermissions(leftover, PosixFilePermissions.fromString("rw-r--r--"));
        Spool.Entry e = put(s, 0, 1, 100);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(e.file())));
        assertEquals(100, e.size());
    }
}
