package io.amirror.transport;

import io.amirror.transport.WireMessage.Ack;
import io.amirror.transport.WireMessage.Commit;
import io.amirror.transport.WireMessage.Data;
import io.amirror.transport.WireMessage.Describe;
import io.amirror.transport.WireMessage.Described;
import io.amirror.transport.WireMessage.Hello;
import io.amirror.transport.WireMessage.Offer;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.transport.WireMessage.Resume;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * Frames on the wire: type (u8), payload length (u32), payload; big-endian. Pure encoding and
 * decoding; a frame longer than {@link #MAX_PAYLOAD} is refused before anything is allocated.
 */
public final class WireCodec {
    public static final int VERSION = 1;
    public static final int MAX_PAYLOAD = (1 << 20) + 64;
    public static final int MAX_CHUNK = 1 << 20;

    static final int HELLO = 1;
    static final int OFFER = 2;
    static final int RESUME = 3;
    static final int DATA = 4;
    static final int COMMIT = 5;
    static final int ACK = 6;
    static final int REFUSE = 7;
    static final int DESCRIBE = 8;
    static final int DESCRIBED = 9;
    static final int VERIFY = 10;
    static final int VERIFIED = 11;
    static final int SEED_QUERY = 12;
    static final int SEED_PART = 13;
    static final int PROGRESS = 14;
    static final int STALE = 15;
    /** Blocks per SEED_PART: 512 KiB of hashes, well inside a frame even if xz cannot shrink them. */
    public static final int SEED_BLOCKS = 32768;

    private WireCodec() {
    }

    public static byte[] encode(WireMessage m) {
        ByteBuffer p = ByteBuffer.allocate(payloadSize(m));
        int type;
        if (m instanceof Hello h) {
            type = HELLO;
            p.putShort((short) h.version());
            putString(p, h.host());
        } else if (m instanceof Offer o) {
            type = OFFER;
            putUuid(p, o.domain());
            putString(p, o.disk());
            p.putInt(o.basePoint()).putInt(o.newPoint()).putLong(o.size()).put(o.sha256());
        } else if (m instanceof Resume r) {
            type = RESUME;
            p.putLong(r.offset());
        } else if (m instanceof Data d) {
            type = DATA;
            p.putLong(d.offset()).put(d.bytes());
        } else if (m instanceof Commit) {
            type = COMMIT;
        } else if (m instanceof Ack a) {
            type = ACK;
            putUuid(p, a.domain());
            putString(p, a.disk());
            p.putInt(a.point());
        } else if (m instanceof Describe d) {
            type = DESCRIBE;
            putUuid(p, d.domain());
            p.putInt(d.point()).put(d.manifestXz());
        } else if (m instanceof Described d) {
            type = DESCRIBED;
            putUuid(p, d.domain());
            p.put(d.sha256());
        } else if (m instanceof WireMessage.Verify v) {
            type = VERIFY;
            putUuid(p, v.domain());
            putString(p, v.disk());
            p.putInt(v.point()).putInt(v.groupBlocks());
        } else if (m instanceof WireMessage.Verified v) {
            type = VERIFIED;
            putUuid(p, v.domain());
            putString(p, v.disk());
            p.putInt(v.point()).put(v.digests());
        } else if (m instanceof WireMessage.SeedQuery q) {
            type = SEED_QUERY;
            putUuid(p, q.domain());
            putString(p, q.disk());
            p.putLong(q.virtualSize()).putLong(q.firstBlock());
        } else if (m instanceof WireMessage.SeedPart sp) {
            type = SEED_PART;
            putUuid(p, sp.domain());
            putString(p, sp.disk());
            p.putLong(sp.firstBlock()).putInt(sp.blocks()).put(sp.hashesXz());
        } else if (m instanceof WireMessage.Progress pr) {
            type = PROGRESS;
            p.putLong(pr.done()).putLong(pr.total());
        } else if (m instanceof WireMessage.Stale st) {
            type = STALE;
            putUuid(p, st.domain());
            putString(p, st.disk());
            p.putInt(st.point()).putInt(st.ranges().size());
            for (long[] r : st.ranges()) {
                p.putLong(r[0]).putLong(r[1]);
            }
        } else {
            Refuse r = (Refuse) m;
            type = REFUSE;
            p.putShort((short) r.code());
            putString(p, r.reason());
        }
        return ByteBuffer.allocate(5 + p.capacity()).put((byte) type).putInt(p.capacity()).put(p.array()).array();
    }

    private static int payloadSize(WireMessage m) {
        if (m instanceof Hello h) {
            return 2 + strLen(h.host());
        } else if (m instanceof Offer o) {
            return 16 + strLen(o.disk()) + 4 + 4 + 8 + 32;
        } else if (m instanceof Resume) {
            return 8;
        } else if (m instanceof Data d) {
            return 8 + d.bytes().length;
        } else if (m instanceof Commit) {
            return 0;
        } else if (m instanceof Ack a) {
            return 16 + strLen(a.disk()) + 4;
        } else if (m instanceof Describe d) {
            return 16 + 4 + d.manifestXz().length;
        } else if (m instanceof Described) {
            return 16 + 32;
        } else if (m instanceof WireMessage.Verify v) {
            return 16 + strLen(v.disk()) + 4 + 4;
        } else if (m instanceof WireMessage.Verified v) {
            return 16 + strLen(v.disk()) + 4 + v.digests().length;
        } else if (m instanceof WireMessage.Progress) {
            return 16;
        } else if (m instanceof WireMessage.Stale st) {
            return 16 + strLen(st.disk()) + 4 + 4 + 16 * st.ranges().size();
        } else if (m instanceof WireMessage.SeedQuery q) {
            return 16 + strLen(q.disk()) + 8 + 8;
        } else if (m instanceof WireMessage.SeedPart sp) {
            return 16 + strLen(sp.disk()) + 8 + 4 + sp.hashesXz().length;
        }
        return 2 + strLen(((Refuse) m).reason());
    }

    /** Writes one frame and flushes, so the peer sees it now. */
    public static void write(java.io.OutputStream out, WireMessage m) throws IOException {
        out.write(encode(m));
        out.flush();
    }

    /** Reads one frame; a clean end of stream before its first byte returns null. */
    public static WireMessage read(InputStream in) throws IOException {
        int type = in.read();
        if (type < 0) {
            return null;
        }
        DataInputStream din = new DataInputStream(in);
        int len;
        try {
            len = din.readInt();
        } catch (EOFException e) {
            throw new WireProtocolException("stream ends inside a frame header");
        }
        if (len < 0 || len > MAX_PAYLOAD) {
            throw new WireProtocolException("frame of " + Integer.toUnsignedString(len) + " bytes exceeds "
                    + MAX_PAYLOAD);
        }
        byte[] payload = in.readNBytes(len);
        if (payload.length != len) {
            throw new WireProtocolException("stream ends inside a frame (" + payload.length + " of " + len + " bytes)");
        }
        return decode(type, payload);
    }

    public static WireMessage decode(int type, byte[] payload) throws WireProtocolException {
        ByteBuffer b = ByteBuffer.wrap(payload);
        try {
            WireMessage m = switch (type) {
                case HELLO -> new Hello(Short.toUnsignedInt(b.getShort()), getString(b));
                case OFFER -> {
                    UUID u = getUuid(b);
                    String disk = getString(b);
                    int base = b.getInt();
                    int next = b.getInt();
                    long size = b.getLong();
                    byte[] sha = new byte[32];
                    b.get(sha);
                    if (!io.amirror.delta.DeltaFormat.validDiskName(disk) || base < 0 || next <= base || size <= 0) {
                        throw new WireProtocolException("malformed OFFER: disk '" + disk + "', points " + base + " -> "
                                + next + ", size " + size);
                    }
                    yield new Offer(u, disk, base, next, size, sha);
                }
                case RESUME -> {
                    long off = b.getLong();
                    if (off < 0) {
                        throw new WireProtocolException("negative RESUME offset");
                    }
                    yield new Resume(off);
                }
                case DATA -> {
                    long off = b.getLong();
                    if (off < 0 || b.remaining() > MAX_CHUNK) {
                        throw new WireProtocolException("malformed DATA at " + off);
                    }
                    byte[] bytes = new byte[b.remaining()];
                    b.get(bytes);
                    yield new Data(off, bytes);
                }
                case COMMIT -> new Commit();
                case ACK -> new Ack(getUuid(b), getString(b), b.getInt());
                case REFUSE -> new Refuse(Short.toUnsignedInt(b.getShort()), getString(b));
                case DESCRIBE -> {
                    UUID u = getUuid(b);
                    int point = b.getInt();
                    if (point <= 0 || b.remaining() == 0 || b.remaining() > MAX_CHUNK) {
                        throw new WireProtocolException("malformed DESCRIBE: point " + point + ", " + b.remaining()
                                + " bytes of manifest");
                    }
                    byte[] xz = new byte[b.remaining()];
                    b.get(xz);
                    yield new Describe(u, point, xz);
                }
                case DESCRIBED -> {
                    UUID u = getUuid(b);
                    byte[] sha = new byte[32];
                    b.get(sha);
                    yield new Described(u, sha);
                }
                case VERIFY -> {
                    UUID u = getUuid(b);
                    String disk = getString(b);
                    int point = b.getInt();
                    int group = b.getInt();
                    if (!io.amirror.delta.DeltaFormat.validDiskName(disk) || point <= 0
                            || group < io.amirror.delta.GroupDigests.MIN_GROUP_BLOCKS) {
                        throw new WireProtocolException("malformed VERIFY: disk '" + disk + "', point " + point
                                + ", groups of " + group + " blocks");
                    }
                    yield new WireMessage.Verify(u, disk, point, group);
                }
                case VERIFIED -> {
                    UUID u = getUuid(b);
                    String disk = getString(b);
                    int point = b.getInt();
                    int n = b.remaining();
                    if (!io.amirror.delta.DeltaFormat.validDiskName(disk) || n % io.amirror.delta.GroupDigests.LENGTH != 0
                            || n > io.amirror.delta.GroupDigests.MAX_GROUPS * io.amirror.delta.GroupDigests.LENGTH) {
                        throw new WireProtocolException("malformed VERIFIED: disk '" + disk + "', " + n + " bytes of digests");
                    }
                    byte[] digests = new byte[n];
                    b.get(digests);
                    yield new WireMessage.Verified(u, disk, point, digests);
                }
                case SEED_QUERY -> {
                    UUID u = getUuid(b);
                    String disk = getString(b);
                    long size = b.getLong();
                    long first = b.getLong();
                    if (!io.amirror.delta.DeltaFormat.validDiskName(disk) || size <= 0 || first < 0) {
                        throw new WireProtocolException("malformed SEED_QUERY: disk '" + disk + "', size " + size
                                + ", from block " + first);
                    }
                    yield new WireMessage.SeedQuery(u, disk, size, first);
                }
                case SEED_PART -> {
                    UUID u = getUuid(b);
                    String disk = getString(b);
                    long first = b.getLong();
                    int blocks = b.getInt();
                    if (!io.amirror.delta.DeltaFormat.validDiskName(disk) || first < 0 || blocks <= 0
                            || blocks > SEED_BLOCKS || !b.hasRemaining()) {
                        throw new WireProtocolException("malformed SEED_PART: disk '" + disk + "', " + blocks
                                + " blocks from " + first);
                    }
                    byte[] xz = new byte[b.remaining()];
                    b.get(xz);
                    yield new WireMessage.SeedPart(u, disk, first, blocks, xz);
                }
                case PROGRESS -> {
                    long done = b.getLong();
                    long total = b.getLong();
                    if (done < 0 || total < done) {
                        throw new WireProtocolException("malformed PROGRESS: " + done + " of " + total);
                    }
                    yield new WireMessage.Progress(done, total);
                }
                case STALE -> {
                    UUID u = getUuid(b);
                    String disk = getString(b);
                    int point = b.getInt();
                    int n = b.getInt();
                    if (!io.amirror.delta.DeltaFormat.validDiskName(disk) || point <= 0 || n <= 0
                            || n > WireMessage.Stale.MAX_RANGES || b.remaining() != 16L * n) {
                        throw new WireProtocolException("malformed STALE: disk '" + disk + "', point " + point + ", "
                                + n + " ranges");
                    }
                    java.util.List<long[]> ranges = new java.util.ArrayList<>(n);
                    for (int i = 0; i < n; i++) {
                        long off = b.getLong();
                        long len = b.getLong();
                        if (off < 0 || len <= 0 || off % io.amirror.delta.DeltaFormat.BLOCK_SIZE != 0
                                || len % io.amirror.delta.DeltaFormat.BLOCK_SIZE != 0 || off > Long.MAX_VALUE - len) {
                            throw new WireProtocolException("malformed STALE: range " + off + "+" + len);
                        }
                        ranges.add(new long[] {off, len});
                    }
                    yield new WireMessage.Stale(u, disk, point, java.util.List.copyOf(ranges));
                }
                default -> throw new WireProtocolException("unknown frame type " + type);
            };
            if (b.hasRemaining()) {
                throw new WireProtocolException("frame type " + type + " has " + b.remaining() + " extra bytes");
            }
            return m;
        } catch (java.nio.BufferUnderflowException e) {
            throw new WireProtocolException("frame type " + type + " is too short");
        }
    }

    private static int strLen(String s) {
        return 2 + s.getBytes(StandardCharsets.UTF_8).length;
    }

    private static void putString(ByteBuffer b, String s) {
        byte[] u = s.getBytes(StandardCharsets.UTF_8);
        b.putShort((short) u.length).put(u);
    }

    private static String getString(ByteBuffer b) throws WireProtocolException {
        int n = Short.toUnsignedInt(b.getShort());
        if (n > 4096 || n > b.remaining()) {
            throw new WireProtocolException("string of " + n + " bytes");
        }
        ByteBuffer s = b.slice(b.position(), n);
        b.position(b.position() + n);
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT).decode(s).toString();
        } catch (CharacterCodingException e) {
            throw new WireProtocolException("string is not UTF-8");
        }
    }

    private static void putUuid(ByteBuffer b, UUID u) {
        b.putLong(u.getMostSignificantBits()).putLong(u.getLeastSignificantBits());
    }

    private static UUID getUuid(ByteBuffer b) {
        return new UUID(b.getLong(), b.getLong());
    }
}
