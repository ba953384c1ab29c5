package io.amirror.capture;

import io.amirror.nbd.NbdConstants;
import io.amirror.nbd.NbdMessages.Extent;

import java.util.ArrayList;
import java.util.List;

/**
 * Decides which ranges of a disk to send and how, from two NBD block-status maps. Pure.
 *
 * <ul>
 *   <li>Full capture (no dirty map): every range is sent; ranges that {@code base:allocation} flags
 *       as reading zero become ZERO and are never read.</li>
 *   <li>Incremental: DATA = dirty and allocated; ZERO = dirty and reading as zero, so a trim or a
 *       zero-fill costs a few bytes instead of its length; clean ranges are skipped.</li>
 * </ul>
 * A hole without the ZERO flag is read as DATA: an unallocated range may show a backing file's
 * bytes, and only the ZERO flag promises zeroes.
 */
public final class ExtentPlanner {
    private ExtentPlanner() {
    }

    /**
     * @param size       the disk's virtual size
     * @param allocation {@code base:allocation} extents covering [0, size)
     * @param dirty      dirty-bitmap extents covering [0, size) (flag 1 = dirty), or null for a full capture
     */
    public static List<PlannedExtent> plan(long size, List<Extent> allocation, List<Extent> dirty) {
        requireCover(size, allocation, "allocation");
        if (dirty != null) {
            requireCover(size, dirty, "dirty");
        }
        List<PlannedExtent> out = new ArrayList<>();
        int a = 0;
        int d = 0;
        long pos = 0;
        while (pos < size) {
            Extent al = allocation.get(a);
            Extent di = dirty == null ? null : dirty.get(d);
            long end = Math.min(al.end(), di == null ? size : di.end());
            boolean isDirty = di == null || (di.flags() & NbdConstants.STATE_DIRTY) != 0;
            if (isDirty) {
                boolean zero = (al.flags() & NbdConstants.STATE_ZERO) != 0;
                add(out, new PlannedExtent(pos, end - pos, zero ? PlannedExtent.Kind.ZERO : PlannedExtent.Kind.DATA));
            }
            pos = end;
            if (pos == al.end()) {
                a++;
            }
            if (di != null && pos == di.end()) {
                d++;
            }
        }
        return out;
    }

    /** The union of several dirty maps (each covering [0, size)), as one map with flag 1 where any is dirty. */
    public static List<Extent> union(long size, List<List<Extent>> maps) {
        List<long[]> dirty = new ArrayList<>();
        for (List<Extent> m : maps) {
            requireCover(size, m, "dirty");
            for (Extent e : m) {
                if ((e.flags() & NbdConstants.STATE_DIRTY) != 0) {
                    dirty.add(new long[] {e.offset(), e.end()});
                }
            }
        }
        return cover(size, dirty);
    }

    /**
     * A dirty map covering [0, size) with flag 1 on {@code ranges} ({@code [offset, length]},
     * clamped to the disk): ranges to read although no bitmap marked them (a repair after verify).
     */
    public static List<Extent> ranges(long size, List<long[]> ranges) {
        List<long[]> dirty = new ArrayList<>();
        for (long[] r : ranges) {
            long start = Math.max(0, r[0]);
            long end = Math.min(size, r[0] + r[1]);
            if (end > start) {
                dirty.add(new long[] {start, end});
            }
        }
        return cover(size, dirty);
    }

    /** Sorted, merged {@code [start, end)} ranges as extents covering [0, size). */
    private static List<Extent> cover(long size, List<long[]> dirty) {
        dirty.sort((x, y) -> Long.compare(x[0], y[0]));
        List<Extent> out = new ArrayList<>();
        long pos = 0;
        for (long[] r : dirty) {
            if (!out.isEmpty() && out.get(out.size() - 1).flags() == 1 && r[0] <= pos) {
                Extent last = out.remove(out.size() - 1);
                long end = Math.max(last.end(), r[1]);
                out.add(new Extent(last.offset(), end - last.offset(), 1));
                pos = end;
                continue;
            }
            if (r[0] > pos) {
                out.add(new Extent(pos, r[0] - pos, 0));
            }
            out.add(new Extent(r[0], r[1] - r[0], 1));
            pos = r[1];
        }
        if (pos < size) {
            out.add(new Extent(pos, size - pos, 0));
        }
        return out;
    }

    private static void add(List<PlannedExtent> out, PlannedExtent e) {
        if (!out.isEmpty()) {
            PlannedExtent last = out.get(out.size() - 1);
            if (last.kind() == e.kind() && last.end() == e.offset()) {
                out.set(out.size() - 1, new PlannedExtent(last.offset(), last.length() + e.length(), e.kind()));
                return;
            }
        }
        out.add(e);
    }

    private static void requireCover(long size, List<Extent> extents, String what) {
        long pos = 0;
        for (Extent e : extents) {
            if (e.offset() != pos || e.length() <= 0) {
                throw new IllegalArgumentException(what + " map is not contiguous at " + pos + ": " + e);
            }
            pos = e.end();
        }
        if (pos != size) {
            throw new IllegalArgumentException(what + " map covers " + pos + " of " + size + " bytes");
        }
    }
}
