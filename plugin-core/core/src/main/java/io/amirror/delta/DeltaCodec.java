package io.amirror.delta;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;

import static io.amirror.delta.DeltaFormat.*;

/**
 * Pure encoders and decoders of the delta stream's parts: header, block header, frames, trailer.
 * Bytes in, records out; every field from outside is checked before it is used, and no buffer is
 * sized from an unchecked length.
 */
public final class DeltaCodec {
    private DeltaCodec() {
    }

    /** Header bytes up to but excluding the header length field's fixed prefix: magic, version, length. */
    public static final int HEADER_PREFIX = 8 + 2 + 4;
    /** The shortest header of versions 1 and 2 (a one-letter disk name); version 3 adds {@link #CUT_TIME_BYTES}. */
    public static final int HEADER_MIN = HEADER_PREFIX + 16 + 1 + 1 + 8 + 4 + 4 + 4 + 1 + 4 + 32;
    public static final int CUT_TIME_BYTES = 8;

    /** The shortest header of {@code version}, that is with a one-letter disk name. */
    public static int headerMin(int version) {
        return version >= VERSION_CUT_TIME ? HEADER_MIN + CUT_TIME_BYTES : HEADER_MIN;
    }

    public record Trailer(int blockCount, long frameCount, long dataBytes, long zeroBytes, byte[] framesSha256,
                          byte[] resultSha256, byte[] trailerSha256) {
    }

    public record BlockHeader(int index, int rawLength, int storedLength, byte[] sha256) {
    }

    // ------------------------------------------------------------------ header

    public static byte[] encodeHeader(DeltaHeader h) {
        byte[] disk = h.disk().getBytes(StandardCharsets.US_ASCII);
        int len = headerMin(h.version()) - 1 + disk.length;
        ByteBuffer b = ByteBuffer.allocate(len);
        b.putLong(MAGIC).putShort((short) h.version()).putInt(len);
        b.putLong(h.domain().getMostSignificantBits()).putLong(h.domain().getLeastSignificantBits());
        b.put((byte) disk.length).put(disk);
        b.putLong(h.virtualSize()).putInt(h.basePoint()).putInt(h.newPoint()).putInt(h.blockSize());
        b.put((byte) h.codec()).putInt(h.maxBlockRaw());
        if (h.version() >= VERSION_CUT_TIME) {
            b.putLong(h.cutMillis());
        }
        MessageDigest md = BlockHash.sha256();
        md.update(b.array(), 0, b.position());
        b.put(md.digest());
        return b.array();
    }

    /**
     * The total header length announced by its first {@link #HEADER_PREFIX} bytes, whose version
     * must be one this amirror reads.
     */
    public static int headerLength(ByteBuffer prefix) throws DeltaFormatException {
        long magic = prefix.getLong();
        if (magic != MAGIC) {
            throw new DeltaFormatException(String.format("not an amirror delta (magic 0x%016x)", magic));
        }
        int version = Short.toUnsignedInt(prefix.getShort());
        if (!readableVersion(version)) {
            throw new DeltaFormatException("delta format version " + version + " is not supported (this amirror reads "
                    + "versions " + OLDEST_READABLE_VERSION + " to " + VERSION + ")");
        }
        int len = prefix.getInt();
        if (len < headerMin(version) || len > headerMin(version) - 1 + MAX_TARGET_LENGTH) {
            throw new DeltaFormatException("header length " + Integer.toUnsignedString(len) + " out of range");
        }
        return len;
    }

    public static DeltaHeader decodeHeader(byte[] whole) throws DeltaFormatException {
        ByteBuffer b = ByteBuffer.wrap(whole);
        int len = headerLength(b);
        int version = Short.toUnsignedInt(ByteBuffer.wrap(whole, 8, 2).getShort());
        if (whole.length != len) {
            throw new DeltaFormatException("header of " + whole.length + " bytes, announced " + len);
        }
        MessageDigest md = BlockHash.sha256();
        md.update(whole, 0, len - 32);
        if (!MessageDigest.isEqual(md.digest(), Arrays.copyOfRange(whole, len - 32, len))) {
            throw new DeltaFormatException("header checksum mismatch: the header is corrupt");
        }
        UUID domain = new UUID(b.getLong(), b.getLong());
        int diskLen = Byte.toUnsignedInt(b.get());
        if (diskLen != len - (headerMin(version) - 1)) {
            throw new DeltaFormatException("disk name length " + diskLen + " does not match the header length");
        }
        byte[] disk = new byte[diskLen];
        b.get(disk);
        long size = b.getLong();
        int base = b.getInt();
        int next = b.getInt();
        int blockSize = b.getInt();
        int codec = Byte.toUnsignedInt(b.get());
        int maxRaw = b.getInt();
        long cut = version >= VERSION_CUT_TIME ? b.getLong() : 0;
        try {
            return new DeltaHeader(domain, new String(disk, StandardCharsets.US_ASCII), size, base, next, blockSize,
                    codec, maxRaw, version, cut);
        } catch (IllegalArgumentException e) {
            throw new DeltaFormatException("invalid header: " + e.getMessage());
        }
    }

