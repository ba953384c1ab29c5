package io.amirror.transport;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * Writes the fields of one frame's payload, in order; the counterpart of {@link PayloadReader}.
 * A codec's {@link MessageCodec#write} runs twice per frame: first against a counting writer that
 * only adds up sizes, then against one over the frame's buffer, so a payload's size always comes
 * from the same code that writes it.
 *
 * <p>The writer refuses only values a field cannot represent (a string over
 * {@link WireConstants#MAX_STRING} bytes, a u16 out of range, a digest of the wrong length): those
 * are bugs of the caller, and an {@link IllegalArgumentException}. It does not check what a decoder
 * checks on top (a point above 0, a bound on a count): the receiving side is where that is
 * enforced, and tests build frames a peer must refuse with the ordinary encoder.
 */
final class PayloadWriter {
    /** Null while counting. */
    private final ByteBuffer out;
    private int size;

    private PayloadWriter(ByteBuffer out) {
        this.out = out;
    }

    static PayloadWriter counting() {
        return new PayloadWriter(null);
    }

    static PayloadWriter into(ByteBuffer frame) {
        return new PayloadWriter(frame);
    }

    /** Bytes written (or counted) so far. */
    int size() {
        return size;
    }

    void u16(String field, int v) {
        if (v < 0 || v > 0xffff) {
            throw new IllegalArgumentException(field + " " + v + " does not fit a u16");
        }
        size += 2;
        if (out != null) {
            out.putShort((short) v);
        }
    }

    void int32(int v) {
        size += 4;
        if (out != null) {
            out.putInt(v);
        }
    }

    void int64(long v) {
        size += 8;
        if (out != null) {
            out.putLong(v);
        }
    }

    void uuid(UUID u) {
        int64(u.getMostSignificantBits());
        int64(u.getLeastSignificantBits());
    }

    /** A u16 length and the string's UTF-8 bytes. */
    void string(String field, String s) {
        byte[] u = s.getBytes(StandardCharsets.UTF_8);
        if (u.length > WireConstants.MAX_STRING) {
            throw new IllegalArgumentException(field + " of " + u.length + " bytes exceeds " + WireConstants.MAX_STRING);
        }
        u16(field, u.length);
        bytes(u);
    }

    /** Exactly {@code length} bytes, such as a SHA-256. */
    void fixed(String field, byte[] b, int length) {
        if (b.length != length) {
            throw new IllegalArgumentException(field + " has " + b.length + " bytes, not " + length);
        }
        bytes(b);
    }

    /** Bytes as they are; their length is implied by the frame's or given by an earlier field. */
    void bytes(byte[] b) {
        size += b.length;
        if (out != null) {
            out.put(b);
        }
    }

    /**
     * {@code s} cut to at most {@link WireConstants#MAX_STRING} UTF-8 bytes at a character boundary:
     * for free text the peer only shows (a refusal's reason), which must never keep a frame from
     * being sent.
     */
    static String cutToFit(String s) {
        byte[] u = s.getBytes(StandardCharsets.UTF_8);
        if (u.length <= WireConstants.MAX_STRING) {
            return s;
        }
        int end = WireConstants.MAX_STRING;
        while ((u[end] & 0xc0) == 0x80) { // u[end] continues a character: cut before that character
            end--;
        }
        return new String(u, 0, end, StandardCharsets.UTF_8);
    }
}
