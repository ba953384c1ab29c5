package io.amirror.delta;

import io.amirror.capture.CaptureSink;
import io.amirror.libvirt.DiskInfo;

import java.io.IOException;

import static io.amirror.delta.DeltaFormat.BLOCK_SIZE;

/**
 * Between capture and encoder: cuts each captured extent into 4 KiB blocks and sends only what the
 * standby lacks. A block whose hash equals the replica hash map's entry is skipped; an all-zero
 * block becomes part of a ZERO frame; the rest becomes DATA. Neighbouring blocks of one kind are
 * coalesced into one frame. A ZERO extent from the capture is skipped where the map already knows
 * zeroes.
 *
 * <p>Input must arrive in increasing offset order, aligned to 4 KiB (qcow2 clusters and dirty
 * bitmaps are 64 KiB, so captures are), except at the end of the disk.
 */
public final class Refiner implements CaptureSink {

    /** What the refinement did, in blocks. */
    public record Stats(long dataBlocks, long zeroBlocks, long unchangedBlocks) {
    }

    private final DeltaWriter writer;
    private final ReplicaHashMap map;
    private long virtualSize;
    private long dataBlocks;
    private long zeroBlocks;
    private long unchangedBlocks;
    // the run being built: kind, start, and for DATA its bytes
    private int runKind; // 0 none, 1 data, 2 zero
    private long runStart;
    private long runEnd;
    private final java.io.ByteArrayOutputStream runData = new java.io.ByteArrayOutputStream();

    /** @param map the replica hash map, or null to refine only zeroes (no knowledge of the replica) */
    public Refiner(DeltaWriter writer, ReplicaHashMap map) {
        this.writer = writer;
        this.map = map;
    }

    @Override
    public void beginDisk(DiskInfo disk, long size) {
        if (size != writer.header().virtualSize()) {
            throw new IllegalArgumentException("disk " + disk.target() + " has " + size + " bytes, the delta header "
                    + writer.header().virtualSize());
        }
        virtualSize = size;
    }

    @Override
    public void data(long offset, byte[] data) throws IOException {
        requireAligned(offset, data.length);
        long first = offset / BLOCK_SIZE;
        int count = (data.length + BLOCK_SIZE - 1) / BLOCK_SIZE;
        byte[] known = map == null ? null : map.read(first, count);
        for (int i = 0; i < count; i++) {
            int from = i * BLOCK_SIZE;
            int n = Math.min(BLOCK_SIZE, data.length - from);
            long at = offset + from;
            if (BlockHash.isZero(data, from, n)) {
                if (known != null && ReplicaHashMap.matches(known, i, BlockHash.zero(n))) {
                    unchanged();
                } else {
                    add(2, at, n, null, 0);
                    zeroBlocks++;
                }
            } else if (known != null && ReplicaHashMap.matches(known, i, BlockHash.of(data, from, n))) {
                unchanged();
            } else {
                add(1, at, n, data, from);
                dataBlocks++;
            }
        }
    }

    @Override
    public void zero(long offset, long length) throws IOException {
        requireAligned(offset, length);
        final int batch = 4096;
        for (long pos = offset; pos < offset + length; pos += (long) batch * BLOCK_SIZE) {
            long chunk = Math.min((long) batch * BLOCK_SIZE, offset + length - pos);
            int count = (int) ((chunk + BLOCK_SIZE - 1) / BLOCK_SIZE);
            byte[] known = map == null ? null : map.read(pos / BLOCK_SIZE, count);
            for (int i = 0; i < count; i++) {
                long at = pos + (long) i * BLOCK_SIZE;
                int n = (int) Math.min(BLOCK_SIZE, offset + length - at);
                if (known != null && ReplicaHashMap.matches(known, i, BlockHash.zero(n))) {
                    unchanged();
                } else {
                    add(2, at, n, null, 0);
                    zeroBlocks++;
                }
            }
        }
    }

    @Override
    public void endDisk() throws IOException {
        flushRun();
    }

    public Stats stats() {
        return new Stats(dataBlocks, zeroBlocks, unchangedBlocks);
    }

    private void unchanged() throws IOException {
        unchangedBlocks++;
        flushRun();
    }

    private void add(int kind, long at, int n, byte[] src, int from) throws IOException {
        if (runKind != kind || runEnd != at || kind == 1 && runData.size() >= 1 << 20) {
            flushRun();
            runKind = kind;
            runStart = at;
        }
        runEnd = at + n;
        if (kind == 1) {
            runData.write(src, from, n);
        }
    }

    private void flushRun() throws IOException {
        if (runKind == 1) {
            writer.data(runStart, runData.toByteArray());
            runData.reset();
        } else if (runKind == 2) {
            writer.zero(runStart, runEnd - runStart);
        }
        runKind = 0;
    }

    private void requireAligned(long offset, long length) {
        if (offset % BLOCK_SIZE != 0 || length % BLOCK_SIZE != 0 && offset + length != virtualSize) {
            throw new IllegalArgumentException("extent [" + offset + ", +" + length + ") is not aligned to "
                    + BLOCK_SIZE + " bytes; refinement needs whole blocks");
        }
    }
}
