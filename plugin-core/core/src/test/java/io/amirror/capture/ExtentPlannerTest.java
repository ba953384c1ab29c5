package io.amirror.capture;

import io.amirror.nbd.NbdMessages.Extent;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The planner against a brute-force model that decides every 512-byte sector on its own. */
class ExtentPlannerTest {
    static final int SECTOR = 512;

    /** Builds a contiguous map from run lengths (in sectors) and flags. */
    static List<Extent> map(List<Integer> runs, List<Integer> flags) {
        List<Extent> out = new ArrayList<>();
        long pos = 0;
        for (int i = 0; i < runs.size(); i++) {
            long len = (long) runs.get(i) * SECTOR;
            out.add(new Extent(pos, len, flags.get(i % flags.size())));
            pos += len;
        }
        return out;
    }

    static int flagAt(List<Extent> m, long off) {
        return m.stream().filter(e -> e.offset() <= off && off < e.end()).findFirst().orElseThrow().flags();
    }

    @Property
    void matchesSectorBySectorDecisions(@ForAll @Size(min = 1, max = 12) List<@IntRange(min = 1, max = 9) Integer> aRuns,
                                        @ForAll @Size(min = 1, max = 12) List<@IntRange(min = 0, max = 3) Integer> aFlags,
                                        @ForAll @Size(min = 1, max = 12) List<@IntRange(min = 1, max = 9) Integer> dRuns,
                                        @ForAll @Size(min = 1, max = 12) List<@IntRange(min = 0, max = 1) Integer> dFlags,
                                        @ForAll boolean full) {
        List<Extent> alloc = map(aRuns, aFlags);
        long size = alloc.get(alloc.size() - 1).end();
        // stretch or cut the dirty map to the same size
        List<Extent> dirty = new ArrayList<>();
        long pos = 0;
        for (int i = 0; pos < size; i++) {
            long len = Math.min((long) dRuns.get(i % dRuns.size()) * SECTOR, size - pos);
            dirty.add(new Extent(pos, len, dFlags.get(i % dFlags.size())));
            pos += len;
        }
        List<PlannedExtent> plan = ExtentPlanner.plan(size, alloc, full ? null : dirty);

        for (long s = 0; s < size; s += SECTOR) {
            final long off = s;
            boolean wanted = full || (flagAt(dirty, off) & 1) != 0;
            PlannedExtent.Kind expected = (flagAt(alloc, off) & 2) != 0 ? PlannedExtent.Kind.ZERO : PlannedExtent.Kind.DATA;
            var hit = plan.stream().filter(p -> p.offset() <= off && off < p.end()).toList();
            if (!wanted) {
                assertTrue(hit.isEmpty(), "clean sector " + off + " must be skipped");
            } else {
                assertEquals(1, hit.size(), "dirty sector " + off + " covered once");
                assertEquals(expected, hit.get(0).kind(), "kind of sector " + off);
            }
        }
        for (int i = 1; i < plan.size(); i++) {
            PlannedExtent a = plan.get(i - 1);
            PlannedExtent b = plan.get(i);
            assertTrue(a.end() <= b.offset(), "sorted, disjoint");
            assertTrue(a.end() < b.offset() || a.kind() != b.kind(), "neighbours of one kind are merged");
        }
    }

    @Property
    void unionIsDirtyWhereAnyMapIsDirty(@ForAll @Size(min = 1, max = 10) List<@IntRange(min = 1, max = 5) Integer> r1,
                                        @ForAll @Size(min = 1, max = 10) List<@IntRange(min = 1, max = 5) Integer> r2) {
        List<Extent> a = map(r1, List.of(0, 1));
        long size = a.get(a.size() - 1).end();
        List<Extent> b = new ArrayList<>();
        long pos = 0;
        for (int i = 0; pos < size; i++) {
            long len = Math.min((long) r2.get(i % r2.size()) * SECTOR, size - pos);
            b.add(new Extent(pos, len, i % 3 == 0 ? 1 : 0));
            pos += len;
        }
        List<Extent> u = ExtentPlanner.union(size, List.of(a, b));
        for (long s = 0; s < size; s += SECTOR) {
            assertEquals((flagAt(a, s) | flagAt(b, s)) & 1, flagAt(u, s) & 1, "sector " + s);
        }
    }

    @Example
    void rejectsMapsWithGapsOrTheWrongSize() {
        List<Extent> gap = List.of(new Extent(0, 512, 0), new Extent(1024, 512, 0));
        assertThrows(IllegalArgumentException.class, () -> ExtentPlanner.plan(1536, gap, null));
        assertThrows(IllegalArgumentException.class, () -> ExtentPlanner.plan(4096, List.of(new Extent(0, 512, 0)), null));
    }

    @Example
    void repairRangesBecomeAClampedMergedDirtyMap() {
        List<Extent> m = ExtentPlanner.ranges(100, List.of(new long[] {90, 50}, new long[] {10, 5}, new long[] {12, 8},
                new long[] {-5, 3}));
        assertEquals(List.of(new Extent(0, 10, 0), new Extent(10, 10, 1), new Extent(20, 70, 0), new Extent(90, 10, 1)), m);
        assertEquals(List.of(new Extent(0, 100, 0)), ExtentPlanner.ranges(100, List.of()));
    }
}
