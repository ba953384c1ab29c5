package io.amirror.transport;

import io.amirror.transport.WireMessage.Ack;
import io.amirror.transport.WireMessage.Data;
import io.amirror.transport.WireMessage.Hello;
import io.amirror.transport.WireMessage.Offer;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.transport.WireMessage.SeedPart;
import io.amirror.transport.WireMessage.Stale;
import io.amirror.transport.WireMessage.Verified;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.UUID;

import static io.amirror.transport.WireConstants.FRAME_HEADER;
import static io.amirror.transport.WireConstants.GROUP_DIGEST_LENGTH;
import static io.amirror.transport.WireConstants.MAX_CHUNK;
import static io.amirror.transport.WireConstants.MAX_GROUPS;
import static io.amirror.transport.WireConstants.MAX_PAYLOAD;
import static io.amirror.transport.WireConstants.MAX_STALE_RANGES;
import static io.amirror.transport.WireConstants.MAX_STRING;
import static io.amirror.transport.WireConstants.SEED_BLOCKS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Valid messages come back as they were sent, at every size up to the protocol's limits. */
class WireRoundTripTest {
    private static final UUID DOMAIN = UUID.fromString("00112233-4455-6677-8899-aabbccddeeff");
    private static final HexFormat HEX = HexFormat.of();

    @Provide
    Arbitrary<WireMessage> messages() {
        return WireArbitraries.messages();
    }

    @Property(tries = 1500)
    void everyValidMessageRoundTrips(@ForAll("messages") WireMessage m) throws Exception {
        byte[] frame = WireCodec.encode(m);
        assertEquals(frame.length - FRAME_HEADER, ByteBuffer.wrap(frame, 1, 4).getInt(), "the header's length");
        ByteArrayInputStream in = new ByteArrayInputStream(frame);
        WireMessage back = WireCodec.read(in);
        assertNull(WireCodec.read(in), "one frame, read whole");
        assertEquals(m.getClass(), back.getClass());
        // the encoding holds every field, so equal encodings are equal messages (arrays included)
        assertEquals(HEX.formatHex(frame), HEX.formatHex(WireCodec.encode(back)));
        if (!Set.of(Offer.class, Data.class, WireMessage.Describe.class, WireMessage.Described.class, Verified.class,
                SeedPart.class, Stale.class).contains(m.getClass())) {
            assertEquals(m, back);
        }
    }

    @Example
    void theArbitrariesCoverEveryMessage() {
        assertEquals(Set.of(WireMessage.class.getPermittedSubclasses()), WireArbitraries.byType().keySet());
    }

    @Example
    void framesAtTheLimitsRoundTripAndOneMoreIsRefused() throws Exception {
        roundTrips(new Data(0, new byte[MAX_CHUNK]));
        assertRefused(new Data(0, new byte[MAX_CHUNK + 1]));

        List<long[]> ranges = new ArrayList<>();
        for (int i = 0; i < MAX_STALE_RANGES; i++) {
            ranges.add(new long[] {(long) i * 8192, 4096});
        }
        Stale most = (Stale) roundTrips(new Stale(DOMAIN, "vda", 3, ranges));
        assertArrayEquals(ranges.get(MAX_STALE_RANGES - 1), most.ranges().get(MAX_STALE_RANGES - 1));
        List<long[]> tooMany = new ArrayList<>(ranges);
        tooMany.add(new long[] {1L << 40, 4096});
        assertRefused(new Stale(DOMAIN, "vda", 3, tooMany));

        roundTrips(new Verified(DOMAIN, "vda", 2, new byte[MAX_GROUPS * GROUP_DIGEST_LENGTH]));
        assertRefused(new Verified(DOMAIN, "vda", 2, new byte[(MAX_GROUPS + 1) * GROUP_DIGEST_LENGTH]));
        assertRefused(new Verified(DOMAIN, "vda", 2, new byte[GROUP_DIGEST_LENGTH + 1]));

        roundTrips(new SeedPart(DOMAIN, "vda", 0, SEED_BLOCKS, new byte[] {1}));
        roundTrips(new WireMessage.Describe(DOMAIN, 1, new byte[MAX_CHUNK]));
        assertRefused(new WireMessage.Describe(DOMAIN, 1, new byte[MAX_CHUNK + 1]));

        String longest = "é".repeat(MAX_STRING / 2); // two UTF-8 bytes each: exactly the limit
        roundTrips(new Hello(1, longest));
        roundTrips(new Hello(1, "\ud83d\udcbe supplementary characters too"));
        roundTrips(new Ack(DOMAIN, "v" + "1".repeat(31), 1));
        assertRefused(new Ack(DOMAIN, "v" + "1".repeat(32), 1));
    }