    public static byte[] headerSha256(byte[] encodedHeader) {
        return Arrays.copyOfRange(encodedHeader, encodedHeader.length - 32, encodedHeader.length);
    }

    // ------------------------------------------------------------------ blocks

    public static byte[] encodeBlockHeader(BlockHeader h) {
        return ByteBuffer.allocate(BLOCK_HEADER_SIZE).putInt(BLOCK_MAGIC).putInt(h.index()).putInt(h.rawLength())
                .putInt(h.storedLength()).put(h.sha256()).array();
    }

    /** Decodes a block header whose magic (already read) was {@link DeltaFormat#BLOCK_MAGIC}. */
    public static BlockHeader decodeBlockHeader(ByteBuffer rest, int expectedIndex, DeltaHeader h, int codec)
            throws DeltaFormatException {
        int index = rest.getInt();
        int raw = rest.getInt();
        int stored = rest.getInt();
        byte[] sha = new byte[32];
        rest.get(sha);
        if (index != expectedIndex) {
            throw new DeltaFormatException("block " + Integer.toUnsignedString(index) + " where block " + expectedIndex
                    + " was due: blocks missing, repeated or reordered");
        }
        if (raw <= 0 || raw > h.maxBlockRaw()) {
            throw new DeltaFormatException("block " + index + " claims " + Integer.toUnsignedString(raw)
                    + " bytes, more than the header's bound of " + h.maxBlockRaw());
        }
        int maxStored = codec == CODEC_NONE ? raw : maxStored(raw);
        if (stored <= 0 || stored > maxStored || codec == CODEC_NONE && stored != raw) {
            throw new DeltaFormatException("block " + index + " stores " + Integer.toUnsignedString(stored)
                    + " bytes for " + raw + " raw bytes");
        }
        return new BlockHeader(index, raw, stored, sha);
    }

    // ------------------------------------------------------------------ frames

    public static void encodeData(ByteBuffer b, long offset, byte[] payload, int from, int length) {
        b.put((byte) FRAME_DATA).putLong(offset).putInt(length).put(payload, from, length);
    }

    public static void encodeZero(ByteBuffer b, long offset, long length) {
        b.put((byte) FRAME_ZERO).putLong(offset).putLong(length);
    }

    public static void encodeCopy(ByteBuffer b, long offset, long source, byte[] hashes, int fromBlock, int count) {
        b.put((byte) FRAME_COPY).putLong(offset).putLong(source).putShort((short) count)
                .put(hashes, fromBlock * BlockHash.LENGTH, count * BlockHash.LENGTH);
    }

    /**
     * Checks frames against the header and against each other: inside the disk, aligned to the
     * block size (but for the disk's tail), in increasing order, never overlapping.
     */
    public static final class FrameOrder {
        private final DeltaHeader header;
        private long end;

        public FrameOrder(DeltaHeader header) {
            this.header = header;
        }

        public void check(long offset, long length, String kind) throws DeltaFormatException {
            long size = header.virtualSize();
            if (length <= 0 || offset < 0 || offset > size || length > size - offset) {
                throw new DeltaFormatException(kind + " frame [" + offset + ", +" + length + ") outside the disk of "
                        + size + " bytes");
            }
            if (offset % header.blockSize() != 0 || length % header.blockSize() != 0 && offset + length != size) {
                throw new DeltaFormatException(kind + " frame [" + offset + ", +" + length + ") not aligned to "
                        + header.blockSize() + " bytes");
            }
            if (offset < end) {
                throw new DeltaFormatException(kind + " frame at " + offset + " overlaps or precedes the previous "
                        + "frame, which ended at " + end);
            }
            end = offset + length;
        }
    }

