package io.amirror.transport;

import io.amirror.util.WeeklyRate;

import net.jqwik.api.Example;

import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WireAndScheduleTest {

    @Example
    void everyMessageRoundTrips() throws Exception {
        UUID u = UUID.randomUUID();
        byte[] sha = new byte[32];
        sha[5] = 9;
        for (WireMessage m : List.of(new WireMessage.Hello(1, "primary.office"), new WireMessage.Resume(12345),
                new WireMessage.Commit(), new WireMessage.Ack(u, "vda", 7), new WireMessage.Refuse(2, "disk full"),
                new WireMessage.Progress(5, 10))) {
            assertEquals(m, WireCodec.read(new ByteArrayInputStream(WireCodec.encode(m))));
        }
        var o = (WireMessage.Offer) WireCodec.read(new ByteArrayInputStream(WireCodec.encode(
                new WireMessage.Offer(u, "vdb", 3, 4, 1000, sha, 1L << 30, List.of("vda", "vdb")))));
        assertEquals(u, o.domain());
        assertArrayEquals(sha, o.sha256());
        assertEquals(1L << 30, o.virtualSize());
        assertEquals(List.of("vda", "vdb"), o.pointDisks());
        var d = (WireMessage.Data) WireCodec.read(new ByteArrayInputStream(WireCodec.encode(
                new WireMessage.Data(77, new byte[] {1, 2, 3}))));
        assertArrayEquals(new byte[] {1, 2, 3}, d.bytes());
        var desc = (WireMessage.Describe) WireCodec.read(new ByteArrayInputStream(WireCodec.encode(
                new WireMessage.Describe(u, 5, new byte[] {7, 8}))));
        assertEquals(u, desc.domain());
        assertEquals(5, desc.point());
        assertArrayEquals(new byte[] {7, 8}, desc.manifestXz());
        var done = (WireMessage.Described) WireCodec.read(new ByteArrayInputStream(WireCodec.encode(
                new WireMessage.Described(u, sha))));
        assertArrayEquals(sha, done.sha256());
    }

    @Example
    void malformedDescribeVerifyAndSeedFramesAreRefused() throws Exception {
        UUID u = UUID.randomUUID();
        byte[] empty = WireCodec.encode(new WireMessage.Describe(u, 5, new byte[0]));
        assertThrows(WireProtocolException.class, () -> WireCodec.read(new ByteArrayInputStream(empty)));
        byte[] zero = WireCodec.encode(new WireMessage.Describe(u, 0, new byte[] {1}));
        assertThrows(WireProtocolException.class, () -> WireCodec.read(new ByteArrayInputStream(zero)));
        var q = (WireMessage.SeedQuery) WireCodec.read(new ByteArrayInputStream(WireCodec.encode(
                new WireMessage.SeedQuery(u, "vda", 1 << 30, 32768))));
        assertEquals(new WireMessage.SeedQuery(u, "vda", 1 << 30, 32768), q);
        var part = (WireMessage.SeedPart) WireCodec.read(new ByteArrayInputStream(WireCodec.encode(
                new WireMessage.SeedPart(u, "vda", 0, 5, new byte[] {1, 2}))));
        assertEquals(5, part.blocks());
        byte[] tooMany = WireCodec.encode(new WireMessage.SeedPart(u, "vda", 0, WireCodec.SEED_BLOCKS + 1, new byte[] {1}));
        assertThrows(WireProtocolException.class, () -> WireCodec.read(new ByteArrayInputStream(tooMany)));
        byte[] negative = WireCodec.encode(new WireMessage.SeedQuery(u, "vda", -1, 0));
        assertThrows(WireProtocolException.class, () -> WireCodec.read(new ByteArrayInputStream(negative)));
        var stale = (WireMessage.Stale) WireCodec.read(new ByteArrayInputStream(WireCodec.encode(
                new WireMessage.Stale(u, "vda", 3, List.of(new long[] {4096, 8192}, new long[] {1 << 20, 4096})))));
        assertEquals(2, stale.ranges().size());
        assertArrayEquals(new long[] {1 << 20, 4096}, stale.ranges().get(1));
        for (WireMessage bad : List.of(new WireMessage.Stale(u, "vda", 3, List.of()),
                new WireMessage.Stale(u, "vda", 3, List.<long[]>of(new long[] {100, 4096})),
                new WireMessage.Stale(u, "vda", 0, List.<long[]>of(new long[] {0, 4096})),
                new WireMessage.Stale(u, "../x", 3, List.<long[]>of(new long[] {0, 4096})))) {
            byte[] b = WireCodec.encode(bad);
            assertThrows(WireProtocolException.class, () -> WireCodec.read(new ByteArrayInputStream(b)));
        }
        byte[] shortDigest = ByteBuffer.allocate(5 + 20).put((byte) 9).putInt(20).array();
        assertThrows(WireProtocolException.class, () -> WireCodec.read(new ByteArrayInputStream(shortDigest)));
    }

    @Example
    void hostileFramesAreRefusedBeforeAllocating() {
        byte[] huge = ByteBuffer.allocate(5).put((byte) 4).putInt(0x7fffff00).array();
        var e = assertThrows(WireProtocolException.class, () -> WireCodec.read(new ByteArrayInputStream(huge)));
        assertTrue(e.getMessage().contains("exceeds"), e.getMessage());
        byte[] cut = ByteBuffer.allocate(9).put((byte) 3).putInt(8).putInt(0).array();
        assertThrows(WireProtocolException.class, () -> WireCodec.read(new ByteArrayInputStream(cut)));
        byte[] badOffer = WireCodec.encode(new WireMessage.Hello(1, "x"));
        badOffer[0] = 2; // a HELLO payload presented as an OFFER
        assertThrows(WireProtocolException.class, () -> WireCodec.read(new ByteArrayInputStream(badOffer)));
        byte[] unknown = ByteBuffer.allocate(5).put((byte) 99).putInt(0).array();
        assertThrows(WireProtocolException.class, () -> WireCodec.read(new ByteArrayInputStream(unknown)));
    }

    // Hostile input for every decoder: WireFuzzTest. Round trips of random messages: WireRoundTripTest.

    @Example
    void officeHoursScheduleSwitchesRates() {
        WeeklyRate s = WeeklyRate.parse("Mon-Fri 08:00-18:00: 256kbit; Sat 09:00-12:00: 1mbit; otherwise 4mbit");
        ZonedDateTime wednesdayNoon = ZonedDateTime.of(2026, 11, 25, 12, 0, 0, 0, ZoneOffset.UTC);
        assertEquals(32_000, s.rateAt(wednesdayNoon), 1e-6);
        assertEquals(500_000, s.rateAt(wednesdayNoon.withHour(18)), 1e-6, "18:00 is outside 08:00-18:00");
        assertEquals(125_000, s.rateAt(wednesdayNoon.plusDays(3).withHour(10)), 1e-6, "Saturday morning");
        assertEquals(500_000, s.rateAt(wednesdayNoon.plusDays(4)), 1e-6, "Sunday");
        assertEquals(250_000, WeeklyRate.parse("2mbit").rateAt(wednesdayNoon), 1e-6);
        assertThrows(IllegalArgumentException.class, () -> WeeklyRate.parse("Mon-Fri 08:00-18:00: 256kbit"));
        assertThrows(IllegalArgumentException.class, () -> WeeklyRate.parse("Xyz 08:00-09:00: 1mbit; otherwise 1mbit"));
        assertThrows(IllegalArgumentException.class, () -> WeeklyRate.parse("Mon 10:00-09:00: 1mbit; otherwise 1mbit"));
    }

    @Example
    void aRateChangeTakesEffectOnTheNextWrite() throws Exception {
        double[] rate = {1e6};
        TokenBucket b = new TokenBucket(() -> rate[0]);
        long t0 = System.nanoTime();
        for (int i = 0; i < 50; i++) {
            b.acquire(10_000);   // 500 kB at 1 MB/s: about 0.5 s
        }
        double fast = (System.nanoTime() - t0) / 1e9;
        rate[0] = 250e3;        // the window changes: a quarter of the rate
        t0 = System.nanoTime();
        for (int i = 0; i < 25; i++) {
            b.acquire(10_000);   // 250 kB at 250 kB/s: about 1 s
        }
        double slow = (System.nanoTime() - t0) / 1e9;
        assertTrue(fast > 0.4 && fast < 0.7, "500 kB at 1 MB/s took " + fast + " s");
        assertTrue(slow > 0.9 && slow < 1.3, "250 kB at 250 kB/s took " + slow + " s");
    }
}
