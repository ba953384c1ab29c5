package io.amirror.standby;

import io.amirror.capture.CaptureResult;
import io.amirror.capture.CaptureSink;
import io.amirror.config.Policy;
import io.amirror.config.PolicyLoader;
import io.amirror.config.StandbyConfig;
import io.amirror.image.DiskImage;
import io.amirror.libvirt.DiskInfo;
import io.amirror.primary.DomainStatus;
import io.amirror.primary.PointSource;
import io.amirror.primary.Replication;
import io.amirror.primary.ReplicationCycle;
import io.amirror.primary.StandbyLink;
import io.amirror.spool.Spool;
import io.amirror.transport.Identity;
import io.amirror.transport.ReplicaManifest;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static io.amirror.standby.LoopbackStandby.local;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A disk added to a domain between two points: the primary sends it whole from point 0 in the
 * point it joins, the other disks go on from their base, and the standby holds all of them at that
 * point. Real TLS to a real standby on loopback, real qcow2 replicas.
 */
@Tag("real")
class AddedDiskTest {
    static final UUID GUEST = UUID.fromString("4e7b5bed-5cd3-44a5-bb61-3349a6f6d75a");
    static LoopbackStandby f;

    @BeforeAll
    static void fixture() throws IOException {
        f = LoopbackStandby.get();
    }

    @Test
    void aDiskAddedBetweenTwoPointsArrivesWholeInThePointItJoins(@TempDir Path dir) throws Exception {
        Path primaryState = dir.resolve("primary");
        Identity primary = Identity.loadOrCreate(primaryState, "primary");
        Identity standby = Identity.loadOrCreate(dir.resolve("standby"), "standby");
        StandbyConfig config = new StandbyConfig(dir.resolve("standby"), local(0), "127.0.0.1:0",
                List.of(primary.fingerprint()), null, "test:///default", false, "", null, 3, 36500,
                StandbyConfig.ReplicaLimits.NONE);
        Disks source = new Disks();
        source.add("vda", 2 << 20);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (StandbyService s = StandbyService.start(config, standby, f.tools)) {
            Policy policy = PolicyLoader.parse(("{\"name\": \"office\", \"domains\": {\"names\": [\"files\"]}, \"standby\": "
                    + "{\"address\": \"127.0.0.1:" + s.port() + "\", \"fingerprint\": \"" + standby.fingerprint() + "\"}, "
                    + "\"rpo\": {\"interval\": \"1h\"}, \"compression\": \"1\"}").getBytes(StandardCharsets.UTF_8), "office.json");
            Spool spool = new Spool(primaryState.resolve("spool"), 1L << 30);
            StandbyLink link = new StandbyLink(primary, policy.standby(), null, Duration.ofSeconds(30));
            Replication replication = new Replication(source, primaryState, spool, pool, 2);
            assertEquals(1, new ReplicationCycle(replication, policy, link, spool, new DomainStatus("files")).run().newPoint());
            source.add("vdb", 1 << 20); // attached on the primary
            source.write("vda", 4096, 8192);
            ReplicationCycle.Outcome second = new ReplicationCycle(replication, policy, link, spool,
                    new DomainStatus("files")).run();
            assertEquals(2, second.newPoint());
        } finally {
            pool.shutdownNow();
        }
        ReplicaDomain rd = new ReplicaDomain(LoopbackStandby.replicas(dir.resolve("standby")), GUEST, f.tools);
        assertEquals(List.of("vda", "vdb"), rd.diskNames());
        for (String disk : List.of("vda", "vdb")) {
            ReplicaDisk d = rd.disk(disk);
            assertEquals(2, d.state().point(), disk);
            byte[] expected = source.disks.get(disk);
            byte[] got = new byte[expected.length];
            try (DiskImage img = DiskImage.open(d.image(), false, f.tools)) {
                img.read(0, got, got.length);
            }
            assertArrayEquals(expected, got, disk + " equals the primary's");
        }
        assertEquals(2, Promotion.prepare(rd, "files").point(), "a failover starts with both disks at point 2");
    }

    /** A guest of byte-array disks, to which one can be added; every cut sends every disk whole. */
    static final class Disks implements PointSource {
        final Map<String, byte[]> disks = new LinkedHashMap<>();
        private final Random random = new Random(21);
        private int retired;
        private int cut;

        void add(String name, int size) {
            disks.put(name, new byte[size]);
            write(name, 0, size / 2);
        }

        void write(String disk, int offset, int length) {
            byte[] b = new byte[length];
            random.nextBytes(b);
            System.arraycopy(b, 0, disks.get(disk), offset, length);
        }

        @Override
        public UUID uuid() {
            return GUEST;
        }

        @Override
        public String name() {
            return "files";
        }

        @Override
        public List<Disk> disks() {
            List<Disk> out = new ArrayList<>();
            disks.forEach((n, b) -> out.add(new Disk(n, b.length)));
            return out;
        }

        @Override
        public boolean tracks(int point) {
            return true;
        }

        @Override
        public int nextPoint(int acknowledged) {
            return Math.max(acknowledged, cut) + 1;
        }

        @Override
        public CaptureResult cut(int since, int newPoint, CaptureSink sink, boolean quiesce, Map<String, List<long[]>> alsoRead)
                throws IOException {
            List<CaptureResult.DiskStats> stats = new ArrayList<>();
            for (var e : disks.entrySet()) {
                sink.beginDisk(new DiskInfo(e.getKey(), null, "raw", false, "disk"), e.getValue().length);
                sink.data(0, e.getValue().clone());
                sink.endDisk();
                stats.add(new CaptureResult.DiskStats(e.getKey(), e.getValue().length, e.getValue().length, 1, 0, 0));
            }
            cut = newPoint;
            return new CaptureResult("files", since, newPoint, false, stats, CaptureResult.Consistency.CRASH);
        }

        @Override
        public void discardNewerThan(int acknowledged) {
        }

        @Override
        public void abandon(int point) {
        }

        @Override
        public void retire(int point) {
            retired = point;
        }

        @Override
        public int retiredTo() {
            return retired;
        }

        @Override
        public void reset() {
        }

        @Override
        public ReplicaManifest manifest(int point, Policy policy) {
            return new ReplicaManifest(GUEST, "files", point, "<domain type='qemu'><name>files</name><uuid>" + GUEST
                    + "</uuid></domain>", Map.of(), Map.of(), 3, 86400, null);
        }
    }
}
