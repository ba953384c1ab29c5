package io.amirror.transport;

import io.amirror.transport.WireMessage.Ack;
import io.amirror.transport.WireMessage.Commit;
import io.amirror.transport.WireMessage.Data;
import io.amirror.transport.WireMessage.Describe;
import io.amirror.transport.WireMessage.Described;
import io.amirror.transport.WireMessage.Hello;
import io.amirror.transport.WireMessage.Offer;
import io.amirror.transport.WireMessage.Progress;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.transport.WireMessage.Resume;
import io.amirror.transport.WireMessage.SeedPart;
import io.amirror.transport.WireMessage.SeedQuery;
import io.amirror.transport.WireMessage.Stale;
import io.amirror.transport.WireMessage.Verified;
import io.amirror.transport.WireMessage.Verify;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The exact bytes of one frame of every message type, as version 1 of the protocol puts them on the
 * wire ({@code schemas/wire-protocol.md}). A change here is a change of the protocol: it needs a new
 * {@code VERSION}, never an edit of these strings. Each frame is written field by field: type (u8),
 * payload length (u32), then the payload.
 */
class WireGoldenTest {

    private static final UUID DOMAIN = UUID.fromString("00112233-4455-6677-8899-aabbccddeeff");
    private static final String UUID_HEX = "00112233445566778899aabbccddeeff";
    private static final String SHA_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    private static final String DIGESTS_HEX = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff" + "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
    private static final HexFormat HEX = HexFormat.of();

    /** Every message with its frame in hex; one entry per message type, in type-code order. */
    static Map<WireMessage, String> golden() {
        byte[] sha = HEX.parseHex(SHA_HEX);
        Map<WireMessage, String> g = new LinkedHashMap<>();
        g.put(new Hello(1, "primary.office"),
                "01" + "00000012" + "0001" + "000e" + "7072696d6172792e6f6666696365");
        g.put(new Offer(DOMAIN, "vda", 3, 4, 1000, sha, 1L << 30, List.of("vda", "vdb")),
                "02" + "0000005b" + UUID_HEX + "0003" + "766461" + "00000003" + "00000004" + "00000000000003e8" + SHA_HEX
                        + "0000000040000000" + "00000002" + "0003" + "766461" + "0003" + "766462");
        g.put(new Resume(12345),
                "03" + "00000008" + "0000000000003039");
        g.put(new Data(77, new byte[] {1, 2, 3}),
                "04" + "0000000b" + "000000000000004d" + "010203");
        g.put(new Commit(),
                "05" + "00000000");
        g.put(new Ack(DOMAIN, "vdb", 7),
                "06" + "00000019" + UUID_HEX + "0003" + "766462" + "00000007");
        g.put(new Refuse(2, "plein à craquer"), // the reason's length counts UTF-8 bytes, not characters
                "07" + "00000014" + "0002" + "0010" + "706c65696e20c3a02063726171756572");
        g.put(new Describe(DOMAIN, 5, new byte[] {7, 8}),
                "08" + "00000016" + UUID_HEX + "00000005" + "0708");
        g.put(new Described(DOMAIN, sha),
                "09" + "00000030" + UUID_HEX + SHA_HEX);
        g.put(new Verify(DOMAIN, "vda", 9, 256),
                "0a" + "0000001d" + UUID_HEX + "0003" + "766461" + "00000009" + "00000100");
        g.put(new Verified(DOMAIN, "vda", 9, HEX.parseHex(DIGESTS_HEX)),
                "0b" + "00000039" + UUID_HEX + "0003" + "766461" + "00000009" + DIGESTS_HEX);
        g.put(new SeedQuery(DOMAIN, "vda", 1L << 30, 32768),
                "0c" + "00000025" + UUID_HEX + "0003" + "766461" + "0000000040000000" + "0000000000008000");
        g.put(new SeedPart(DOMAIN, "vda", 0, 5, new byte[] {1, 2}),
                "0d" + "00000023" + UUID_HEX + "0003" + "766461" + "0000000000000000" + "00000005" + "0102");
        g.put(new Progress(5, 10),
                "0e" + "00000010" + "0000000000000005" + "000000000000000a");
        g.put(new Stale(DOMAIN, "vda", 3, List.of(new long[] {4096, 8192}, new long[] {1 << 20, 4096})),
                "0f" + "0000003d" + UUID_HEX + "0003" + "766461" + "00000003" + "00000002"
                        + "0000000000001000" + "0000000000002000" + "0000000000100000" + "0000000000001000");
        g.put(new WireMessage.Switchover(DOMAIN, 8, true, ":10811", 3600),
                "10" + "00000022" + UUID_HEX + "00000008" + "0001" + "0006" + "3a3130383131" + "00000e10");
        g.put(new WireMessage.Switched(DOMAIN, 8, "files", DOMAIN),
                "11" + "0000002b" + UUID_HEX + "00000008" + "0005" + "66696c6573" + UUID_HEX);
        return g;
    }

    @Test
    void everyMessageEncodesToItsVersionOneBytes() {
        golden().forEach((m, hex) -> assertEquals(hex, HEX.formatHex(WireCodec.encode(m)), m.getClass().getSimpleName()));
    }

    @Test
    void everyGoldenFrameDecodesToTheSameMessage() throws Exception {
        for (Map.Entry<WireMessage, String> e : golden().entrySet()) {
            WireMessage read = WireCodec.read(new ByteArrayInputStream(HEX.parseHex(e.getValue())));
            // records holding arrays compare by identity: compare what they encode to instead
            assertEquals(e.getKey().getClass(), read.getClass());
            assertEquals(e.getValue(), HEX.formatHex(WireCodec.encode(read)), e.getKey().getClass().getSimpleName());
        }
    }

    @Test
    void theGoldenSetCoversEveryMessageType() {
        assertEquals(WireMessage.class.getPermittedSubclasses().length,
                golden().keySet().stream().map(Object::getClass).distinct().count());
    }
}
