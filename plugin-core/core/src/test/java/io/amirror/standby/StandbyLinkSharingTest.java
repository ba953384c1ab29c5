package io.amirror.standby;

import io.amirror.spool.Spool;
import io.amirror.transport.Sender;
import io.amirror.transport.TokenBucket;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;

import static io.amirror.standby.LoopbackStandby.entry;
import static io.amirror.standby.LoopbackStandby.local;
import static io.amirror.standby.LoopbackStandby.sameImage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The link as the primary shapes it, against the standby service: the token bucket holds the rate,
 * domains share one bucket fairly, a stalled domain does not hold up another, and a long round
 * trip costs round trips, not throughput.
 */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class StandbyLinkSharingTest {
    static LoopbackStandby f;

    @BeforeAll
    static void fixture() throws IOException {
        f = LoopbackStandby.get();
    }

    @Test
    void theTokenBucketHoldsTheLinkToItsRate(@TempDir Path state) throws Exception {
        double rate = 8e6 / 8; // 8 Mbit/s: a few seconds for the 6 MB delta
        TokenBucket bucket = new TokenBucket(() -> rate);
        Sender.Shipped shipped;
        try (StandbyService r = f.start(state)) {
            shipped = f.sender(f.primary, Set.of(f.standby.fingerprint()), local(r.port()), bucket)
                    .ship(entry(f.d01, 0, 1));
        }
        double achieved = shipped.goodputBytesPerSecond();
        System.out.printf("token bucket: %d bytes on the wire (TLS included) in %.2f s of data phase = %.3f Mbit/s,"
                + " limit 8 Mbit/s%n", shipped.wireBytes(), shipped.dataSeconds(), achieved * 8 / 1e6);
        assertTrue(shipped.wireBytes() > shipped.sentBytes(), "TLS and framing are counted too");
        assertTrue(achieved <= rate * 1.05, "never above the limit: " + achieved);
        assertTrue(achieved >= rate * 0.95, "at least 95 % of the limit while sending: " + achieved);
    }

    @Test
    void twoDomainsShareTheLinkFairly(@TempDir Path state) throws Exception {
        TokenBucket link = new TokenBucket(() -> 16e6 / 8);
        UUID other = UUID.fromString("22222222-3333-4444-8555-666666666666");
        Path d2 = state.resolve("other.amd");
        f.create(f.v0, f.v1, d2, other, 0, 1);
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(f.primary, Set.of(f.standby.fingerprint()), local(r.port()), link);
            var f1 = CompletableFuture.supplyAsync(() -> {
                try {
                    return s.ship(entry(f.d01, 0, 1));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            Sender.Shipped second = s.ship(new Spool.Entry(other, "vda", 0, 1, d2, Files.size(d2)));
            Sender.Shipped first = f1.get();
            double g1 = first.goodputBytesPerSecond() * 8 / 1e6;
            double g2 = second.goodputBytesPerSecond() * 8 / 1e6;
            System.out.printf("two domains on one 16 Mbit/s bucket: %.2f and %.2f Mbit/s%n", g1, g2);
            assertTrue(Math.abs(g1 - g2) / Math.max(g1, g2) < 0.25, "fair shares: " + g1 + " and " + g2);
            assertTrue(g1 + g2 < 16 * 1.1, "together within the limit: " + (g1 + g2));
        }
    }

    @Test
    void aStalledDomainDoesNotHoldUpAnotherOnTheSharedLink(@TempDir Path state) throws Exception {
        TokenBucket shared = new TokenBucket(() -> 16e6 / 8);
        try (StandbyService r = f.start(state);
             CuttingProxy stalled = new CuttingProxy(local(r.port()))) {
            stalled.stallNextAfter(256 * 1024); // handshake and offer pass, then the data stalls mid-transfer
            Sender viaStall = f.sender(f.primary, Set.of(f.standby.fingerprint()), stalled.address(), shared);
            Thread stuck = new Thread(() -> {
                try {
                    viaStall.ship(entry(f.d01, 0, 1));
                } catch (IOException expected) {
                    // it times out eventually; that is the point
                }
            });
            stuck.setDaemon(true);
            stuck.start();
            Thread.sleep(500);
            Path d2 = state.resolve("second.amd");
            UUID other = UUID.fromString("11111111-2222-4333-8444-555555555555");
            f.create(f.v0, f.v1, d2, other, 0, 1);
            long t0 = System.nanoTime();
            Sender direct = f.sender(f.primary, Set.of(f.standby.fingerprint()), local(r.port()), shared);
            Sender.Shipped done = direct.ship(new Spool.Entry(other, "vda", 0, 1, d2, Files.size(d2)));
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertEquals(1, done.ack().point());
            // the stalled connection takes tokens only until its small send buffer is full
            assertTrue(done.goodputBytesPerSecond() > 0.85 * 16e6 / 8,
                    "the other domain got the link: " + done.goodputBytesPerSecond() * 8 / 1e6 + " Mbit/s in " + seconds + " s");
        }
    }

    @Test
    void aLongRoundTripCostsRoundTripsNotThroughput(@TempDir Path state) throws Exception {
        double rate = 8e6 / 8;
        TokenBucket link = new TokenBucket(() -> rate);
        try (StandbyService r = f.start(state);
             CuttingProxy far = new CuttingProxy(local(r.port()))) {
            far.delay(Duration.ofMillis(40)); // 80 ms round trip, like a link across the country
            long t0 = System.nanoTime();
            f.sender(f.primary, Set.of(f.standby.fingerprint()), far.address(), link).ship(entry(f.d01, 0, 1));
            double seconds = (System.nanoTime() - t0) / 1e9;
            double ideal = Files.size(f.d01) / rate;
            System.out.printf("6.3 MB at 8 Mbit/s over an 80 ms round trip: %.2f s to the ACK (%.2f s of pure transfer)%n",
                    seconds, ideal);
            // the protocol streams: no round trip per chunk, so the delay adds a few RTTs, not a factor
            assertTrue(seconds < ideal * 1.15 + 3, seconds + " s against " + ideal + " s of transfer");
        }
        assertTrue(sameImage(f.disk(state).image(), f.v1));
    }
}
