package io.amirror.transport;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Frames on the wire ({@code schemas/wire-protocol.md}, "Frames"): type (u8), payload length
 * (u32), payload; big-endian. Pure encoding and decoding, no sockets: {@link Sender} and
 * {@link Receiver} do the I/O.
 *
 * <p>Each message type has one codec in {@link MessageCodecs} that writes, sizes and reads its
 * payload; this class only frames payloads and finds the codec, by type code when reading and by
 * record class when writing, in tables built once when the class loads. Loading fails if a
 * {@link WireMessage} record has no codec or two codecs share a type code, so a message added
 * without its codec fails the first test that touches the wire.
 *
 * <p>Reading is safe against a hostile peer: a frame longer than {@link #MAX_PAYLOAD} or of an
 * unknown type is refused before its payload is read, and every field is checked as it is read
 * (see {@link PayloadReader}). Whatever is wrong with a frame, the caller gets a
 * {@link WireProtocolException} and should close the connection; nothing else is thrown for bad
 * input. Writing a message whose fields cannot be represented (a string over
 * {@link WireConstants#MAX_STRING} bytes, a payload over {@link #MAX_PAYLOAD}) is a bug of the
 * caller and throws {@link IllegalArgumentException}.
 */
public final class WireCodec {
    /** Same as {@link WireConstants#VERSION}. */
    public static final int VERSION = WireConstants.VERSION;
    /** Same as {@link WireConstants#MAX_PAYLOAD}. */
    public static final int MAX_PAYLOAD = WireConstants.MAX_PAYLOAD;
    /** Same as {@link WireConstants#MAX_CHUNK}. */
    public static final int MAX_CHUNK = WireConstants.MAX_CHUNK;
    /** Same as {@link WireConstants#SEED_BLOCKS}. */
    public static final int SEED_BLOCKS = WireConstants.SEED_BLOCKS;

    /** Indexed by type code; null where no type is defined. */
    private static final MessageCodec<?>[] BY_TYPE;
    private static final Map<Class<?>, MessageCodec<?>> BY_CLASS = new HashMap<>();

    static {
        List<MessageCodec<?>> all = MessageCodecs.ALL;
        BY_TYPE = new MessageCodec<?>[all.stream().mapToInt(c -> c.type).max().orElse(0) + 1];
        for (MessageCodec<?> c : all) {
            if (c.type < 1 || c.type > 0xff || BY_TYPE[c.type] != null) {
                throw new IllegalStateException("type code " + c.type + " of " + c.name + " is not a free u8");
            }
            if (BY_CLASS.put(c.messageClass, c) != null) {
                throw new IllegalStateException("two codecs for " + c.messageClass.getSimpleName());
            }
            BY_TYPE[c.type] = c;
        }
        List<String> missing = Arrays.stream(WireMessage.class.getPermittedSubclasses())
                .filter(k -> !BY_CLASS.containsKey(k)).map(Class::getSimpleName).collect(Collectors.toList());
        if (!missing.isEmpty()) {
            throw new IllegalStateException("wire messages without a codec in MessageCodecs: " + missing);
        }
    }

    private WireCodec() {
    }

    /** One whole frame: header and payload. */
    public static byte[] encode(WireMessage m) {
        return encode(codecOf(m), m);
    }

    private static <M extends WireMessage> byte[] encode(MessageCodec<M> codec, WireMessage m) {
        M message = codec.messageClass.cast(m);
        int size = codec.payloadSize(message);
        if (size > MAX_PAYLOAD) {
            throw new IllegalArgumentException(codec.name + " of " + size + " bytes exceeds the frame limit of "
                    + MAX_PAYLOAD);
        }
        ByteBuffer frame = ByteBuffer.allocate(WireConstants.FRAME_HEADER + size).put((byte) codec.type).putInt(size);
        codec.write(message, PayloadWriter.into(frame));
        if (frame.hasRemaining()) { // write and count disagree: a codec whose write is not a pure function of m
            throw new IllegalStateException(codec.name + " wrote " + frame.position() + " of " + frame.capacity() + " bytes");
        }
        return frame.array();
    }

    /** Writes one frame and flushes, so the peer sees it now. */
    public static void write(OutputStream out, WireMessage m) throws IOException {
        out.write(encode(m));
        out.flush();
    }

    /** Reads one frame; a clean end of stream before its first byte returns null. */
    public static WireMessage read(InputStream in) throws IOException {
        int type = in.read();
        if (type < 0) {
            return null;
        }
        codecFor(type); // an unknown type is refused before its payload is read
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

    /** The message of one frame's type and payload (without the frame header). */
    public static WireMessage decode(int type, byte[] payload) throws WireProtocolException {
        if (payload.length > MAX_PAYLOAD) {
            throw new WireProtocolException("frame of " + payload.length + " bytes exceeds " + MAX_PAYLOAD);
        }
        return codecFor(type).decode(payload);
    }

    /** The codec of a type code read from the wire. */
    static MessageCodec<?> codecFor(int type) throws WireProtocolException {
        MessageCodec<?> c = type >= 0 && type < BY_TYPE.length ? BY_TYPE[type] : null;
        if (c == null) {
            throw new WireProtocolException("unknown frame type " + type);
        }
        return c;
    }

    /** The codec of a message to write. */
    static MessageCodec<?> codecOf(WireMessage m) {
        return BY_CLASS.get(m.getClass()); // never null: every permitted record has one, checked at load
    }
}
