package io.amirror.delta;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.List;

import static io.amirror.delta.DeltaFormat.*;

/**
 * Reads and verifies a delta stream. Every block's SHA-256 is checked before it is decompressed,
 * every frame is checked against the header and its predecessors, and the trailer must commit to
 * the header, every block, the frames and the content they produce. The first defect ends the read
 * with a {@link DeltaFormatException} saying what and where. Reads every version from
 * {@link DeltaFormat#OLDEST_READABLE_VERSION} to {@link DeltaFormat#VERSION}; for a version 2 stream
 * the work is in proportion to the stream's bytes, whatever disk size it declares (see
 * {@link DeltaCodec.ResultDigest}).
 *
 * <p>Frames reach the visitor block by block, before the trailer has been seen: a caller that
 * changes anything must first read the whole stream once without changing anything (see
 * {@link #verify}), as the standby does before it applies.
 */
public final class DeltaReader {

    @FunctionalInterface
    public interface FrameVisitor {
        void frame(Frame frame) throws IOException;
    }

    /** What a complete, verified stream held. */
    public record Result(DeltaHeader header, DeltaCodec.Trailer trailer, long storedBytes) {
    }

    private DeltaReader() {
    }

    /** Reads everything and checks it; changes nothing. */
    public static Result verify(InputStream in) throws IOException {
        return read(in, f -> { });
    }

    public static DeltaHeader readHeader(InputStream in) throws IOException {
        return DeltaCodec.decodeHeader(readHeaderBytes(in));
    }

    /** The encoded header: its fixed prefix says how long it is, then the rest is read. Not yet checked. */
    static byte[] readHeaderBytes(InputStream in) throws IOException {
        byte[] prefix = readExactly(in, DeltaCodec.HEADER_PREFIX, "the header");
        int len = DeltaCodec.headerLength(ByteBuffer.wrap(prefix));
        byte[] whole = Arrays.copyOf(prefix, len);
        System.arraycopy(readExactly(in, len - prefix.length, "the header"), 0, whole, prefix.length, len - prefix.length);
        return whole;
    }

    public static Result read(InputStream in, FrameVisitor visitor) throws IOException {
        byte[] whole = readHeaderBytes(in);
        DeltaHeader header = DeltaCodec.decodeHeader(whole);

        MessageDigest chain = BlockHash.sha256();
        chain.update(DeltaCodec.headerSha256(whole));
        MessageDigest framesSha = BlockHash.sha256();
        DeltaCodec.ResultDigest result = new DeltaCodec.ResultDigest(header);
        DeltaCodec.FrameOrder order = new DeltaCodec.FrameOrder(header);
        long frames = 0;
        long dataBytes = 0;
        long zeroBytes = 0;
        long stored = 0;
        int index = 0;
        while (true) {
            int magic = ByteBuffer.wrap(readExactly(in, 4, "the next block or the trailer")).getInt();
            if (magic == TRAILER_MAGIC) {
                DeltaCodec.Trailer t = DeltaCodec.decodeTrailer(
                        ByteBuffer.wrap(readExactly(in, TRAILER_SIZE - 4, "the trailer")), chain);
                if (t.blockCount() != index || t.frameCount() != frames || t.dataBytes() != dataBytes
                        || t.zeroBytes() != zeroBytes) {
                    throw new DeltaFormatException("trailer counts (" + t.blockCount() + " blocks, " + t.frameCount()
                            + " frames) do not match the stream (" + index + " blocks, " + frames + " frames)");
                }
                if (!MessageDigest.isEqual(framesSha.digest(), t.framesSha256())) {
                    throw new DeltaFormatException("frames checksum mismatch");
                }
                if (!MessageDigest.isEqual(result.digest(), t.resultSha256())) {
                    throw new DeltaFormatException("result checksum mismatch");
                }
                if (in.read() != -1) {
                    throw new DeltaFormatException("bytes after the trailer");
                }
                return new Result(header, t, stored);
            }
            if (magic != BLOCK_MAGIC) {
                throw new DeltaFormatException(String.format("expected block %d or the trailer, found 0x%08x", index, magic));
            }
            DeltaCodec.BlockHeader bh = DeltaCodec.decodeBlockHeader(
                    ByteBuffer.wrap(readExactly(in, BLOCK_HEADER_SIZE - 4, "block " + index + "'s header")), index, header,
                    header.codec());
            byte[] storedBytes = readExactly(in, bh.storedLength(), "block " + index);
            MessageDigest md = BlockHash.sha256();
            md.update(storedBytes);
            if (!MessageDigest.isEqual(md.digest(), bh.sha256())) {
                throw new DeltaFormatException("block " + index + " is corrupt (checksum mismatch)");
            }
            chain.update(bh.sha256());
            byte[] raw = header.codec() == CODEC_XZ
                    ? XzBlockCodec.decompress(storedBytes, bh.storedLength(), bh.rawLength()) : storedBytes;
            framesSha.update(raw, 0, bh.rawLength());
            List<Frame> fs = DeltaCodec.decodeFrames(raw, bh.rawLength(), order);
            for (Frame f : fs) {
                result.frame(f);
                if (f instanceof Frame.Data) {
                    dataBytes += f.length();
                } else if (f instanceof Frame.Zero) {
                    zeroBytes += f.length();
                }
                visitor.frame(f);
            }
            frames += fs.size();
            stored += bh.storedLength();
            index++;
        }
    }

    static byte[] readExactly(InputStream in, int n, String what) throws IOException {
        byte[] b = in.readNBytes(n);
        if (b.length != n) {
            throw new DeltaFormatException("truncated: the stream ends in " + what + " (" + b.length + " of " + n
                    + " bytes)");
        }
        return b;
    }
}