    /** Decodes the frames of one block's raw content. DATA payloads are copied out of {@code raw}. */
    public static List<Frame> decodeFrames(byte[] raw, int length, FrameOrder order) throws DeltaFormatException {
        ByteBuffer b = ByteBuffer.wrap(raw, 0, length);
        List<Frame> frames = new ArrayList<>();
        while (b.hasRemaining()) {
            int type = Byte.toUnsignedInt(b.get());
            if (type == FRAME_DATA) {
                need(b, 12, "DATA frame header");
                long offset = b.getLong();
                long len = Integer.toUnsignedLong(b.getInt());
                order.check(offset, len, "DATA");
                if (len > b.remaining()) {
                    throw new DeltaFormatException("DATA frame at " + offset + " claims " + len + " bytes but its block "
                            + "holds only " + b.remaining() + " more");
                }
                byte[] payload = new byte[(int) len];
                b.get(payload);
                frames.add(new Frame.Data(offset, payload));
            } else if (type == FRAME_ZERO) {
                need(b, 16, "ZERO frame");
                long offset = b.getLong();
                long len = b.getLong();
                order.check(offset, len, "ZERO");
                frames.add(new Frame.Zero(offset, len));
            } else if (type == FRAME_COPY) {
                need(b, COPY_FRAME_HEADER - 1, "COPY frame header");
                long offset = b.getLong();
                long source = b.getLong();
                int count = Short.toUnsignedInt(b.getShort());
                if (count == 0 || count > MAX_COPY_BLOCKS) {
                    throw new DeltaFormatException("COPY frame at " + offset + " of " + count + " blocks (1 to "
                            + MAX_COPY_BLOCKS + ")");
                }
                long len = (long) count * BLOCK_SIZE;
                order.check(offset, len, "COPY");
                if (order.header.basePoint() == 0) {
                    throw new DeltaFormatException("COPY frame in a delta from point 0: there is no replica to copy from");
                }
                if (source < 0 || source % BLOCK_SIZE != 0 || source > order.header.virtualSize() - len) {
                    throw new DeltaFormatException("COPY frame at " + offset + " copies from " + source
                            + ", not whole blocks inside the disk");
                }
                need(b, count * BlockHash.LENGTH, "COPY frame hashes");
                byte[] hashes = new byte[count * BlockHash.LENGTH];
                b.get(hashes);
                frames.add(new Frame.Copy(offset, source, hashes));
            } else {
                throw new DeltaFormatException("unknown frame type " + type + " at byte " + (b.position() - 1)
                        + " of a block");
            }
        }
        return frames;
    }

    private static void need(ByteBuffer b, int n, String what) throws DeltaFormatException {
        if (b.remaining() < n) {
            throw new DeltaFormatException(what + " cut off at the end of its block");
        }
    }

    // ------------------------------------------------------------------ result

    /**
     * The trailer's result SHA-256: what the delta's frames make of the disk, in their order. The
     * writer and the reader both compute it here, by the rule of the header's version:
     * <ul>
     * <li>version 2: a record per 4 KiB block of DATA and COPY frames ({@link DeltaFormat#RESULT_BLOCK},
     *     block index u64, block hash) and one per ZERO frame ({@link DeltaFormat#RESULT_ZERO}, offset
     *     u64, length u64); the work is in proportion to the delta's own bytes;</li>
     * <li>version 1: a record per 4 KiB block of every frame (block index u64, block hash), ZERO
     *     frames' blocks hashing as zero bytes; a ZERO frame costs one record per block it covers, so
     *     the ZERO frames of a version 1 delta may cover at most {@link DeltaFormat#V1_MAX_ZERO_BYTES}.</li>
     * </ul>
     */
    public static final class ResultDigest {
        /** Version 1 ZERO records are hashed this many at a time. */
        private static final int V1_BATCH = 4096;
        private static final int V1_RECORD = 8 + BlockHash.LENGTH;

        private final boolean perBlockZero;
        private final MessageDigest md = BlockHash.sha256();
        private final ByteBuffer record = ByteBuffer.allocate(1 + 8 + 8 + BlockHash.LENGTH);
        private long v1ZeroBytes;

        public ResultDigest(DeltaHeader header) {
            this.perBlockZero = header.version() == VERSION_PER_BLOCK_ZERO;
        }

        /** The 4 KiB block {@code index} holds content of hash {@code hash} (a DATA or COPY frame's block). */
        public void block(long index, byte[] hash) {
            record.clear();
            if (!perBlockZero) {
                record.put((byte) RESULT_BLOCK);
            }
            record.putLong(index).put(hash, 0, BlockHash.LENGTH);
            md.update(record.array(), 0, record.position());
        }

