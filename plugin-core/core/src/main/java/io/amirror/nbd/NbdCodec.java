package io.amirror.nbd;

import io.amirror.nbd.NbdMessages.BlockStatus;
import io.amirror.nbd.NbdMessages.ChunkError;
import io.amirror.nbd.NbdMessages.ChunkHeader;
import io.amirror.nbd.NbdMessages.Descriptor;
import io.amirror.nbd.NbdMessages.Info;
import io.amirror.nbd.NbdMessages.InfoBlockSize;
import io.amirror.nbd.NbdMessages.InfoExport;
import io.amirror.nbd.NbdMessages.InfoOther;
import io.amirror.nbd.NbdMessages.MetaContext;
import io.amirror.nbd.NbdMessages.OffsetDataPrefix;
import io.amirror.nbd.NbdMessages.OffsetHole;
import io.amirror.nbd.NbdMessages.OptionHeader;
import io.amirror.nbd.NbdMessages.OptionReplyHeader;
import io.amirror.nbd.NbdMessages.ReplyHeader;
import io.amirror.nbd.NbdMessages.Request;
import io.amirror.nbd.NbdMessages.SimpleReply;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

import static io.amirror.nbd.NbdConstants.*;

/**
 * Pure encoders and decoders of NBD messages: byte buffers in, records out, and back. No sockets.
 *
 * <p>Decoders check every field they can check without context (magics, fixed sizes, string
 * lengths, UTF-8) and throw {@link NbdProtocolException}; checks that need the request a reply
 * answers are in {@link ReplyAssembler}. Client and server sides are both here, so the client's
 * tests and a future server share one definition of each message. All integers are big-endian.
 */
public final class NbdCodec {
    private NbdCodec() {
    }

    // ---------------------------------------------------------------- handshake, server to client

    /** Server greeting: NBDMAGIC, IHAVEOPT, 16-bit handshake flags (18 bytes). */
    public static ByteBuffer encodeGreeting(int handshakeFlags) {
        return ByteBuffer.allocate(18).putLong(NBDMAGIC).putLong(IHAVEOPT).putShort((short) handshakeFlags).flip();
    }

    /** Decodes the 18-byte greeting and returns the handshake flags. */
    public static int decodeGreeting(ByteBuffer b) throws NbdProtocolException {
        long magic = b.getLong();
        if (magic != NBDMAGIC) {
            throw new NbdProtocolException(String.format("bad greeting magic 0x%016x: not an NBD server", magic));
        }
        long opt = b.getLong();
        if (opt != IHAVEOPT) {
            throw new NbdProtocolException(String.format(
                    "server speaks the old-style handshake (0x%016x), only fixed newstyle is supported", opt));
        }
        int flags = Short.toUnsignedInt(b.getShort());
        if ((flags & FLAG_FIXED_NEWSTYLE) == 0) {
            throw new NbdProtocolException("server does not offer the fixed newstyle handshake");
        }
        return flags;
    }

    public static ByteBuffer encodeOptionReply(int option, int type, byte[] data) {
        return ByteBuffer.allocate(20 + data.length).putLong(OPTION_REPLY_MAGIC).putInt(option).putInt(type)
                .putInt(data.length).put(data).flip();
    }

    public static OptionReplyHeader decodeOptionReplyHeader(ByteBuffer b, int expectedOption) throws NbdProtocolException {
        long magic = b.getLong();
        if (magic != OPTION_REPLY_MAGIC) {
            throw new NbdProtocolException(String.format("bad option reply magic 0x%016x", magic));
        }
        int option = b.getInt();
        int type = b.getInt();
        int length = b.getInt();
        if (option != expectedOption) {
            throw new NbdProtocolException("reply for " + optionName(option) + " while waiting for "
                    + optionName(expectedOption));
        }
        if (length < 0 || length > MAX_OPTION_REPLY) {
            throw new NbdProtocolException("option reply of " + Integer.toUnsignedString(length)
                    + " bytes exceeds the limit of " + MAX_OPTION_REPLY);
        }
        return new OptionReplyHeader(option, type, length);
    }

