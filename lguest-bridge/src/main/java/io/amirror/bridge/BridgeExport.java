package io.amirror.bridge;

import io.amirror.libvirt.CheckpointChain;
import io.amirror.nbd.NbdConstants;
import io.amirror.nbd.NbdMessages.Descriptor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * What an NBD client of the bridge can open: the guest's disk itself (read-write, every write
 * tracked), or a point (read-only, the disk as it was when the point was cut, with the dirty maps of
 * the earlier points as {@code qemu:dirty-bitmap:} contexts, the way a libvirt pull backup exports
 * a checkpoint).
 */
sealed interface BridgeExport permits BridgeExport.Live, BridgeExport.Point {
    /** Export names of points: {@code point-N}. */
    String POINT_PREFIX = "point-";
    /** Block status descriptors per context per reply, so one request cannot make the server build a huge list. */
    int MAX_DESCRIPTORS = 1 << 16;

    String name();

    long size();

    boolean readOnly();

    void read(long offset, ByteBuffer dst) throws IOException;

    /** The metadata contexts this export offers. */
    List<String> contexts();

    /** Descriptors of {@code context} from {@code offset}, covering at most {@code length} bytes. */
    List<Descriptor> blockStatus(String context, long offset, long length);

    /** Resolves a client's export name: "" or the guest's name for the disk, {@code point-N} for an open point. */
    static Optional<BridgeExport> resolve(BridgeVolume volume, String name) {
        if (name.isEmpty() || name.equals(volume.state().name())) {
            return Optional.of(new Live(volume, name));
        }
        if (name.startsWith(POINT_PREFIX) && name.substring(POINT_PREFIX.length()).matches("[1-9][0-9]{0,8}")) {
            int n = Integer.parseInt(name.substring(POINT_PREFIX.length()));
            if (volume.readable(n)) {
                return Optional.of(new Point(volume, name, n));
            }
        }
        return Optional.empty();
    }

    record Live(BridgeVolume volume, String name) implements BridgeExport {
        @Override
        public long size() {
            return volume.size();
        }

        @Override
        public boolean readOnly() {
            return false;
        }

        @Override
        public void read(long offset, ByteBuffer dst) throws IOException {
            volume.read(offset, dst);
        }

        @Override
        public List<String> contexts() {
            return List.of(NbdConstants.CONTEXT_BASE_ALLOCATION);
        }

        @Override
        public List<Descriptor> blockStatus(String context, long offset, long length) {
            return allocationDescriptors(volume.allocation(offset, offset + length), offset, offset + length);
        }
    }

    record Point(BridgeVolume volume, String name, int point) implements BridgeExport {
        @Override
        public long size() {
            return volume.size();
        }

        @Override
        public boolean readOnly() {
            return true;
        }

        @Override
        public void read(long offset, ByteBuffer dst) throws IOException {
            volume.readPoint(point, offset, dst);
        }

        @Override
        public List<String> contexts() {
            List<String> c = new ArrayList<>(List.of(NbdConstants.CONTEXT_BASE_ALLOCATION));
            for (int p : volume.pointsBefore(point)) {
                c.add(NbdConstants.CONTEXT_DIRTY_BITMAP_PREFIX + BridgeVolume.pointName(p));
            }
            return c;
        }

        @Override
        public List<Descriptor> blockStatus(String context, long offset, long length) {
            long end = offset + length;
            if (context.equals(NbdConstants.CONTEXT_BASE_ALLOCATION)) {
                return allocationDescriptors(volume.pointAllocation(point, offset, end), offset, end);
            }
            String bitmap = context.substring(NbdConstants.CONTEXT_DIRTY_BITMAP_PREFIX.length());
            int p = CheckpointChain.parse(bitmap).orElseThrow();
            return describe(volume.changedAfter(p), offset, end, NbdConstants.STATE_DIRTY, 0);
        }
    }

    /** Data ranges to descriptors: data is 0, the rest a hole that reads as zero. */
    private static List<Descriptor> allocationDescriptors(List<long[]> data, long from, long to) {
        return describe(data, from, to, 0, NbdConstants.STATE_HOLE | NbdConstants.STATE_ZERO);
    }

    /**
     * Covers {@code [from, to)} with descriptors: {@code inFlags} over the given ranges (any order,
     * may overlap), {@code outFlags} elsewhere. Stops early at {@link #MAX_DESCRIPTORS}; the client
     * asks again from where it ends.
     */
    static List<Descriptor> describe(List<long[]> ranges, long from, long to, int inFlags, int outFlags) {
        List<long[]> sorted = new ArrayList<>(ranges);
        sorted.sort(Comparator.comparingLong(r -> r[0]));
        List<Descriptor> out = new ArrayList<>();
        long pos = from;
        for (long[] r : sorted) {
            long s = Math.max(r[0], pos);
            long e = Math.min(r[0] + r[1], to);
            if (e <= s) {
                continue;
            }
            if (s > pos) {
                add(out, s - pos, outFlags);
            }
            add(out, e - s, inFlags);
            pos = e;
            if (out.size() >= MAX_DESCRIPTORS || pos >= to) {
                return out;
            }
        }
        if (pos < to) {
            add(out, to - pos, outFlags);
        }
        return out;
    }

    private static void add(List<Descriptor> out, long length, int flags) {
        if (!out.isEmpty() && out.get(out.size() - 1).flags() == flags) {
            Descriptor last = out.remove(out.size() - 1);
            length += last.length();
        }
        out.add(new Descriptor(length, flags));
    }
}
