package io.amirror.nbd;

import io.amirror.nbd.NbdMessages.BlockStatus;
import io.amirror.nbd.NbdMessages.ChunkHeader;
import io.amirror.nbd.NbdMessages.Descriptor;
import io.amirror.nbd.NbdMessages.Request;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;

import static io.amirror.nbd.NbdConstants.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class NbdCodecTest {

    @Property
    void requestsRoundTrip(@ForAll @IntRange(max = 0xffff) int flags, @ForAll @IntRange(max = 7) int type,
                           @ForAll long cookie, @ForAll long offset, @ForAll int length) throws Exception {
        Request r = new Request(flags, type, cookie, offset, length);
        ByteBuffer b = NbdCodec.encodeRequest(r);
        assertEquals(REQUEST_HEADER_SIZE, b.remaining());
        assertEquals(r, NbdCodec.decodeRequest(b));
    }

    @Property
    void blockStatusRoundTrips(@ForAll int context, @ForAll("descriptors") @Size(min = 1, max = 50) List<Descriptor> ds)
            throws Exception {
        BlockStatus back = NbdCodec.decodeBlockStatus(ByteBuffer.wrap(NbdCodec.encodeBlockStatus(context, ds)));
        assertEquals(new BlockStatus(context, ds), back);
    }

    @Provide
    Arbitrary<List<Descriptor>> descriptors() {
        return Arbitraries.longs().between(1, 0xffffffffL).flatMap(len ->
                Arbitraries.integers().map(f -> new Descriptor(len, f))).list().ofMinSize(1).ofMaxSize(50);
    }

    @Property
    void chunkHeadersRoundTrip(@ForAll boolean done, @ForAll @IntRange(max = 0xffff) int type, @ForAll long cookie,
                               @ForAll @IntRange(min = 0) int length) throws Exception {
        ByteBuffer b = NbdCodec.encodeChunkHeader(done ? REPLY_FLAG_DONE : 0, type, cookie, length);
        int magic = b.getInt();
        assertEquals(new ChunkHeader(done ? 1 : 0, type, cookie, length),
                NbdCodec.decodeReplyHeader(magic, b.slice()));
    }

    @Property
    void arbitraryBytesNeverDecodeIntoSomethingUnchecked(@ForAll @Size(max = 64) byte[] junk) {
        // whatever arrives, the decoders either return a value or throw the protocol exception
        for (ThrowingDecoder d : List.<ThrowingDecoder>of(
                b -> NbdCodec.decodeBlockStatus(b), b -> NbdCodec.decodeInfo(b), b -> NbdCodec.decodeError(b, false),
                b -> NbdCodec.decodeError(b, true), b -> NbdCodec.decodeMetaContext(b), b -> NbdCodec.decodeOffsetHole(b))) {
            try {
                d.decode(ByteBuffer.wrap(junk));
            } catch (NbdProtocolException expected) {
                // fine
            } catch (BufferUnderflowException e) {
                throw new AssertionError("decoder read past a short buffer instead of reporting it", e);
            }
        }
    }

    interface ThrowingDecoder {
        Object decode(ByteBuffer b) throws NbdProtocolException;
    }

    @Example
    void errorChunkMessageLengthMustMatch() {
        byte[] e = NbdCodec.encodeError(5, "boom");
        e[5] = 99; // claims a 99-byte message
        assertThrows(NbdProtocolException.class, () -> NbdCodec.decodeError(ByteBuffer.wrap(e), false));
    }

    @Example
    void parsesNbdUris() {
        assertEquals(NbdAddress.unix(Path.of("/run/x y.sock"), "vda"),
                NbdAddress.parse("nbd+unix:///vda?socket=/run/x%20y.sock"));
        assertEquals(NbdAddress.tcp("10.0.0.1", 10809, ""), NbdAddress.parse("nbd://10.0.0.1"));
        assertEquals(NbdAddress.tcp("host", 1234, "a/b"), NbdAddress.parse("nbd://host:1234/a/b"));
        assertThrows(IllegalArgumentException.class, () -> NbdAddress.parse("nbd+unix:///vda"));
        assertThrows(IllegalArgumentException.class, () -> NbdAddress.parse("http://x/"));
        assertThrows(IllegalArgumentException.class, () -> NbdAddress.parse("nbd:///nohost"));
    }
}
