package io.amirror.standby;

import io.amirror.config.Policy;
import io.amirror.config.StandbyConfig;
import io.amirror.image.DeviceState;
import io.amirror.image.StateArchive;
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
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A guest's NVRAM and TPM state travel with its points as pseudo-disks: the standby writes them
 * where its libvirt reads them for the replica, the refinement sends only what changed, and a
 * start at a kept point gets that point's firmware state, not the newest. Real TLS to a real
 * standby on loopback, real qcow2 replicas.
 */
@Tag("real")
class DeviceStateTravelTest {
    static final UUID GUEST = UUID.fromString("6a0f8b52-93a5-4f7e-9d1e-0c7d2b4a1e11");
    static final int NVRAM_SIZE = 540_672; // OVMF_VARS_4M.fd
    static LoopbackStandby f;

    @BeforeAll
    static void fixture() throws IOException {
        f = LoopbackStandby.get();
    }

    @Test
    void nvramAndTpmStateTravelWithEachPointAndAStartGetsItsPointsState(@TempDir Path dir) throws Exception {
        Path primaryState = dir.resolve("primary");
        Identity primary = Identity.loadOrCreate(primaryState, "primary");
        Identity standby = Identity.loadOrCreate(dir.resolve("standby"), "standby");
        StandbyConfig config = LoopbackStandby.trusting(dir.resolve("standby"), primary, false);
        MemoryGuest source = new MemoryGuest(GUEST, StateModesOnBothSidesTest.domainXml(GUEST))
                .add("vda", 2 << 20).add(DeviceState.NVRAM, NVRAM_SIZE);
        byte[] bootEntries = "Boot0001 debian \\EFI\\debian\\shimx64.efi".getBytes(StandardCharsets.UTF_8);
        System.arraycopy(bootEntries, 0, source.disks.get(DeviceState.NVRAM), 0x10000, bootEntries.length);
        byte[] tpm1 = StateArchive.encode(List.of(new StateArchive.Entry("tpm2/tpm2-00.permall", "sealed keys 1".getBytes(StandardCharsets.UTF_8))));
        source.disks.put(DeviceState.TPM, tpm1.clone());
        byte[] nvram1 = source.disks.get(DeviceState.NVRAM).clone();
        ExecutorService pool = Executors.newFixedThreadPool(2);
        long secondDelta;
        try (StandbyService s = StandbyService.start(config, standby, f.tools)) {
            Policy policy = LoopbackStandby.officePolicy(s, standby);
            Spool spool = new Spool(primaryState.resolve("spool"), 1L << 30);
            StandbyLink link = new StandbyLink(primary, policy.standby(), null, Duration.ofSeconds(30));
            Replication replication = new Replication(source, primaryState, spool, pool, 2);
            assertEquals(1, new ReplicationCycle(replication, policy, link, spool, new DomainStatus("files")).run().newPoint());
            // the guest's firmware gets a new boot entry (efibootmgr), its TPM seals another key
            byte[] more = "Boot0002 windows".getBytes(StandardCharsets.UTF_8);
            System.arraycopy(more, 0, source.disks.get(DeviceState.NVRAM), 0x41000, more.length);
            source.disks.put(DeviceState.TPM, StateArchive.encode(List.of(new StateArchive.Entry("tpm2/tpm2-00.permall",
                    "sealed keys 2".getBytes(StandardCharsets.UTF_8)))));
            ReplicationCycle.Outcome second = new ReplicationCycle(replication, policy, link, spool, new DomainStatus("files")).run();
            assertEquals(2, second.newPoint());
            secondDelta = second.deltaBytes();
        } finally {
            pool.shutdownNow();
        }
        // MemoryGuest sends every disk whole; the refinement leaves the vda unchanged, and two changed blocks
        assertTrue(secondDelta < 64 * 1024, "point 2 carried " + secondDelta + " bytes for two changed 4 KiB blocks");

        ReplicaDomain rd = new ReplicaDomain(LoopbackStandby.replicas(dir.resolve("standby")), GUEST, f.tools);
        assertEquals(List.of(DeviceState.NVRAM, DeviceState.TPM, "vda"), rd.diskNames());
        Path nvram = rd.files().nvram();
        assertArrayEquals(source.disks.get(DeviceState.NVRAM), Files.readAllBytes(nvram), "the replica's NVRAM is point 2's");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(nvram)));

        // the TPM goes to the swtpm directory of the replica domain's UUID, once it is defined with a TPM
        Path swtpm = dir.resolve("swtpm");
        UUID replicaUuid = UUID.fromString("11111111-2222-4333-8444-555555555555");
        assertFalse(ReplicaDeviceState.writeOut(rd, swtpm).tpm().isPresent(), "not defined yet: no directory is chosen");
        rd.recordDefined("files-replica", "<domain><name>files-replica</name><uuid>" + replicaUuid + "</uuid><devices>"
                + "<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm></devices></domain>");
        assertEquals(swtpm.resolve(replicaUuid.toString()), ReplicaDeviceState.writeOut(rd, swtpm).tpm().orElseThrow());
        assertEquals("sealed keys 2", Files.readString(swtpm.resolve(replicaUuid + "/tpm2/tpm2-00.permall")));
        assertFalse(ReplicaDeviceState.writeOut(rd, swtpm).tpm().isPresent(), "unchanged: not written again");

        // a start at point 1 rolls the pseudo-disks with the disks and writes point 1's NVRAM out (the
        // definition without its TPM meanwhile, so the start writes nothing under the host's own swtpm directory)
        String withTpm = rd.definedXml().orElseThrow();
        rd.recordDefined("files-replica", "<domain><name>files-replica</name><uuid>" + replicaUuid + "</uuid></domain>");
        // the admin names the replica domain, as libvirt lists it, to choose the point
        assertEquals(0, io.amirror.cli.Main.execute("failover", "--state", dir.resolve("standby").toString(),
                "--point", "1", "--no-start", "files-replica"));
        assertEquals(1, rd.failoverPoint().orElseThrow());
        Promotion.Outcome start = Promotion.prepare(rd, "files");
        assertEquals(1, start.point());
        assertArrayEquals(nvram1, Files.readAllBytes(nvram), "the NVRAM of point 1, as the guest had it then");
        assertTrue(start.steps().stream().anyMatch(x -> x.contains("NVRAM")), start.steps().toString());
        rd.recordDefined("files-replica", withTpm);
        ReplicaDeviceState.writeOut(rd, swtpm);
        assertEquals("sealed keys 1", Files.readString(swtpm.resolve(replicaUuid + "/tpm2/tpm2-00.permall")));
    }
}
