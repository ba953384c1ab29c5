package io.amirror.standby;

import io.amirror.config.Policy;
import io.amirror.config.PolicyLoader;
import io.amirror.config.StandbyConfig;
import io.amirror.primary.DomainStatus;
import io.amirror.primary.Replication;
import io.amirror.primary.ReplicationCycle;
import io.amirror.primary.StandbyLink;
import io.amirror.spool.Spool;
import io.amirror.state.SwitchoverLayout;
import io.amirror.transport.Identity;
import io.amirror.transport.Peer;
import io.amirror.transport.Sender;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.transport.WireMessage.Switched;
import io.amirror.transport.WireMessage.Switchover;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Connect;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The standby's side of a switchover, against a real standby on loopback that defines replicas in
 * libvirt's test driver: refused unless the configuration allows it, or when the replica is not at
 * exactly the point named; a dry run names the replica domain and changes nothing; a switchover
 * promotes and starts the replica, writes the way back (a policy this amirror loads, pinned to the
 * primary that asked, with the standby's own key), and from then on the primary's deltas are refused.
 */
@Tag("real") // real qemu-img, libvirt's test driver, real sockets
class SwitchoverAnswerTest {
    static final UUID GUEST = UUID.fromString("8d7a5c11-2f4e-4c3b-9a61-5f0e2b7c4d90");
    static LoopbackStandby f;

    @BeforeAll
    static void fixture() throws IOException {
        f = LoopbackStandby.get();
    }

    private static StandbyConfig allowing(StandbyConfig c, boolean allow) {
        return new StandbyConfig(c.stateDir(), c.listen(), c.listenText(), c.peers(), c.ca(), c.libvirtUri(),
                c.defineReplicas(), c.replicaSuffix(), c.socketDir(), c.keep(), c.keepDays(), c.replicaLimits(),
                c.tenants(), c.immutableDays(), c.maxDiskBytes(), c.drills(), allow, null);
    }

    /** Two points of a 4 MiB guest replicated to {@code s}; returns the policy's standby link. */
    private static StandbyLink twoPoints(StandbyService s, Path primaryState, Identity primary, MemoryGuest guest,
                                         ExecutorService pool) throws Exception {
        Policy policy = LoopbackStandby.officePolicy(s, f.standby);
        Spool spool = new Spool(primaryState.resolve("spool"), 1L << 30);
        StandbyLink link = new StandbyLink(primary, policy.standby(), null, Duration.ofSeconds(30));
        Replication replication = new Replication(guest, primaryState, spool, pool, 2);
        assertEquals(1, new ReplicationCycle(replication, policy, link, spool, new DomainStatus("files")).run().newPoint());
        guest.write("vda", 1 << 20, 256 << 10);
        assertEquals(2, new ReplicationCycle(replication, policy, link, spool, new DomainStatus("files")).run().newPoint());
        return link;
    }

    @Test
    void aStandbyThatDoesNotAllowItRefusesEvenADryRun(@TempDir Path dir) throws Exception {
        Identity primary = Identity.loadOrCreate(dir.resolve("primary"), "primary");
        ExecutorService pool = Executors.newFixedThreadPool(2);
        StandbyConfig config = allowing(LoopbackStandby.trusting(dir.resolve("standby"), primary, true), false);
        try (StandbyService s = StandbyService.start(config, f.standby, f.tools)) {
            StandbyLink link = twoPoints(s, dir.resolve("primary"), primary,
                    new MemoryGuest(GUEST, StateModesOnBothSidesTest.domainXml(GUEST)).add("vda", 4 << 20), pool);
            Sender.RefusedException e = assertThrows(Sender.RefusedException.class, () -> link.sender().switchover(
                    new Switchover(GUEST, 2, true, ":10811", 3600), Duration.ofSeconds(30)));
            assertEquals(Refuse.NO_SWITCHOVER, e.refusal().code());
            assertTrue(e.getMessage().contains("\"switchover\": {\"allow\": true}"), e.getMessage());
        } finally {
            pool.shutdownNow();
        }
        assertFalse(Files.exists(SwitchoverLayout.of(dir.resolve("standby")).reverseState()));
    }

    @Test
    void aSwitchoverStartsTheReplicaAtTheFinalPointAndSetsUpTheWayBack(@TempDir Path dir) throws Exception {
        Path primaryState = dir.resolve("primary");
        Path standbyState = dir.resolve("standby");
        Identity primary = Identity.loadOrCreate(primaryState, "primary");
        Identity.loadOrCreate(standbyState, "standby");
        // the standby's daemon key is the fixture's; its state directory's copy is what the way back presents
        Files.copy(f.shared.resolve("standby").resolve("identity.p12"), standbyState.resolve("identity.p12"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.copy(f.shared.resolve("standby").resolve("identity.pass"), standbyState.resolve("identity.pass"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        StandbyConfig config = allowing(LoopbackStandby.trusting(standbyState, primary, true), true);
        ReplicaDomain rd = new ReplicaDomain(LoopbackStandby.replicas(standbyState), GUEST, f.tools);
        SwitchoverLayout layout = SwitchoverLayout.of(standbyState);
        // libvirt's test driver keeps its domains while a connection is open: this one spans the test
        Connect c = new Connect("test:///default");
        try (StandbyService s = StandbyService.start(config, f.standby, f.tools)) {
            MemoryGuest guest = new MemoryGuest(GUEST, StateModesOnBothSidesTest.domainXml(GUEST)).add("vda", 4 << 20);
            StandbyLink link = twoPoints(s, primaryState, primary, guest, pool);
            Sender sender = link.sender();
            awaitDefined(rd);

            // a dry run names the replica domain and changes nothing
            Switched dry = sender.switchover(new Switchover(GUEST, 2, true, ":10811", 600), Duration.ofSeconds(30));
            assertEquals("files", dry.name());
            assertEquals(GUEST, dry.uuid(), "no suffix: the replica keeps the primary's name and UUID");
            assertTrue(rd.promoted().isEmpty());
            assertFalse(Files.exists(layout.reverseState()));

            // not the replica's point: a switchover moves the domain only at its last point
            Sender.RefusedException early = assertThrows(Sender.RefusedException.class, () -> sender.switchover(
                    new Switchover(GUEST, 3, false, ":10811", 600), Duration.ofSeconds(30)));
            assertEquals(Refuse.NO_SWITCHOVER, early.refusal().code());
            assertTrue(early.getMessage().contains("at point 2, not at point 3"), early.getMessage());
            assertTrue(rd.promoted().isEmpty());
            assertFalse(Files.exists(layout.reverseState()));

            // a back address that is not HOST:PORT, or a failover point chosen by hand: refused, nothing changes
            Sender.RefusedException badBack = assertThrows(Sender.RefusedException.class, () -> sender.switchover(
                    new Switchover(GUEST, 2, true, "no-port-here", 600), Duration.ofSeconds(30)));
            assertTrue(badBack.getMessage().contains("not HOST:PORT"), badBack.getMessage());
            rd.requestFailoverPoint(1);
            Sender.RefusedException chosen = assertThrows(Sender.RefusedException.class, () -> sender.switchover(
                    new Switchover(GUEST, 2, false, ":10811", 600), Duration.ofSeconds(30)));
            assertTrue(chosen.getMessage().contains("a failover to point 1 was chosen"), chosen.getMessage());
            assertTrue(rd.promoted().isEmpty());
            assertFalse(Files.exists(layout.reverseState()));
            rd.clearFailoverPoint();

            Switched done = sender.switchover(new Switchover(GUEST, 2, false, ":10811", 600), Duration.ofSeconds(60));
            assertEquals(2, done.point());
            assertEquals(2, rd.promoted().orElseThrow().point());
            assertEquals(1, c.domainLookupByUUIDString(GUEST.toString()).isActive(), "the replica domain runs");

            // the way back: a policy amirror loads, aimed at the address the primary came from, pinned to its key
            Path file = layout.reversePolicy(GUEST);
            Policy back = PolicyLoader.parse(Files.readAllBytes(file), file.toString());
            assertEquals(List.of("files"), back.domains().names());
            assertEquals("switchover-" + GUEST, back.name());
            assertEquals("127.0.0.1:10811", back.standby().address());
            assertEquals(primary.fingerprint(), back.standby().fingerprint());
            assertEquals(Duration.ofMinutes(10), back.rpo().interval());
            assertEquals(f.standby.fingerprint(), Identity.load(layout.reverseState()).fingerprint(),
                    "the way back presents the standby's key, which the primary pins already");
            for (Path p : List.of(file, layout.reverseState().resolve("identity.pass"),
                    Identity.keyStoreFile(layout.reverseState()))) {
                assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(p)), p.toString());
            }

            // asked again: the replica is the domain now, and takes nothing more from the primary
            byte[] imageBefore = Files.readAllBytes(rd.disk("vda").image());
            Sender.RefusedException again = assertThrows(Sender.RefusedException.class, () -> sender.switchover(
                    new Switchover(GUEST, 2, false, ":10811", 600), Duration.ofSeconds(30)));
            assertEquals(Refuse.PROMOTED, again.refusal().code());
            assertArrayEquals(imageBefore, Files.readAllBytes(rd.disk("vda").image()));
        } finally {
            pool.shutdownNow();
            try {
                c.domainLookupByUUIDString(GUEST.toString()).destroy();
            } catch (org.libvirt.LibvirtException notRunning) {
                // the test failed before the start
            }
            c.close();
        }
    }

    @Test
    void theBackAddressDefaultsToWhereTheConnectionCameFrom() {
        Peer v4 = new Peer("sha256:00", "CN=p", "/192.0.2.7:51234");
        assertEquals("192.0.2.7:10811", SwitchoverAnswer.backAddress(":10811", v4));
        Peer named = new Peer("sha256:00", "CN=p", "office.example/192.0.2.7:51234");
        assertEquals("192.0.2.7:10811", SwitchoverAnswer.backAddress(":10811", named));
        Peer v6 = new Peer("sha256:00", "CN=p", "/0:0:0:0:0:0:0:1:51234");
        assertEquals("[0:0:0:0:0:0:0:1]:10811", SwitchoverAnswer.backAddress(":10811", v6));
        assertEquals("back.example:9000", SwitchoverAnswer.backAddress("back.example:9000", v4));
    }

    private static void awaitDefined(ReplicaDomain rd) throws Exception {
        for (int i = 0; i < 100 && rd.definedName().isEmpty(); i++) {
            Thread.sleep(100);
        }
        assertTrue(rd.definedName().isPresent(), "the standby defined the replica domain");
    }
}