    @Example
    void theEncoderRefusesWhatItsFieldsCannotHold() {
        assertThrows(IllegalArgumentException.class, () -> WireCodec.encode(new Hello(1, "x".repeat(MAX_STRING + 1))));
        assertThrows(IllegalArgumentException.class, () -> WireCodec.encode(new Hello(0x10000, "x")));
        assertThrows(IllegalArgumentException.class, () -> WireCodec.encode(new Refuse(-1, "x")));
        assertThrows(IllegalArgumentException.class, () -> WireCodec.encode(new Offer(DOMAIN, "vda", 0, 1, 1, new byte[31], 1)));
        assertThrows(IllegalArgumentException.class, () -> WireCodec.encode(new Data(0, new byte[MAX_PAYLOAD])));
    }

    @Example
    void aLongReasonIsCutAtACharacterBoundaryNotRefused() throws Exception {
        String reason = "xx" + "€".repeat(MAX_STRING); // 3 bytes each after two: the limit falls inside a character
        Refuse r = (Refuse) WireCodec.read(new ByteArrayInputStream(WireCodec.encode(new Refuse(Refuse.INTERNAL, reason))));
        int bytes = r.reason().getBytes(StandardCharsets.UTF_8).length;
        assertTrue(bytes <= MAX_STRING && bytes > MAX_STRING - 3, bytes + " bytes");
        assertTrue(reason.startsWith(r.reason()));
    }

    @Example
    void ackAndVerifiedCheckTheirDiskAndPointLikeEveryMessage() {
        assertRefused(new Ack(DOMAIN, "../x", 3));
        assertRefused(new Ack(DOMAIN, "vda", 0));
        assertRefused(new Ack(DOMAIN, "vda", -1));
        assertRefused(new Verified(DOMAIN, "VDA", 3, new byte[0]));
        assertRefused(new Verified(DOMAIN, "vda", 0, new byte[0]));
        assertRefused(new Offer(DOMAIN, "vda", 4, 4, 1, new byte[32], 1));
        assertRefused(new Offer(DOMAIN, "vda", 3, 4, 1, new byte[32], 0));
        assertRefused(new Offer(DOMAIN, "vda", 3, 4, 1, new byte[32], 1, List.of("vdb")));
        assertRefused(new Offer(DOMAIN, "vda", 3, 4, 1, new byte[32], 1, List.of("vda", "vda")));
        assertRefused(new Offer(DOMAIN, "vda", 3, 4, 1, new byte[32], 1, List.of()));
        List<String> many = new ArrayList<>(List.of("vda"));
        for (int i = 0; i < WireConstants.MAX_POINT_DISKS; i++) {
            many.add("sd" + i);
        }
        assertRefused(new Offer(DOMAIN, "vda", 3, 4, 1, new byte[32], 1, many));
        assertRefused(new WireMessage.Verify(DOMAIN, "vda", 1, 255));
    }

    private static WireMessage roundTrips(WireMessage m) throws Exception {
        byte[] frame = WireCodec.encode(m);
        WireMessage back = WireCodec.read(new ByteArrayInputStream(frame));
        assertTrue(Arrays.equals(frame, WireCodec.encode(back)), m.getClass().getSimpleName());
        return back;
    }

    private static void assertRefused(WireMessage m) {
        byte[] frame = WireCodec.encode(m); // the encoder writes what it is given; the reader is the gate
        assertThrows(WireProtocolException.class, () -> WireCodec.read(new ByteArrayInputStream(frame)),
                m.getClass().getSimpleName());
    }
}