    public static byte[] encodeInfoExport(long size, int transmissionFlags) {
        return ByteBuffer.allocate(12).putShort((short) INFO_EXPORT).putLong(size).putShort((short) transmissionFlags)
                .array();
    }

    public static byte[] encodeInfoBlockSize(int min, int preferred, int max) {
        return ByteBuffer.allocate(14).putShort((short) INFO_BLOCK_SIZE).putInt(min).putInt(preferred).putInt(max).array();
    }

    /** Decodes the payload of an NBD_REP_INFO reply. */
    public static Info decodeInfo(ByteBuffer b) throws NbdProtocolException {
        if (b.remaining() < 2) {
            throw new NbdProtocolException("NBD_REP_INFO of " + b.remaining() + " bytes");
        }
        int type = Short.toUnsignedInt(b.getShort());
        switch (type) {
            case INFO_EXPORT -> {
                expectExactly(b, 10, "NBD_INFO_EXPORT");
                long size = b.getLong();
                int flags = Short.toUnsignedInt(b.getShort());
                if (size < 0) {
                    throw new NbdProtocolException("export size " + Long.toUnsignedString(size) + " is beyond 2^63");
                }
                if ((flags & TFLAG_HAS_FLAGS) == 0) {
                    throw new NbdProtocolException("transmission flags lack NBD_FLAG_HAS_FLAGS");
                }
                return new InfoExport(size, flags);
            }
            case INFO_BLOCK_SIZE -> {
                expectExactly(b, 12, "NBD_INFO_BLOCK_SIZE");
                int min = b.getInt();
                int pref = b.getInt();
                int max = b.getInt();
                if (!powerOfTwo(min) || min > 65536 || !powerOfTwo(pref) || pref < min
                        || Integer.toUnsignedLong(max) < pref) {
                    throw new NbdProtocolException("inconsistent block sizes: minimum " + min + ", preferred " + pref
                            + ", maximum " + Integer.toUnsignedString(max));
                }
                return new InfoBlockSize(min, pref, max);
            }
            default -> {
                return new InfoOther(type);
            }
        }
    }

