package io.amirror.delta;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;

import static io.amirror.delta.DeltaFormat.*;

/**
 * Writes one delta stream: header, blocks of frames (each compressed on its own, in parallel on the
 * given executor), trailer.
 *
 * <p>Callers add frames in increasing offset order, aligned to {@link DeltaFormat#BLOCK_SIZE}
 * except at the end of the disk; the writer checks this with the same {@link DeltaCodec.FrameOrder}
 * the reader uses, so it cannot write a stream the reader would refuse. A DATA frame larger than the
 * room left in a block is split. At most {@code threads + 1} blocks are in memory at once.
 *
 * <p>Writes format {@link DeltaFormat#VERSION} only. Besides the stream, the writer reports the
 * resulting hash of every 4 KiB block the delta touches to a {@link ResultListener} (ZERO frames
 * as a run of blocks): the replica hash map takes them once the standby acknowledges.
 */
public final class DeltaWriter implements AutoCloseable {

    /** The content each touched block has after the delta is applied. */
    public interface ResultListener {
        void data(long block, byte[] hash);

        void zero(long firstBlock, long count);

        ResultListener NONE = new ResultListener() {
            @Override
            public void data(long block, byte[] hash) {
            }

            @Override
            public void zero(long firstBlock, long count) {
            }
        };
    }

    /** Sizes and hashes of a finished delta. */
    public record Summary(DeltaHeader header, int blocks, long frames, long dataBytes, long zeroBytes, long rawBytes,
                          long storedBytes, byte[] resultSha256, long copyBytes) {
    }

    private record Encoded(int index, int rawLength, byte[] stored, byte[] sha256) {
    }

    private final OutputStream out;
    private final DeltaHeader header;
    private final XzBlockCodec.Preset preset;
    private final ExecutorService executor;
    private final int inFlightLimit;
    private final ResultListener listener;
    private final DeltaCodec.FrameOrder order;
    private final MessageDigest chain = BlockHash.sha256();
    private final MessageDigest framesSha = BlockHash.sha256();
    private final DeltaCodec.ResultDigest result;
    private final Deque<Future<Encoded>> inFlight = new ArrayDeque<>();
    private ByteBuffer block;
    private int nextIndex;
    private long frames;
    private long dataBytes;
    private long zeroBytes;
    private long copyBytes;
    private long rawBytes;
    private long storedBytes;
    private boolean finished;

    /**
     * @param preset   the xz preset, ignored when the header's codec is NONE
     * @param executor runs block compression; {@code threads} of its workers are used at once
     */
    public DeltaWriter(OutputStream out, DeltaHeader header, XzBlockCodec.Preset preset, ExecutorService executor,
                       int threads, ResultListener listener) throws IOException {
        this.out = out;
        this.header = header;
        this.preset = preset;
        this.executor = executor;
        this.inFlightLimit = Math.max(1, threads);
        this.listener = listener;
        if (header.version() != VERSION) {
            throw new IllegalArgumentException("the writer writes delta format version " + VERSION + ", not "
                    + header.version());
        }
        this.order = new DeltaCodec.FrameOrder(header);
        this.result = new DeltaCodec.ResultDigest(header);
        byte[] h = DeltaCodec.encodeHeader(header);
        out.write(h);
        chain.update(DeltaCodec.headerSha256(h));
        block = ByteBuffer.allocate(header.maxBlockRaw());
    }

    public DeltaHeader header() {
        return header;
    }

    public void data(long offset, byte[] payload) throws IOException {
        data(offset, payload, 0, payload.length);
    }

    public void data(long offset, byte[] payload, int from, int length) throws IOException {
        check(offset, length, "DATA");
        int done = 0;
        while (done < length) {
            int room = block.remaining() - DATA_FRAME_HEADER;
            // split on a block boundary, so that every frame stays aligned
            int n = Math.min(length - done, room - room % BLOCK_SIZE);
            if (n <= 0) {
                flushBlock();
                continue;
            }
            DeltaCodec.encodeData(block, offset + done, payload, from + done, n);
            frames++;
            done += n;
        }
        for (int pos = 0; pos < length; pos += BLOCK_SIZE) {
            int n = Math.min(BLOCK_SIZE, length - pos);
            byte[] h = BlockHash.of(payload, from + pos, n);
            long blockIndex = (offset + pos) / BLOCK_SIZE;
            result.block(blockIndex, h);
            listener.data(blockIndex, h);
        }
        dataBytes += length;
    }

