package io.amirror.delta;

import io.amirror.capture.CaptureSink;
import io.amirror.libvirt.DiskInfo;

import java.io.ByteArrayOutputStream;
import java.io.IOException;

import static io.amirror.delta.DeltaFormat.BLOCK_SIZE;

/**
 * Between capture and encoder: cuts each captured extent into 4 KiB blocks and sends only what the
 * standby lacks. A block whose hash equals the replica hash map's entry is skipped; an all-zero
 * block becomes part of a ZERO frame; the rest becomes DATA. Neighbouring blocks of one kind are
 * coalesced into one frame. A ZERO extent from the capture is skipped where the map already knows
 * zeroes.
 *
 * <p>With COPY enabled (a delta from a point the standby holds), a changed block whose content the
 * replica already holds elsewhere goes as a COPY frame naming that source: the next block of a
 * COPY run is first tried at the next source block (files are copied in runs), then looked up in a
 * {@link SourceIndex} built from the map the first time a changed block needs it. Every candidate
 * is confirmed against the map's full hash.
 *
 * <p>Input must arrive in increasing offset order, aligned to 4 KiB (qcow2 clusters and dirty
 * bitmaps are 64 KiB, so captures are), except at the end of the disk.
 */
public final class Refiner implements CaptureSink {

    /** What the refinement did, in blocks. */
    public record Stats(long dataBlocks, long zeroBlocks, long unchangedBlocks, long copyBlocks) {
        /** Whether any block differs from the replica's: the delta changes something. */
        public boolean differs() {
            return dataBlocks + zeroBlocks + copyBlocks > 0;
        }
    }

    private final DeltaWriter writer;
    private final ReplicaHashMap map;
    private long virtualSize;
    private long dataBlocks;
    private long zeroBlocks;
    private long unchangedBlocks;
    private long copyBlocks;
    // the run being built: kind, start, for DATA its bytes, for COPY its source and hashes
    private int runKind; // 0 none, 1 data, 2 zero, 3 copy
    private long runStart;
    private long runEnd;
    private long runSource;
    private final ByteArrayOutputStream runData = new ByteArrayOutputStream();
    private final boolean copies;
    private final int indexEntries;
    private SourceIndex index;

    /** @param map the replica hash map, or null to refine only zeroes (no knowledge of the replica) */
    public Refiner(DeltaWriter writer, ReplicaHashMap map) {
        this(writer, map, false, 0);
    }

    /**
     * @param copies       whether to send blocks the replica holds elsewhere as COPY frames (only in a
     *                     delta from a point: there is no replica to copy from at point 0)
     * @param indexEntries the {@link SourceIndex} bound
     */
    public Refiner(DeltaWriter writer, ReplicaHashMap map, boolean copies, int indexEntries) {
        this.writer = writer;
        this.map = map;
        this.copies = copies && map != null && writer.header().basePoint() != 0;
        this.indexEntries = indexEntries;
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
            } else {
                byte[] hash = BlockHash.of(data, from, n);
                long source;
                if (known != null && ReplicaHashMap.matches(known, i, hash)) {
                    unchanged();
                } else if (n == BLOCK_SIZE && (source = source(at, hash)) >= 0) {
                    addCopy(at, source, hash);
                    copyBlocks++;
                } else {
                    add(1, at, n, data, from);
                    dataBlocks++;
                }
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
        return new Stats(dataBlocks, zeroBlocks, unchangedBlocks, copyBlocks);
    }

    /** Where the replica holds a block with {@code hash} at the base point, as a byte offset; -1: nowhere known. */
    private long source(long at, byte[] hash) throws IOException {
        if (!copies) {
            return -1;
        }
        if (runKind == 3 && runEnd == at) {
            long next = runSource + (runEnd - runStart);
            if (next / BLOCK_SIZE < map.blocks() && holds(next / BLOCK_SIZE, hash)) {
                return next;
            }
        }
        if (index == null) {
            index = SourceIndex.build(map, indexEntries);
        }
        var candidate = index.find(hash);
        if (candidate.isPresent() && holds(candidate.getAsLong(), hash)) {
            return candidate.getAsLong() * BLOCK_SIZE;
        }
        return -1;
    }

    private boolean holds(long block, byte[] hash) throws IOException {
        return (block + 1) * BLOCK_SIZE <= virtualSize && ReplicaHashMap.matches(map.read(block, 1), 0, hash);
    }

    private void addCopy(long at, long source, byte[] hash) throws IOException {
        if (runKind != 3 || runEnd != at || runSource + (runEnd - runStart) != source
                || runData.size() >= DeltaFormat.MAX_COPY_BLOCKS * BlockHash.LENGTH) {
            flushRun();
            runKind = 3;
            runStart = at;
            runSource = source;
        }
        runEnd = at + BLOCK_SIZE;
        runData.write(hash, 0, BlockHash.LENGTH);
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
        } else if (runKind == 3) {
            writer.copy(runStart, runSource, runData.toByteArray());
            runData.reset();
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
