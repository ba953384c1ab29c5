package io.amirror.transport;

import io.amirror.delta.DeltaFiles;
import io.amirror.delta.DeltaFormat;
import io.amirror.delta.XzBlockCodec;
import io.amirror.image.DiskImage;
import io.amirror.spool.Spool;
import io.amirror.standby.ReplicaDisk;
import io.amirror.image.BitRot;
import io.amirror.util.Exec;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Primary to standby over real TLS sockets on loopback, with the standby applying to qcow2 through
 * qemu-nbd: pinned trust, refusals, resume after cuts, and an apply interrupted by a crash.
 */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class TransportTest {
    static final Duration T = Duration.ofMinutes(2);
    static final UUID DOM = UUID.fromString("6f1c2a52-4a5e-4b4f-9d55-1e7f9c1d2b3a");
    static final int TRIALS = Integer.getInteger("amirror.trials", 6);

    @TempDir
    static Path shared;
    static Identity primary;
    static Identity standby;
    static Identity stranger;
    static DiskImage.Tools tools;
    /** Images v0 (empty), v1, v2 and the deltas 0->1 and 1->2 between them. */
    static Path v1;
    static Path v2;
    static Path d01;
    static Path d12;


    @BeforeAll
    static void setUp() throws Exception {
        primary = Identity.loadOrCreate(shared.resolve("primary"), "primary");
        standby = Identity.loadOrCreate(shared.resolve("standby"), "standby");
        stranger = Identity.loadOrCreate(shared.resolve("stranger"), "stranger");
        tools = new DiskImage.Tools(Path.of(Exec.tool("qemu-img")), Path.of(Exec.tool("qemu-nbd")));
        Path v0 = shared.resolve("v0.qcow2");
        v1 = shared.resolve("v1.qcow2");
        v2 = shared.resolve("v2.qcow2");
        Exec.run(T, Exec.tool("qemu-img"), "create", "-q", "-f", "qcow2", v0.toString(), "64M").orThrow();
        Files.copy(v0, v1);
        // incompressible data, so the deltas span several xz blocks and cuts land inside them
        Path rnd = shared.resolve("rnd.bin");
        byte[] r = new byte[6 << 20];
        new Random(1).nextBytes(r);
        Files.write(rnd, r);
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 1 0 2M", v1.toString()).orThrow();
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 3 20M 1M", v1.toString()).orThrow();
        Files.copy(v1, v2);
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -z 20M 512k", "-c", "write -P 7 40M 64k", v2.toString())
                .orThrow();
        // a region of random bytes in both versions: written through a raw copy
        writeRandom(v1, rnd, 8 << 20);
        writeRandom(v2, rnd, 8 << 20);
        Path rnd2 = shared.resolve("rnd2.bin");
        byte[] r2 = new byte[3 << 20];
        new Random(2).nextBytes(r2);
        Files.write(rnd2, r2);
        writeRandom(v2, rnd2, 30 << 20);
        d01 = shared.resolve("d01.amd");
        d12 = shared.resolve("d12.amd");
        create(v0, v1, d01, 0, 1);
        create(v1, v2, d12, 1, 2);
    }

    static void writeRandom(Path qcow, Path data, long offset) {
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -s " + data + " " + offset + " " + data.toFile().length(),
                qcow.toString()).orThrow();
    }

    static void create(Path from, Path to, Path out, int base, int next) throws IOException {
        try (DiskImage a = DiskImage.open(from, false, tools); DiskImage b = DiskImage.open(to, false, tools)) {
            DeltaFiles.create(a, b, out, new DeltaFiles.CreateOptions(DOM, "vda", base, next,
                    new XzBlockCodec.Preset(1, false), 0, 2, 1 << 20 /* 1 MiB blocks: many of them */));
        }
    }

    static Spool.Entry entry(Path delta, int base, int next) throws IOException {
        return new Spool.Entry(DOM, "vda", base, next, delta, Files.size(delta));
    }

    Receiver receiver(Path root, Identity me, Set<String> pins) throws IOException {
        SSLContext ctx = Tls.context(me, pins);
        return new Receiver(Tls.listen(ctx, new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)), root, tools, 3)
                .start();
    }

    Sender sender(Identity me, Set<String> pins, InetSocketAddress to, TokenBucket bucket) throws IOException {
        return new Sender(Tls.context(me, pins), to, bucket, 30_000);
    }

    static InetSocketAddress local(int port) {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
    }

    static boolean sameImage(Path a, Path b) {
        return Exec.run(T, Exec.tool("qemu-img"), "compare", "-q", a.toString(), b.toString()).exitCode() == 0;
    }

    @Test
    void aSeedOnTheStandbyBecomesThePrimarysMapAndTheFirstDeltaAppliesOnTopOfIt(@TempDir Path root) throws Exception {
        ReplicaDisk seeded = new ReplicaDisk(root, DOM, "vda", tools, 3);
        seeded.adopt(v1);
        assertThrows(IOException.class, () -> seeded.adopt(v2), "a seed starts an empty replica only");
        long size;
        try (DiskImage img = DiskImage.open(v1, false, tools)) {
            size = img.size();
        }
        try (Receiver r = receiver(root, standby, Set.of(primary.fingerprint()))) {
            Sender s = sender(primary, Set.of(standby.fingerprint()), local(r.port()), new TokenBucket(() -> 1e12));
            try (io.amirror.delta.ReplicaHashMap map = io.amirror.delta.ReplicaHashMap.open(root.resolve("p.map"), size);
                 io.amirror.delta.ReplicaHashMap theirs = io.amirror.delta.ReplicaHashMap.openExisting(seeded.seedMap())) {
                long got = s.seed(DOM, "vda", map);
                assertTrue(got > 0 && got < size / 256, "hashes, compressed: " + got);
                assertArrayEquals(theirs.read(0, (int) theirs.blocks()), map.read(0, (int) map.blocks()));
            }
            // no seed for another disk, or for a disk of another size: the map is left alone
            try (io.amirror.delta.ReplicaHashMap other = io.amirror.delta.ReplicaHashMap.open(root.resolve("o.map"), size);
                 io.amirror.delta.ReplicaHashMap bigger = io.amirror.delta.ReplicaHashMap.open(root.resolve("b.map"), 2 * size)) {
                assertEquals(-1, s.seed(DOM, "vdb", other));
                assertEquals(-1, s.seed(DOM, "vda", bigger));
            }
            // the delta v1 -> v2 starts from point 0 here: applied on the seed, it gives v2
            Path d = root.resolve("seeded-0-1.amd");
            try (DiskImage a = DiskImage.open(v1, false, tools); DiskImage b = DiskImage.open(v2, false, tools)) {
                DeltaFiles.create(a, b, d, new DeltaFiles.CreateOptions(DOM, "vda", 0, 1, new XzBlockCodec.Preset(1, false),
                        0, 2, 1 << 20));
            }
            assertEquals(1, s.ship(entry(d, 0, 1)).ack().point());
        }
        assertTrue(sameImage(seeded.image(), v2));
        assertFalse(Files.exists(seeded.seedMap()), "the seed's hashes go once the replica moved on");
    }

    @Test
    void aDriftedCopySourceIsRefusedAsStaleAndAPlainDeltaRepairsIt(@TempDir Path root) throws Exception {
        // v3: v2 with its 1 MiB of random bytes at 8M copied to 50M, as a file copy inside the guest
        Path v3 = root.resolve("v3.qcow2");
        Files.copy(v2, v3);
        Path piece = root.resolve("piece.bin");
        try (DiskImage img = DiskImage.open(v2, false, tools)) {
            byte[] b = new byte[1 << 20];
            img.read(8 << 20, b, b.length);
            Files.write(piece, b);
        }
        writeRandom(v3, piece, 50 << 20);
        Path d23 = root.resolve("d23.amd");
        create(v2, v3, d23, 2, 3);
        try (Receiver r = receiver(root.resolve("replicas"), standby, Set.of(primary.fingerprint()))) {
            Sender s = sender(primary, Set.of(standby.fingerprint()), local(r.port()), new TokenBucket(() -> 1e12));
            s.ship(entry(d01, 0, 1));
            s.ship(entry(d12, 1, 2));
            ReplicaDisk disk = new ReplicaDisk(root.resolve("replicas"), DOM, "vda", tools, 3);
            long drifted = (8 << 20) + 5 * 4096;
            BitRot.flipByte(disk.image(), drifted + 100);
            Sender.StaleSourcesException e = assertThrows(Sender.StaleSourcesException.class,
                    () -> s.ship(entry(d23, 2, 3)));
            assertEquals(1, e.stale().ranges().size());
            assertArrayEquals(new long[] {drifted, 4096}, e.stale().ranges().get(0));
            assertEquals(2, disk.state().point(), "nothing applied");
            assertEquals(0, disk.state().pending());
            try (var files = Files.list(disk.image().getParent())) {
                assertTrue(files.noneMatch(f -> f.getFileName().toString().endsWith(".amd")), "the refused delta is gone");
            }
            // the primary forgets that block, reads it again and sends it as data with the point
            Path repair = root.resolve("d23-repair.amd");
            Path asItIs = root.resolve("replica-now.qcow2");
            Files.copy(disk.image(), asItIs);
            Exec.run(T, Exec.tool("qemu-img"), "snapshot", "-a", "amirror-2", asItIs.toString()).orThrow();
            create(asItIs, v3, repair, 2, 3);
            assertEquals(3, s.ship(entry(repair, 2, 3)).ack().point());
            assertTrue(sameImage(disk.image(), v3), "the drifted block was repaired and the copy made");
        }
    }

    @Test
    void aPointRedoneByThePrimaryReplacesTheOneThisDiskHadApplied(@TempDir Path root) throws Exception {
        Path other = root.resolve("v2b.qcow2");
        Files.copy(v1, other);
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 9 4M 128k", other.toString()).orThrow();
        Path redo = root.resolve("d12b.amd");
        create(v1, other, redo, 1, 2);
        try (Receiver r = receiver(root, standby, Set.of(primary.fingerprint()))) {
            Sender s = sender(primary, Set.of(standby.fingerprint()), local(r.port()), new TokenBucket(() -> 1e12));
            s.ship(entry(d01, 0, 1));
            s.ship(entry(d12, 1, 2));
            assertEquals(2, s.ship(entry(redo, 1, 2)).ack().point());
        }
        ReplicaDisk disk = new ReplicaDisk(root, DOM, "vda", tools, 3);
        assertTrue(sameImage(disk.image(), other), "point 2 is the redone one");
        assertEquals(List.of(1, 2), disk.points().stream().map(ReplicaDisk.Point::point).toList());
    }

    @Test
    void pinnedPeersShipTwoPointsAndTheReplicaMatches(@TempDir Path root) throws Exception {
        TokenBucket unlimited = new TokenBucket(() -> 1e12);
        try (Receiver r = receiver(root, standby, Set.of(primary.fingerprint()))) {
            Sender s = sender(primary, Set.of(standby.fingerprint()), local(r.port()), unlimited);
            assertEquals(1, s.ship(entry(d01, 0, 1)).ack().point());
            assertEquals(2, s.ship(entry(d12, 1, 2)).ack().point());
        }
        ReplicaDisk disk = new ReplicaDisk(root, DOM, "vda", tools, 3);
        assertTrue(sameImage(disk.image(), v2), "replica equals the primary's image at point 2");
        assertEquals(List.of(1, 2), disk.points().stream().map(ReplicaDisk.Point::point).toList());
        assertEquals(2, disk.state().point());

        // an admin rolls the replica back to point 1: it is v1 again
        disk.rollTo(1);
        assertEquals(1, disk.state().point());
        assertTrue(sameImage(disk.image(), v1), "rolled back to point 1");
        var e = assertThrows(IOException.class, () -> disk.rollTo(7));
        assertTrue(e.getMessage().contains("kept: [1, 2]"), e.getMessage());
    }

    @Test
    void theStandbyListsItsReplicasWithTheirAgeAndFlagsAStaleOne(@TempDir Path state) throws Exception {
        Path root = state.resolve("replicas");
        try (Receiver r = receiver(root, standby, Set.of(primary.fingerprint()))) {
            Sender s = sender(primary, Set.of(standby.fingerprint()), local(r.port()), new TokenBucket(() -> 1e12));
            s.ship(entry(d01, 0, 1));
            s.ship(entry(d12, 1, 2));
        }
        String out = io.amirror.cli.StdoutCapture.of(() -> assertEquals(0, io.amirror.cli.Main.execute("replicas",
                "--state", state.toString(), "--json")));
        var doc = new com.fasterxml.jackson.databind.ObjectMapper().readTree(out);
        assertEquals(List.of(), io.amirror.config.SchemaCheck.named(io.amirror.config.SchemaCheck.REPLICAS)
                .check(doc, "replicas --json"), out);
        var e = doc.path("replicas").get(0);
        assertEquals(DOM.toString(), e.path("uuid").asText());
        assertEquals(2, e.path("point").asInt());
        assertEquals("ok", e.path("health").asText());
        assertEquals("[1,2]", e.path("disks").get(0).path("points").toString());
        assertTrue(e.path("disks").get(0).path("allocatedBytes").asLong() > 9 << 20, "the replica holds 9+ MiB: " + out);
        assertTrue(e.path("ageSeconds").asLong() < 60, out);

        Thread.sleep(2_100); // a primary that went silent: the standby says so itself
        String stale = io.amirror.cli.StdoutCapture.of(() -> assertEquals(5, io.amirror.cli.Main.execute("replicas",
                "--state", state.toString(), "--max-age", "1s")));
        assertTrue(stale.contains("STALE (older than 1s)") && stale.contains(DOM.toString()), stale);
        // a promoted replica takes no more points: it is not stale, it is the domain now
        Files.writeString(root.resolve(DOM.toString()).resolve("promoted.json"),
                "{\"point\": 2, \"at\": \"2026-11-26T04:00:00Z\"}");
        String promoted = io.amirror.cli.StdoutCapture.of(() -> assertEquals(0, io.amirror.cli.Main.execute("replicas",
                "--state", state.toString(), "--max-age", "1s")));
        assertTrue(promoted.contains("PROMOTED at point 2"), promoted);
    }

    @Test
    void retentionKeepsTheNewestPointsOnly(@TempDir Path root) throws Exception {
        try (Receiver r = new Receiver(Tls.listen(Tls.context(standby, Set.of(primary.fingerprint())),
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)), root, tools,
                new ReplicaDisk.Retention(1, Duration.ofDays(1)), d -> {
                }).start()) {
            Sender s = sender(primary, Set.of(standby.fingerprint()), local(r.port()), new TokenBucket(() -> 1e12));
            s.ship(entry(d01, 0, 1));
            s.ship(entry(d12, 1, 2));
        }
        assertEquals(List.of(2), new ReplicaDisk(root, DOM, "vda", tools, 1).points().stream()
                .map(ReplicaDisk.Point::point).toList());
    }

    @Test
    void anUnpinnedPeerIsRefusedOnBothSides(@TempDir Path root) throws Exception {
        try (Receiver r = receiver(root, standby, Set.of(primary.fingerprint()))) {
            Sender intruder = sender(stranger, Set.of(standby.fingerprint()), local(r.port()), new TokenBucket(() -> 1e12));
            // the standby rejects the certificate and hangs up: the intruder sees an alert or a reset
            assertThrows(IOException.class, () -> intruder.ship(entry(d01, 0, 1)));
            // and a primary that pins someone else refuses the standby
            Sender wary = sender(primary, Set.of(stranger.fingerprint()), local(r.port()), new TokenBucket(() -> 1e12));
            SSLException e = assertThrows(SSLException.class, () -> wary.ship(entry(d01, 0, 1)));
            assertTrue(String.valueOf(e.getMessage()).contains("not pinned") || e.getCause() != null, e.toString());
        }
        assertFalse(Files.exists(root.resolve(DOM.toString())), "no byte from the intruder reached the replica store");
    }

    @Test
    void aDeltaThatDoesNotStartAtTheReplicasPointIsRefusedBeforeAnythingIsWritten(@TempDir Path root) throws Exception {
        try (Receiver r = receiver(root, standby, Set.of(primary.fingerprint()))) {
            Sender s = sender(primary, Set.of(standby.fingerprint()), local(r.port()), new TokenBucket(() -> 1e12));
            Sender.RefusedException e = assertThrows(Sender.RefusedException.class, () -> s.ship(entry(d12, 1, 2)));
            assertEquals(WireMessage.Refuse.BASE_MISMATCH, e.refusal().code());
            assertTrue(e.getMessage().contains("at point 0"), e.getMessage());
        }
        assertFalse(Files.exists(new ReplicaDisk(root, DOM, "vda", tools, 3).image()));
    }

    @Test
    void cutsResumeWhereTheyStoppedAndResendAtMostTheBlockInFlight(@TempDir Path root) throws Exception {
        long size = Files.size(d01);
        long maxUnit = DeltaFormat.maxStored(1 << 20) + DeltaFormat.BLOCK_HEADER_SIZE;
        Random rnd = new Random(42);
        for (int trial = 0; trial < TRIALS; trial++) {
            Path trialRoot = root.resolve("t" + trial);
            try (Receiver r = receiver(trialRoot, standby, Set.of(primary.fingerprint()));
                 CuttingProxy link = new CuttingProxy(local(r.port()))) {
                Sender s = sender(primary, Set.of(standby.fingerprint()), link.address(), new TokenBucket(() -> 1e12));
                long cut = 2000 + rnd.nextLong(size);   // somewhere in the handshake or the data
                link.cutNextAfter(cut);
                assertThrows(IOException.class, () -> s.ship(entry(d01, 0, 1)));
                Sender.Shipped done = s.ship(entry(d01, 0, 1));
                assertEquals(1, done.ack().point());
                assertTrue(done.sentBytes() == size - done.resumedAt(), "only the rest is sent");
                assertTrue(cut >= size || done.resumedAt() >= cut - maxUnit - 64 * 1024,
                        "trial " + trial + ": resumed at " + done.resumedAt() + " after a cut at " + cut
                                + ": more than the block in flight was sent again");
            }
            assertTrue(sameImage(new ReplicaDisk(trialRoot, DOM, "vda", tools, 3).image(), v1), "trial " + trial);
        }
    }

    @Test
    void aReOfferAfterALostAckIsAcknowledgedWithoutResending(@TempDir Path root) throws Exception {
        try (Receiver r = receiver(root, standby, Set.of(primary.fingerprint()))) {
            Sender s = sender(primary, Set.of(standby.fingerprint()), local(r.port()), new TokenBucket(() -> 1e12));
            s.ship(entry(d01, 0, 1));
            Sender.Shipped again = s.ship(entry(d01, 0, 1));
            assertEquals(1, again.ack().point());
            assertEquals(0, again.sentBytes(), "nothing sent twice");
            // a different delta claiming the same points (a new chain) is not mistaken for it
            assertThrows(Sender.RefusedException.class, () -> s.ship(entry(d12, 0, 1)));
        }
    }

    @Test
    void badDataIsRefusedAndNothingIsApplied(@TempDir Path root) throws Exception {
        Path corrupt = root.resolve("corrupt.amd");
        byte[] b = Files.readAllBytes(d01);
        b[b.length / 2] ^= 0x10;
        Files.write(corrupt, b);
        Path other = root.resolve("other.amd");
        Files.copy(d01, other);
        try (Receiver r = receiver(root.resolve("replicas"), standby, Set.of(primary.fingerprint()))) {
            Sender s = sender(primary, Set.of(standby.fingerprint()), local(r.port()), new TokenBucket(() -> 1e12));
            var bad = assertThrows(Sender.RefusedException.class, () -> s.ship(entry(corrupt, 0, 1)));
            assertEquals(WireMessage.Refuse.BAD_DELTA, bad.refusal().code());
            // a valid delta offered as another domain's
            UUID elsewhere = UUID.randomUUID();
            var foreign = assertThrows(Sender.RefusedException.class, () -> s.ship(
                    new Spool.Entry(elsewhere, "vda", 0, 1, other, Files.size(other))));
            assertTrue(foreign.getMessage().contains("not what was offered"), foreign.getMessage());
            // an absurd size is refused before a byte is written
            var huge = assertThrows(Sender.RefusedException.class, () -> s.ship(
                    new Spool.Entry(DOM, "vda", 0, 1, d01, Long.MAX_VALUE / 2)));
            assertEquals(WireMessage.Refuse.NO_SPACE, huge.refusal().code());
        }
        ReplicaDisk disk = new ReplicaDisk(root.resolve("replicas"), DOM, "vda", tools, 3);
        assertEquals(0, disk.state().point());
        assertFalse(Files.exists(disk.image()), "no replica was created from bad data");
    }

    @Test
    void aStalledDomainDoesNotHoldUpAnotherOnTheSharedLink(@TempDir Path root) throws Exception {
        TokenBucket shared = new TokenBucket(() -> 16e6 / 8);
        try (Receiver r = receiver(root, standby, Set.of(primary.fingerprint()));
             CuttingProxy stalled = new CuttingProxy(local(r.port()))) {
            stalled.stallNextAfter(256 * 1024); // handshake and offer pass, then the data stalls mid-transfer
            Sender viaStall = sender(primary, Set.of(standby.fingerprint()), stalled.address(), shared);
            Thread stuck = new Thread(() -> {
                try {
                    viaStall.ship(entry(d01, 0, 1));
                } catch (IOException expected) {
                    // it times out eventually; that is the point
                }
            });
            stuck.setDaemon(true);
            stuck.start();
            Thread.sleep(500);
            Path d2 = root.resolve("second.amd");
            Files.copy(d01, d2);
            UUID other = UUID.fromString("11111111-2222-4333-8444-555555555555");
            try (DiskImage a = DiskImage.open(emptyImage(), false, tools); DiskImage b = DiskImage.open(v1, false, tools)) {
                DeltaFiles.create(a, b, d2, new DeltaFiles.CreateOptions(other, "vda", 0, 1,
                        new XzBlockCodec.Preset(1, false), 0, 2, 1 << 20));
            }
            long t0 = System.nanoTime();
            Sender direct = sender(primary, Set.of(standby.fingerprint()), local(r.port()), shared);
            Sender.Shipped done = direct.ship(new Spool.Entry(other, "vda", 0, 1, d2, Files.size(d2)));
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertEquals(1, done.ack().point());
            // the stalled connection takes tokens only until its small send buffer is full
            assertTrue(done.goodputBytesPerSecond() > 0.85 * 16e6 / 8,
                    "the other domain got the link: " + done.goodputBytesPerSecond() * 8 / 1e6 + " Mbit/s in " + seconds + " s");
        }
    }

    private static Path emptyImage() {
        return shared.resolve("v0.qcow2");
    }

    @Test
    void aLongRoundTripCostsRoundTripsNotThroughput(@TempDir Path root) throws Exception {
        double rate = 8e6 / 8;
        TokenBucket link = new TokenBucket(() -> rate);
        try (Receiver r = receiver(root, standby, Set.of(primary.fingerprint()));
             CuttingProxy far = new CuttingProxy(local(r.port()))) {
            far.delay(Duration.ofMillis(40)); // 80 ms round trip, like a link across the country
            long t0 = System.nanoTime();
            sender(primary, Set.of(standby.fingerprint()), far.address(), link).ship(entry(d01, 0, 1));
            double seconds = (System.nanoTime() - t0) / 1e9;
            double ideal = Files.size(d01) / rate;
            System.out.printf("6.3 MB at 8 Mbit/s over an 80 ms round trip: %.2f s to the ACK (%.2f s of pure transfer)%n",
                    seconds, ideal);
            // the protocol streams: no round trip per chunk, so the delay adds a few RTTs, not a factor
            assertTrue(seconds < ideal * 1.15 + 3, seconds + " s against " + ideal + " s of transfer");
        }
        assertTrue(sameImage(new ReplicaDisk(root, DOM, "vda", tools, 3).image(), v1));
    }

    @Test
    void anOptionalCaAdmitsTheHostsItSigned(@TempDir Path root) throws Exception {
        String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
        Path ca = root.resolve("ca.p12");
        Path signed = root.resolve("signed");
        Files.createDirectories(signed);
        Path host = Identity.keyStoreFile(signed);
        String pw = "changeit-test";
        Files.writeString(signed.resolve("identity.pass"), pw);
        java.util.function.Consumer<String[]> kt = args -> {
            List<String> cmd = new java.util.ArrayList<>(List.of(keytool));
            cmd.addAll(List.of(args));
            Exec.run(cmd, root, java.util.Map.of(), T).orThrow();
        };
        kt.accept(new String[] {"-genkeypair", "-alias", "ca", "-keyalg", "EC", "-dname", "CN=office CA", "-ext", "bc:c",
            "-storetype", "PKCS12", "-keystore", ca.toString(), "-storepass", pw});
        kt.accept(new String[] {"-exportcert", "-rfc", "-alias", "ca", "-keystore", ca.toString(), "-storepass", pw,
            "-file", root.resolve("ca.pem").toString()});
        kt.accept(new String[] {"-genkeypair", "-alias", "amirror", "-keyalg", "EC", "-dname", "CN=primary2",
            "-storetype", "PKCS12", "-keystore", host.toString(), "-storepass", pw});
        kt.accept(new String[] {"-certreq", "-alias", "amirror", "-keystore", host.toString(), "-storepass", pw,
            "-file", root.resolve("host.csr").toString()});
        kt.accept(new String[] {"-gencert", "-alias", "ca", "-keystore", ca.toString(), "-storepass", pw, "-rfc",
            "-infile", root.resolve("host.csr").toString(), "-outfile", root.resolve("host.pem").toString()});
        kt.accept(new String[] {"-importcert", "-noprompt", "-alias", "ca", "-keystore", host.toString(), "-storepass", pw,
            "-file", root.resolve("ca.pem").toString()});
        kt.accept(new String[] {"-importcert", "-alias", "amirror", "-keystore", host.toString(), "-storepass", pw,
            "-file", root.resolve("host.pem").toString()});
        Identity signedPrimary = Identity.load(signed);

        SSLContext standbyCtx = Tls.context(standby, Set.of(), root.resolve("ca.pem"));
        try (Receiver r = new Receiver(Tls.listen(standbyCtx, new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)),
                root.resolve("replicas"), tools, 3).start()) {
            Sender ok = new Sender(Tls.context(signedPrimary, Set.of(standby.fingerprint())), local(r.port()),
                    new TokenBucket(() -> 1e12), 30_000);
            assertEquals(1, ok.ship(entry(d01, 0, 1)).ack().point(), "a host the CA signed is admitted unpinned");
            Sender unsigned = sender(primary, Set.of(standby.fingerprint()), local(r.port()), new TokenBucket(() -> 1e12));
            assertThrows(IOException.class, () -> unsigned.ship(entry(d12, 1, 2)), "neither pinned nor signed");
        }
    }

    @Test
    void twoDomainsShareTheLinkFairly(@TempDir Path root) throws Exception {
        TokenBucket link = new TokenBucket(() -> 16e6 / 8);
        UUID other = UUID.fromString("22222222-3333-4444-8555-666666666666");
        Path d2 = root.resolve("other.amd");
        try (DiskImage a = DiskImage.open(emptyImage(), false, tools); DiskImage b = DiskImage.open(v1, false, tools)) {
            DeltaFiles.create(a, b, d2, new DeltaFiles.CreateOptions(other, "vda", 0, 1, new XzBlockCodec.Preset(1, false),
                    0, 2, 1 << 20));
        }
        try (Receiver r = receiver(root.resolve("replicas"), standby, Set.of(primary.fingerprint()))) {
            Sender s = sender(primary, Set.of(standby.fingerprint()), local(r.port()), link);
            var f1 = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    return s.ship(entry(d01, 0, 1));
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
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
    void anApplyInterruptedByACrashIsFinishedOnStart(@TempDir Path root) throws Exception {
        try (Receiver r = receiver(root, standby, Set.of(primary.fingerprint()))) {
            sender(primary, Set.of(standby.fingerprint()), local(r.port()), new TokenBucket(() -> 1e12))
                    .ship(entry(d01, 0, 1));
        }
        ReplicaDisk disk = new ReplicaDisk(root, DOM, "vda", tools, 3);
        // the crash: journal says "pending 2", half of the delta's frames reached the image
        Path dir = disk.image().getParent();
        Path pending = dir.resolve("delta-1-2.amd");
        Files.copy(d12, pending);
        Files.writeString(dir.resolve("state.json"), "{\"point\":1,\"pending\":2,\"pendingDelta\":\"" + pending
                + "\",\"virtualSize\":67108864,\"appliedSha256\":null,\"pendingSha256\":\"ab\"}");
        int[] n = {0};
        try (DiskImage img = DiskImage.open(disk.image(), true, tools);
             var in = Files.newInputStream(d12)) {
            io.amirror.delta.DeltaReader.read(in, f -> {
                if (n[0]++ % 2 == 0 && f instanceof io.amirror.delta.Frame.Data d) {
                    img.write(d.offset(), d.payload(), 0, d.payload().length);
                }
            });
        }
        assertFalse(sameImage(disk.image(), v2));
        disk.recover();
        assertEquals(2, disk.state().point());
        assertEquals(0, disk.state().pending());
        assertTrue(sameImage(disk.image(), v2), "re-applying finished the interrupted apply");
        // applying twice more (another crash right after) changes nothing either
        assertEquals(List.of(1, 2), disk.points().stream().map(ReplicaDisk.Point::point).toList());
    }

    @Test
    void theTokenBucketHoldsTheLinkToItsRate(@TempDir Path root) throws Exception {
        double rate = 8e6 / 8; // 8 Mbit/s: a few seconds for the 6 MB delta
        TokenBucket bucket = new TokenBucket(() -> rate);
        Sender.Shipped shipped;
        try (Receiver r = receiver(root, standby, Set.of(primary.fingerprint()))) {
            shipped = sender(primary, Set.of(standby.fingerprint()), local(r.port()), bucket).ship(entry(d01, 0, 1));
        }
        double achieved = shipped.goodputBytesPerSecond();
        System.out.printf("token bucket: %d bytes on the wire (TLS included) in %.2f s of data phase = %.3f Mbit/s,"
                + " limit 8 Mbit/s%n", shipped.wireBytes(), shipped.dataSeconds(), achieved * 8 / 1e6);
        assertTrue(shipped.wireBytes() > shipped.sentBytes(), "TLS and framing are counted too");
        assertTrue(achieved <= rate * 1.05, "never above the limit: " + achieved);
        assertTrue(achieved >= rate * 0.95, "at least 95 % of the limit while sending: " + achieved);
    }
}
