package io.amirror.standby;

import io.amirror.config.Policy;
import io.amirror.config.StandbyConfig;
import io.amirror.primary.DomainStatus;
import io.amirror.primary.Replication;
import io.amirror.primary.ReplicationCycle;
import io.amirror.primary.StandbyLink;
import io.amirror.spool.Spool;
import io.amirror.spool.SpoolFullException;
import io.amirror.transport.Identity;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A first copy larger than the whole spool: the cycle ends with what gets past it (raise the limit,
 * or seed), leaves no partial behind, and a spool large enough then takes it. Real TLS to a real
 * standby on loopback.
 */
@Tag("real")
class FirstPointSpoolTest {
    static final UUID GUEST = UUID.fromString("3d6a4adc-4bc2-43f4-aa50-2238f5e5c649");
    static LoopbackStandby f;

    @BeforeAll
    static void fixture() throws IOException {
        f = LoopbackStandby.get();
    }

    @Test
    void aFirstPointLargerThanTheSpoolSaysWhatGetsPastItAndLeavesNothing(@TempDir Path dir) throws Exception {
        Path primaryState = dir.resolve("primary");
        Identity primary = Identity.loadOrCreate(primaryState, "primary");
        Identity standby = Identity.loadOrCreate(dir.resolve("standby"), "standby");
        StandbyConfig config = LoopbackStandby.trusting(dir.resolve("standby"), primary, false);
        MemoryGuest source = new MemoryGuest(GUEST, StateModesOnBothSidesTest.domainXml(GUEST)).add("vda", 4 << 20);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (StandbyService s = StandbyService.start(config, standby, f.tools)) {
            Policy policy = LoopbackStandby.officePolicy(s, standby);
            StandbyLink link = new StandbyLink(primary, policy.standby(), null, Duration.ofSeconds(30));
            // 2 MiB of random data, a 256 KiB spool
            Spool small = new Spool(primaryState.resolve("spool"), 256 << 10);
            Replication tooSmall = new Replication(source, primaryState, small, pool, 2);
            var e = assertThrows(SpoolFullException.FirstPointTooLarge.class,
                    () -> new ReplicationCycle(tooSmall, policy, link, small, new DomainStatus("files")).run());
            assertTrue(e.getMessage().contains("spoolLimit") && e.getMessage().contains("seed"), e.getMessage());
            try (var files = Files.walk(primaryState.resolve("spool"))) {
                assertFalse(files.anyMatch(Files::isRegularFile), "no partial is left in the spool");
            }
            // the admin raised the limit: the first point goes
            Spool big = new Spool(primaryState.resolve("spool"), 1L << 30);
            Replication enough = new Replication(source, primaryState, big, pool, 2);
            assertEquals(1, new ReplicationCycle(enough, policy, link, big, new DomainStatus("files")).run().newPoint());
        } finally {
            pool.shutdownNow();
        }
    }
}