        /**
         * {@code length} bytes at {@code offset} are zero (a ZERO frame, already checked against the
         * header by {@link FrameOrder}).
         *
         * @throws DeltaFormatException a version 1 delta whose ZERO frames cover more than
         *                              {@link DeltaFormat#V1_MAX_ZERO_BYTES}
         */
        public void zero(long offset, long length) throws DeltaFormatException {
            if (!perBlockZero) {
                record.clear().put((byte) RESULT_ZERO).putLong(offset).putLong(length);
                md.update(record.array(), 0, record.position());
                return;
            }
            if (length > V1_MAX_ZERO_BYTES - v1ZeroBytes) {
                throw new DeltaFormatException("version 1 delta whose ZERO frames cover more than "
                        + V1_MAX_ZERO_BYTES + " bytes (ZERO frame [" + offset + ", +" + length + ")): version 1 "
                        + "hashes them per 4 KiB block, so this amirror refuses that much; a delta written by "
                        + "this amirror (version " + VERSION + ") has no such limit");
            }
            v1ZeroBytes += length;
            // positions relative to the frame: a frame that ends near 2^63 must not overflow the loop
            ByteBuffer batch = ByteBuffer.allocate((int) Math.min(V1_BATCH, (length - 1) / BLOCK_SIZE + 1) * V1_RECORD);
            for (long pos = 0; pos < length; pos += BLOCK_SIZE) {
                if (!batch.hasRemaining()) {
                    md.update(batch.array(), 0, batch.position());
                    batch.clear();
                }
                batch.putLong((offset + pos) / BLOCK_SIZE).put(BlockHash.zero((int) Math.min(BLOCK_SIZE, length - pos)));
            }
            md.update(batch.array(), 0, batch.position());
        }

        /** Adds a decoded frame: its blocks' hashes (DATA: of the payload; COPY: as the frame says), or its zeroes. */
        public void frame(Frame f) throws DeltaFormatException {
            if (f instanceof Frame.Zero) {
                zero(f.offset(), f.length());
            } else if (f instanceof Frame.Data d) {
                byte[] p = d.payload();
                for (int at = 0; at < p.length; at += BLOCK_SIZE) {
                    block((d.offset() + at) / BLOCK_SIZE, BlockHash.of(p, at, Math.min(BLOCK_SIZE, p.length - at)));
                }
            } else if (f instanceof Frame.Copy c) {
                for (int i = 0; i < c.blocks(); i++) {
                    block(c.offset() / BLOCK_SIZE + i, c.hash(i));
                }
            }
        }

        public byte[] digest() {
            return md.digest();
        }
    }

    // ------------------------------------------------------------------ trailer

    public static byte[] encodeTrailer(int blockCount, long frameCount, long dataBytes, long zeroBytes, byte[] framesSha,
                                       byte[] resultSha, MessageDigest chain) {
        ByteBuffer b = ByteBuffer.allocate(TRAILER_SIZE);
        b.putInt(TRAILER_MAGIC).putInt(blockCount).putLong(frameCount).putLong(dataBytes).putLong(zeroBytes)
                .put(framesSha).put(resultSha);
        chain.update(b.array(), 0, b.position());
        b.put(chain.digest());
        return b.array();
    }

    /** Decodes the trailer (whose magic was already read) and checks that it commits to the chain so far. */
    public static Trailer decodeTrailer(ByteBuffer rest, MessageDigest chain) throws DeltaFormatException {
        byte[] fields = new byte[TRAILER_SIZE - 4 - 32];
        rest.get(fields);
        byte[] sha = new byte[32];
        rest.get(sha);
        chain.update(ByteBuffer.allocate(4).putInt(TRAILER_MAGIC).array());
        chain.update(fields);
        if (!MessageDigest.isEqual(chain.digest(), sha)) {
            throw new DeltaFormatException("trailer checksum mismatch: the delta was altered or its parts mixed");
        }
        ByteBuffer f = ByteBuffer.wrap(fields);
        int blocks = f.getInt();
        long frames = f.getLong();
        long data = f.getLong();
        long zero = f.getLong();
        byte[] framesSha = new byte[32];
        byte[] resultSha = new byte[32];
        f.get(framesSha).get(resultSha);
        return new Trailer(blocks, frames, data, zero, framesSha, resultSha, sha);
    }
}