    public void zero(long offset, long length) throws IOException {
        check(offset, length, "ZERO");
        if (block.remaining() < ZERO_FRAME_SIZE) {
            flushBlock();
        }
        DeltaCodec.encodeZero(block, offset, length);
        frames++;
        result.zero(offset, length);
        // the listener (the primary's own hash map) still takes the frame as the blocks it covers
        listener.zero(offset / BLOCK_SIZE, (length - 1) / BLOCK_SIZE + 1);
        zeroBytes += length;
    }

    /**
     * Blocks at {@code offset} that the replica holds at {@code source} (base point), with each
     * source block's hash. Split across delta blocks as room requires.
     */
    public void copy(long offset, long source, byte[] hashes) throws IOException {
        int count = hashes.length / BlockHash.LENGTH;
        if (header.basePoint() == 0) {
            throw new IllegalArgumentException("writer misuse: COPY in a delta from point 0");
        }
        check(offset, (long) count * BLOCK_SIZE, "COPY");
        int done = 0;
        while (done < count) {
            int room = (block.remaining() - COPY_FRAME_HEADER) / BlockHash.LENGTH;
            int n = Math.min(Math.min(count - done, room), MAX_COPY_BLOCKS);
            if (n <= 0) {
                flushBlock();
                continue;
            }
            DeltaCodec.encodeCopy(block, offset + (long) done * BLOCK_SIZE, source + (long) done * BLOCK_SIZE, hashes,
                    done, n);
            frames++;
            done += n;
        }
        for (int i = 0; i < count; i++) {
            byte[] h = Arrays.copyOfRange(hashes, i * BlockHash.LENGTH, (i + 1) * BlockHash.LENGTH);
            long blockIndex = offset / BLOCK_SIZE + i;
            result.block(blockIndex, h);
            listener.data(blockIndex, h);
        }
        copyBytes += (long) count * BLOCK_SIZE;
    }

    private void check(long offset, long length, String kind) throws IOException {
        if (finished) {
            throw new IllegalStateException("delta already finished");
        }
        try {
            order.check(offset, length, kind);
        } catch (DeltaFormatException e) {
            throw new IllegalArgumentException("writer misuse: " + e.getMessage(), e);
        }
    }

    private void flushBlock() throws IOException {
        if (block.position() == 0) {
            return;
        }
        byte[] raw = block.array();
        int length = block.position();
        framesSha.update(raw, 0, length);
        rawBytes += length;
        int index = nextIndex++;
        boolean xz = header.codec() == CODEC_XZ;
        inFlight.add(executor.submit(() -> {
            byte[] stored = xz ? XzBlockCodec.compress(raw, length, preset) : Arrays.copyOf(raw, length);
            MessageDigest md = BlockHash.sha256();
            md.update(stored);
            return new Encoded(index, length, stored, md.digest());
        }));
        block = ByteBuffer.allocate(header.maxBlockRaw());
        while (inFlight.size() > inFlightLimit) {
            writeOldest();
        }
    }

    private void writeOldest() throws IOException {
        Encoded e;
        try {
            e = inFlight.removeFirst().get();
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while compressing", ex);
        } catch (ExecutionException ex) {
            throw new IOException("compressing block failed: " + ex.getCause(), ex.getCause());
        }
        out.write(DeltaCodec.encodeBlockHeader(new DeltaCodec.BlockHeader(e.index(), e.rawLength(), e.stored().length,
                e.sha256())));
        out.write(e.stored());
        chain.update(e.sha256());
        storedBytes += e.stored().length;
    }

    /** Flushes the last block and writes the trailer. The output stream is left open. */
    public Summary finish() throws IOException {
        flushBlock();
        while (!inFlight.isEmpty()) {
            writeOldest();
        }
        finished = true;
        byte[] resultSha = result.digest();
        out.write(DeltaCodec.encodeTrailer(nextIndex, frames, dataBytes, zeroBytes, framesSha.digest(), resultSha, chain));
        out.flush();
        return new Summary(header, nextIndex, frames, dataBytes, zeroBytes, rawBytes, storedBytes, resultSha, copyBytes);
    }

    /** Abandons an unfinished delta: waits for compressions in flight so no task outlives the writer. */
    @Override
    public void close() {
        for (Future<Encoded> f : inFlight) {
            f.cancel(true);
        }
        inFlight.clear();
    }
}