    public static byte[] encodeMetaContextReply(int id, String name) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(4 + n.length).putInt(id).put(n).array();
    }

    public static MetaContext decodeMetaContext(ByteBuffer b) throws NbdProtocolException {
        if (b.remaining() < 5) {
            throw new NbdProtocolException("NBD_REP_META_CONTEXT of " + b.remaining() + " bytes");
        }
        int id = b.getInt();
        return new MetaContext(id, utf8(b, b.remaining(), "context name"));
    }

    /** The text an option error reply may carry (UTF-8, possibly empty). */
    public static String decodeErrorText(ByteBuffer b) {
        byte[] raw = new byte[Math.min(b.remaining(), MAX_STRING)];
        b.get(raw);
        return new String(raw, StandardCharsets.UTF_8).replaceAll("\\p{Cntrl}", "?");
    }

    // ---------------------------------------------------------------- handshake, client to server

    public static ByteBuffer encodeClientFlags(int flags) {
        return ByteBuffer.allocate(4).putInt(flags).flip();
    }

    public static ByteBuffer encodeOption(int option, byte[] data) {
        return ByteBuffer.allocate(16 + data.length).putLong(IHAVEOPT).putInt(option).putInt(data.length).put(data).flip();
    }

    public static OptionHeader decodeOptionHeader(ByteBuffer b) throws NbdProtocolException {
        long magic = b.getLong();
        if (magic != IHAVEOPT) {
            throw new NbdProtocolException(String.format("bad option magic 0x%016x", magic));
        }
        int option = b.getInt();
        int length = b.getInt();
        if (length < 0 || length > MAX_OPTION_REPLY) {
            throw new NbdProtocolException("option of " + Integer.toUnsignedString(length) + " bytes");
        }
        return new OptionHeader(option, length);
    }

    /** NBD_OPT_GO / NBD_OPT_INFO data: export name and the information types requested. */
    public static byte[] encodeGoData(String exportName, int... infos) {
        byte[] n = exportName.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(4 + n.length + 2 + 2 * infos.length).putInt(n.length).put(n)
                .putShort((short) infos.length);
        for (int i : infos) {
            b.putShort((short) i);
        }
        return b.array();
    }

    /** NBD_OPT_SET_META_CONTEXT / LIST data: export name and queries. */
    public static byte[] encodeMetaContextQuery(String exportName, List<String> queries) {
        byte[] n = exportName.getBytes(StandardCharsets.UTF_8);
        List<byte[]> qs = queries.stream().map(q -> q.getBytes(StandardCharsets.UTF_8)).toList();
        int size = 4 + n.length + 4 + qs.stream().mapToInt(q -> 4 + q.length).sum();
        ByteBuffer b = ByteBuffer.allocate(size).putInt(n.length).put(n).putInt(qs.size());
        for (byte[] q : qs) {
            b.putInt(q.length).put(q);
        }
        return b.array();
    }

    // ---------------------------------------------------------------- transmission

    public static ByteBuffer encodeRequest(Request r) {
        return ByteBuffer.allocate(REQUEST_HEADER_SIZE).putInt(REQUEST_MAGIC).putShort((short) r.flags())
                .putShort((short) r.type()).putLong(r.cookie()).putLong(r.offset()).putInt(r.length()).flip();
    }

    public static Request decodeRequest(ByteBuffer b) throws NbdProtocolException {
        int magic = b.getInt();
        if (magic != REQUEST_MAGIC) {
            throw new NbdProtocolException(String.format("bad request magic 0x%08x", magic));
        }
        int flags = Short.toUnsignedInt(b.getShort());
        int type = Short.toUnsignedInt(b.getShort());
        return new Request(flags, type, b.getLong(), b.getLong(), b.getInt());
    }

    public static ByteBuffer encodeSimpleReply(int error, long cookie) {
        return ByteBuffer.allocate(SIMPLE_REPLY_HEADER_SIZE).putInt(SIMPLE_REPLY_MAGIC).putInt(error).putLong(cookie)
                .flip();
    }

    public static ByteBuffer encodeChunkHeader(int flags, int type, long cookie, int length) {
        return ByteBuffer.allocate(STRUCTURED_REPLY_HEADER_SIZE).putInt(STRUCTURED_REPLY_MAGIC).putShort((short) flags)
                .putShort((short) type).putLong(cookie).putInt(length).flip();
    }

    /**
     * How many bytes follow a reply magic before the header is complete: 12 for a simple reply,
     * 16 for a structured chunk.
     */
    public static int replyHeaderRest(int magic) throws NbdProtocolException {
        if (magic == SIMPLE_REPLY_MAGIC) {
            return SIMPLE_REPLY_HEADER_SIZE - 4;
        }
        if (magic == STRUCTURED_REPLY_MAGIC) {
            return STRUCTURED_REPLY_HEADER_SIZE - 4;
        }
        throw new NbdProtocolException(String.format("bad reply magic 0x%08x", magic));
    }

    /** Decodes the rest of a reply header (after its 4-byte magic). */
    public static ReplyHeader decodeReplyHeader(int magic, ByteBuffer rest) throws NbdProtocolException {
        if (magic == SIMPLE_REPLY_MAGIC) {
            return new SimpleReply(rest.getInt(), rest.getLong());
        }
        replyHeaderRest(magic);
        int flags = Short.toUnsignedInt(rest.getShort());
        int type = Short.toUnsignedInt(rest.getShort());
        long cookie = rest.getLong();
        int length = rest.getInt();
        if ((flags & ~REPLY_FLAG_DONE) != 0) {
            throw new NbdProtocolException(String.format("unknown reply chunk flags 0x%04x", flags));
        }
        if (length < 0) {
            throw new NbdProtocolException("reply chunk length " + Integer.toUnsignedString(length) + " beyond 2^31");
        }
        return new ChunkHeader(flags, type, cookie, length);
    }

    public static OffsetDataPrefix decodeOffsetDataPrefix(ByteBuffer b8, int chunkLength) throws NbdProtocolException {
        if (chunkLength <= 8) {
            throw new NbdProtocolException("OFFSET_DATA chunk of " + chunkLength + " bytes carries no data");
        }
        return new OffsetDataPrefix(b8.getLong(), chunkLength - 8);
    }

    public static byte[] encodeOffsetHole(long offset, int length) {
        return ByteBuffer.allocate(12).putLong(offset).putInt(length).array();
    }

    public static OffsetHole decodeOffsetHole(ByteBuffer b) throws NbdProtocolException {
        expectExactly(b, 12, "OFFSET_HOLE chunk");
        long offset = b.getLong();
        int length = b.getInt();
        if (length <= 0) {
            throw new NbdProtocolException("OFFSET_HOLE of length " + Integer.toUnsignedString(length));
        }
        return new OffsetHole(offset, length);
    }

    public static byte[] encodeBlockStatus(int contextId, List<Descriptor> descriptors) {
        ByteBuffer b = ByteBuffer.allocate(4 + 8 * descriptors.size()).putInt(contextId);
        for (Descriptor d : descriptors) {
            b.putInt((int) d.length()).putInt(d.flags());
        }
        return b.array();
    }

    public static BlockStatus decodeBlockStatus(ByteBuffer b) throws NbdProtocolException {
        int n = b.remaining();
        if (n < 12 || (n - 4) % 8 != 0) {
            throw new NbdProtocolException("BLOCK_STATUS chunk of " + n + " bytes is not 4 + 8*k with k >= 1");
        }
        int context = b.getInt();
        List<Descriptor> ds = new ArrayList<>((n - 4) / 8);
        while (b.hasRemaining()) {
            long length = Integer.toUnsignedLong(b.getInt());
            int flags = b.getInt();
            if (length == 0) {
                throw new NbdProtocolException("BLOCK_STATUS descriptor of length 0");
            }
            ds.add(new Descriptor(length, flags));
        }
        return new BlockStatus(context, List.copyOf(ds));
    }

    public static byte[] encodeError(int error, String message) {
        byte[] m = message.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(6 + m.length).putInt(error).putShort((short) m.length).put(m).array();
    }

    public static ChunkError decodeError(ByteBuffer b, boolean withOffset) throws NbdProtocolException {
        if (b.remaining() < 6) {
            throw new NbdProtocolException("ERROR chunk of " + b.remaining() + " bytes");
        }
        int error = b.getInt();
        int msgLength = Short.toUnsignedInt(b.getShort());
        if (b.remaining() != msgLength + (withOffset ? 8 : 0)) {
            throw new NbdProtocolException("ERROR chunk message length " + msgLength + " does not match its chunk");
        }
        if (error == 0) {
            throw new NbdProtocolException("ERROR chunk with error 0");
        }
        String msg = utf8(b, msgLength, "error message");
        OptionalLong offset = withOffset ? OptionalLong.of(b.getLong()) : OptionalLong.empty();
        return new ChunkError(error, msg, offset);
    }

    // ---------------------------------------------------------------- helpers

    private static void expectExactly(ByteBuffer b, int n, String what) throws NbdProtocolException {
        if (b.remaining() != n) {
            throw new NbdProtocolException(what + " of " + b.remaining() + " bytes, expected " + n);
        }
    }

    private static boolean powerOfTwo(int v) {
        return v > 0 && (v & (v - 1)) == 0;
    }

    private static String utf8(ByteBuffer b, int length, String what) throws NbdProtocolException {
        if (length > MAX_STRING || length > b.remaining()) {
            throw new NbdProtocolException(what + " of " + length + " bytes");
        }
        ByteBuffer slice = b.slice(b.position(), length);
        b.position(b.position() + length);
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(slice).toString();
        } catch (CharacterCodingException e) {
            throw new NbdProtocolException(what + " is not valid UTF-8");
        }
    }
}
