package io.amirror.standby;

import io.amirror.config.Policy;
import io.amirror.config.StandbyConfig;
import io.amirror.image.DiskImage;
import io.amirror.primary.DomainStatus;
import io.amirror.primary.Replication;
import io.amirror.primary.ReplicationCycle;
import io.amirror.primary.StandbyLink;
import io.amirror.spool.Spool;
import io.amirror.transport.Identity;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

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
        StandbyConfig config = LoopbackStandby.trusting(dir.resolve("standby"), primary, false);
        MemoryGuest source = new MemoryGuest(GUEST, StateModesOnBothSidesTest.domainXml(GUEST)).add("vda", 2 << 20);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (StandbyService s = StandbyService.start(config, standby, f.tools)) {
            Policy policy = LoopbackStandby.officePolicy(s, standby);
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
}
