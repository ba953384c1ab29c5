package io.amirror.delta;

import io.amirror.libvirt.ChainState;
import io.amirror.libvirt.DiskInfo;
import io.amirror.libvirt.FileChainStore;
import io.amirror.spool.Spool;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A primary's state directory as amirror left it before state files had formats, with a point
 * pending: after the upgrade the chain, the map, its journal, the repairs and the spool are taken
 * as they are, the pending point commits on its ack, and the next point is incremental.
 */
class UpgradeInPlaceTest {
    static final int BS = DeltaFormat.BLOCK_SIZE;
    static final UUID DOMAIN = UUID.fromString("0f8fad5b-d9cb-469f-a165-70867728950e");
    static final DiskInfo VDA = new DiskInfo("vda", null, "raw", false, "disk");

    @TempDir
    Path state;

    private DeltaEncoder.DiskDelta encode(Spool spool, Path maps, int base, int point, byte[] disk) throws IOException {
        DeltaEncoder enc = new DeltaEncoder(spool, maps, DOMAIN, base, point, new XzBlockCodec.Preset(0, false),
                DeltaStreamTest.POOL, 1, 1_000_000L * point);
        enc.beginDisk(VDA, disk.length);
        enc.data(0, disk.clone());
        enc.endDisk();
        return enc.deltas().get(0);
    }

    /** The same journal as the code before journal headers wrote it: no header, sealed over the records alone. */
    private static void stripJournalHeader(Path journal) throws IOException {
        byte[] now = Files.readAllBytes(journal);
        byte[] records = Arrays.copyOfRange(now, ReplicaHashMap.Journal.HEADER, now.length - 32);
        MessageDigest md = BlockHash.sha256();
        md.update(records);
        byte[] old = Arrays.copyOf(records, records.length + 32);
        System.arraycopy(md.digest(), 0, old, records.length, 32);
        Files.write(journal, old);
    }

    @Test
    void aPendingPointOfTheOldFormatsCommitsAndTheNextPointIsIncremental() throws Exception {
        Path maps = state.resolve("maps").resolve(DOMAIN.toString());
        Spool spool = new Spool(state.resolve("spool"), 1L << 30);
        byte[] disk = new byte[64 * BS];
        new Random(1).nextBytes(disk);

        // before the upgrade: point 1 acknowledged, point 2 (one block changed) in the spool, a repair scheduled
        encode(spool, maps, 0, 1, disk);
        DeltaEncoder.acknowledged(spool, maps, DOMAIN, List.of("vda"), 1);
        disk[10 * BS] ^= 1;
        encode(spool, maps, 1, 2, disk);
        Path chain = state.resolve("chains").resolve(DOMAIN.toString()).resolve("chain.json");
        Files.createDirectories(chain.getParent());
        Files.writeString(chain, """
                {
                  "domainUuid" : "0f8fad5b-d9cb-469f-a165-70867728950e",
                  "domainName" : "web",
                  "acknowledged" : 1,
                  "points" : [ 1, 2 ]
                }""");
        stripJournalHeader(maps.resolve("vda.map.pending-2"));
        Files.writeString(maps.resolve("vda.repair"), "[[163840,4096]]");

        // after: everything is read as it is
        assertEquals(new ChainState(DOMAIN.toString(), "web", 1, List.of(1, 2)),
                new FileChainStore(state).load(DOMAIN.toString(), "web"));
        DeltaEncoder.recover(maps, 1);
        assertEquals(List.of(2), spool.entries(DOMAIN, "vda").stream().map(Spool.Entry::newPoint).toList());
        assertEquals(1, RepairRanges.all(maps).get("vda").size());
        DeltaEncoder.acknowledged(spool, maps, DOMAIN, List.of("vda"), 2);
        RepairRanges.done(maps, "vda");
        try (ReplicaHashMap m = ReplicaHashMap.openExisting(maps.resolve("vda.map"))) {
            assertEquals(2, m.point(), "the old journal was applied");
        }
        assertFalse(Files.exists(maps.resolve("vda.map.pending-2")));
        assertTrue(spool.entries(DOMAIN, "vda").isEmpty());

        // the next point sends only what changed, not the disk again
        disk[20 * BS] ^= 1;
        DeltaEncoder.DiskDelta next = encode(spool, maps, 2, 3, disk);
        assertEquals(1, next.refined().dataBlocks());
        assertEquals(63, next.refined().unchangedBlocks());
    }
}
