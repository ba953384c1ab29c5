package io.amirror.transport;

import io.amirror.delta.DeltaFormat;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * Reads the fields of one frame's payload, in order, and checks each as the spec defines that kind
 * of field, whatever message it is in: a disk name, a point number or a string is checked the same
 * in every message. Every read first checks that the bytes are there, and every length read from
 * the peer is bounded before anything of that length is allocated; any violation is a
 * {@link WireProtocolException} naming the message and the field. {@link MessageCodec#decode} calls
 * {@link #end()} after the message's fields, so a payload with bytes left over is refused too.
 */
final class PayloadReader {
    private final String message;
    private final ByteBuffer in;

    PayloadReader(String message, byte[] payload) {
        this.message = message;
        this.in = ByteBuffer.wrap(payload);
    }

    /** A u16, any value. */
    int u16(String field) throws WireProtocolException {
        need(2, field);
        return Short.toUnsignedInt(in.getShort());
    }

    /** A 32-bit integer (signed on the wire's u32 slot, so values from 2^31 read as negative) in [min, max]. */
    int int32(String field, int min, int max) throws WireProtocolException {
        need(4, field);
        int v = in.getInt();
        if (v < min || v > max) {
            throw malformed(field + " " + v + " is outside " + min + " to " + max);
        }
        return v;
    }

    /** A 64-bit integer in [min, max]. */
    long int64(String field, long min, long max) throws WireProtocolException {
        need(8, field);
        long v = in.getLong();
        if (v < min || v > max) {
            throw malformed(field + " " + v + " is outside " + min + " to " + max);
        }
        return v;
    }

    /** A point number: 1 or more (point 0 is "no point yet" and only ever a base). */
    int point(String field) throws WireProtocolException {
        return int32(field, 1, Integer.MAX_VALUE);
    }

    /** A base point: 0 (a first sync) or more. */
    int basePoint(String field) throws WireProtocolException {
        return int32(field, 0, Integer.MAX_VALUE);
    }

    /** A byte offset or count: 0 or more. */
    long offset(String field) throws WireProtocolException {
        return int64(field, 0, Long.MAX_VALUE);
    }

    UUID uuid(String field) throws WireProtocolException {
        need(16, field);
        return new UUID(in.getLong(), in.getLong());
    }

    /** A u16 length and that many bytes of strict UTF-8, at most {@link WireConstants#MAX_STRING} bytes. */
    String string(String field) throws WireProtocolException {
        int n = u16(field + " length");
        if (n > WireConstants.MAX_STRING) {
            throw malformed(field + " of " + n + " bytes exceeds " + WireConstants.MAX_STRING);
        }
        need(n, field);
        ByteBuffer s = in.slice(in.position(), n);
        in.position(in.position() + n);
        try {
            // a fresh decoder reports malformed and unmappable input instead of replacing it
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(s).toString();
        } catch (CharacterCodingException e) {
            throw malformed(field + " is not UTF-8");
        }
    }

    /** A disk target name, as {@link DeltaFormat#validDiskName} accepts it (it becomes part of file names). */
    String diskName() throws WireProtocolException {
        String disk = string("disk");
        if (!DeltaFormat.validDiskName(disk)) {
            throw malformed("disk name '" + disk + "' is not [a-z][a-z0-9]* of at most "
                    + WireConstants.MAX_DISK_NAME + " characters");
        }
        return disk;
    }

    /** Exactly {@code length} bytes, such as a SHA-256. */
    byte[] fixed(String field, int length) throws WireProtocolException {
        need(length, field);
        byte[] b = new byte[length];
        in.get(b);
        return b;
    }

    /** The rest of the payload, which must be {@code min} to {@code max} bytes. */
    byte[] rest(String field, int min, int max) throws WireProtocolException {
        int n = in.remaining();
        if (n < min || n > max) {
            throw malformed(field + " of " + n + " bytes is outside " + min + " to " + max);
        }
        return fixed(field, n);
    }

    /** The rest of the payload as whole records of {@code recordLength} bytes, at most {@code maxRecords}. */
    byte[] records(String field, int recordLength, int maxRecords) throws WireProtocolException {
        int n = in.remaining();
        if (n % recordLength != 0 || n / recordLength > maxRecords) {
            throw malformed(field + " of " + n + " bytes is not up to " + maxRecords + " records of " + recordLength
                    + " bytes");
        }
        return fixed(field, n);
    }

    /**
     * A u32 count of records that follow, in [min, max], checked against the bytes left before
     * the caller allocates anything for them.
     */
    int count(String field, int min, int max, int recordLength) throws WireProtocolException {
        int n = int32(field + " count", min, max);
        if ((long) n * recordLength > in.remaining()) {
            throw malformed(n + " " + field + " need " + (long) n * recordLength + " bytes, " + in.remaining() + " left");
        }
        return n;
    }

    /** The payload must end here. */
    void end() throws WireProtocolException {
        if (in.hasRemaining()) {
            throw malformed(in.remaining() + " bytes after the last field");
        }
    }

    /** A violation found by the message's own checks (a relation between fields, say). */
    WireProtocolException malformed(String detail) {
        return new WireProtocolException("malformed " + message + ": " + detail);
    }

    private void need(int n, String field) throws WireProtocolException {
        if (in.remaining() < n) {
            throw malformed("ends inside " + field + " (" + in.remaining() + " of " + n + " bytes)");
        }
    }
}
