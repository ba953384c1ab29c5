package io.amirror.delta;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

/**
 * The trailer's result SHA-256 computed straight from {@code schemas/delta-stream.md}, apart from
 * {@link DeltaCodec.ResultDigest}, and a valid delta re-encoded in another format version: the same
 * blocks under a header of that version, with the trailer that version requires.
 */
final class DeltaVersions {
    static final int BS = DeltaFormat.BLOCK_SIZE;
    private static final byte[] ZERO_HASH = BlockHash.of(new byte[BS], 0, BS);

    private DeltaVersions() {
    }

    /** Version 1: per 4 KiB block of every frame, block index u64 then the block's 16-byte hash. */
    static byte[] resultV1(List<Frame> frames) {
        MessageDigest md = BlockHash.sha256();
        for (Frame f : frames) {
            for (long pos = 0; pos < f.length(); pos += BS) {
                int n = (int) Math.min(BS, f.length() - pos);
                byte[] hash = f instanceof Frame.Data d ? BlockHash.of(d.payload(), (int) pos, n)
                        : f instanceof Frame.Copy c ? c.hash((int) (pos / BS))
                        : n == BS ? ZERO_HASH : BlockHash.of(new byte[n], 0, n);
                md.update(ByteBuffer.allocate(8).putLong((f.offset() + pos) / BS).array());
                md.update(hash);
            }
        }
        return md.digest();
    }

    /** Version 2: DATA and COPY as {@code 01}, block index u64, hash per block; ZERO as {@code 02}, offset u64, length u64. */
    static byte[] resultV2(List<Frame> frames) {
        MessageDigest md = BlockHash.sha256();
        for (Frame f : frames) {
            if (f instanceof Frame.Zero z) {
                md.update(ByteBuffer.allocate(17).put((byte) 2).putLong(z.offset()).putLong(z.length()).array());
                continue;
            }
            for (long pos = 0; pos < f.length(); pos += BS) {
                int n = (int) Math.min(BS, f.length() - pos);
                byte[] hash = f instanceof Frame.Data d ? BlockHash.of(d.payload(), (int) pos, n)
                        : ((Frame.Copy) f).hash((int) (pos / BS));
                md.update(ByteBuffer.allocate(9).put((byte) 1).putLong((f.offset() + pos) / BS).array());
                md.update(hash);
            }
        }
        return md.digest();
    }

    /** The frames of a valid stream, in order. */
    static List<Frame> frames(byte[] stream) throws IOException {
        List<Frame> out = new ArrayList<>();
        DeltaReader.read(new ByteArrayInputStream(stream), out::add);
        return out;
    }

    /** A valid stream as version 1 would have it: the result SHA-256 by the per-block rule. */
    static byte[] asVersion1(byte[] stream) throws IOException {
        return reencode(stream, 1, DeltaVersions::resultV1);
    }

    /**
     * The blocks of the valid {@code stream} under a header of {@code version}, with a trailer whose
     * counts and frames SHA-256 are the stream's, whose result SHA-256 is {@code result} of its frames,
     * and whose own SHA-256 commits to all of it: every checksum but the result is right.
     */
    static byte[] reencode(byte[] stream, int version, Function<List<Frame>, byte[]> result) throws IOException {
        DeltaReader.Result r = DeltaReader.verify(new ByteArrayInputStream(stream));
        DeltaHeader h = r.header();
        byte[] header = DeltaCodec.encodeHeader(new DeltaHeader(h.domain(), h.disk(), h.virtualSize(), h.basePoint(),
                h.newPoint(), h.blockSize(), h.codec(), h.maxBlockRaw(), version,
                version >= DeltaFormat.VERSION_CUT_TIME ? h.cutMillis() : 0));
        int oldHeader = DeltaReader.readHeaderBytes(new ByteArrayInputStream(stream)).length;
        MessageDigest chain = BlockHash.sha256();
        chain.update(DeltaCodec.headerSha256(header));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(header);
        int pos = oldHeader;
        ByteBuffer b = ByteBuffer.wrap(stream);
        while (b.getInt(pos) == DeltaFormat.BLOCK_MAGIC) {
            int stored = b.getInt(pos + 12);
            chain.update(Arrays.copyOfRange(stream, pos + 16, pos + 48));
            out.write(stream, pos, DeltaFormat.BLOCK_HEADER_SIZE + stored);
            pos += DeltaFormat.BLOCK_HEADER_SIZE + stored;
        }
        DeltaCodec.Trailer t = r.trailer();
        out.write(DeltaCodec.encodeTrailer(t.blockCount(), t.frameCount(), t.dataBytes(), t.zeroBytes(),
                t.framesSha256(), result.apply(frames(stream)), chain));
        return out.toByteArray();
    }
}
