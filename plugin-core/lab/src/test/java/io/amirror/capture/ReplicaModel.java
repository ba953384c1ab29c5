package io.amirror.capture;

import io.amirror.libvirt.DiskInfo;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;

/** A capture sink that applies what it receives to an in-memory replica and remembers the extents. */
final class ReplicaModel implements CaptureSink {
    final byte[] replica;
    final List<PlannedExtent> extents = new ArrayList<>();
    String disk;

    ReplicaModel(int size) {
        replica = new byte[size];
    }

    /** Starts a new capture on the same replica. */
    ReplicaModel next() {
        extents.clear();
        return this;
    }

    @Override
    public void beginDisk(DiskInfo d, long virtualSize) {
        if (virtualSize != replica.length) {
            throw new AssertionError("disk " + d.target() + " has " + virtualSize + " bytes, replica " + replica.length);
        }
        disk = d.target();
    }

    @Override
    public void zero(long offset, long length) {
        check(offset, length);
        Arrays.fill(replica, (int) offset, (int) (offset + length), (byte) 0);
        extents.add(new PlannedExtent(offset, length, PlannedExtent.Kind.ZERO));
    }

    @Override
    public void data(long offset, byte[] data) {
        check(offset, data.length);
        System.arraycopy(data, 0, replica, (int) offset, data.length);
        extents.add(new PlannedExtent(offset, data.length, PlannedExtent.Kind.DATA));
    }

    private void check(long offset, long length) {
        for (PlannedExtent e : extents) {
            if (offset < e.end() && e.offset() < offset + length) {
                throw new AssertionError("extent [" + offset + ", +" + length + ") overlaps " + e);
            }
        }
    }

    @Override
    public void endDisk() {
    }

    /** The 64 KiB clusters covered by extents of {@code kind} (null: any kind). */
    TreeSet<Long> clusters(PlannedExtent.Kind kind) {
        TreeSet<Long> out = new TreeSet<>();
        for (PlannedExtent e : extents) {
            if (kind == null || e.kind() == kind) {
                for (long c = e.offset() >> 16; c <= (e.end() - 1) >> 16; c++) {
                    out.add(c);
                }
            }
        }
        return out;
    }
}
