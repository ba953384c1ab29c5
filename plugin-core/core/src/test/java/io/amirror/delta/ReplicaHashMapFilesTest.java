package io.amirror.delta;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The map file and its journals on real files: today's versions, the one before, newer and damaged ones. */
class ReplicaHashMapFilesTest {
    static final int BS = DeltaFormat.BLOCK_SIZE;

    @TempDir
    Path dir;

    /** A journal as amirror wrote it before journals had a header: records, then the seal. */
    static byte[] headerlessJournal(int forPoint, long dataBlock, byte[] hash, long zeroFirst, long zeroCount)
            throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeByte(ReplicaHashMap.Journal.DATA);
        out.writeLong(dataBlock);
        out.write(hash);
        out.writeByte(ReplicaHashMap.Journal.ZERO);
        out.writeLong(zeroFirst);
        out.writeLong(zeroCount);
        out.writeByte(ReplicaHashMap.Journal.SEAL);
        out.writeInt(forPoint);
        out.flush();
        MessageDigest md = BlockHash.sha256();
        md.update(bytes.toByteArray());
        out.write(md.digest());
        return bytes.toByteArray();
    }

    @Test
    void aJournalWrittenBeforeJournalsHadAHeaderStillCommits() throws Exception {
        Path file = dir.resolve("vda.map");
        byte[] block = new byte[BS];
        block[7] = 42;
        try (ReplicaHashMap map = ReplicaHashMap.open(file, 8L * BS)) {
            // a point pending across the upgrade: its journal is of the old kind
            Files.write(map.journalFile(1), headerlessJournal(1, 2, BlockHash.of(block, 0, BS), 4, 3));
            map.commit(1);
            assertEquals(1, map.point());
            assertTrue(ReplicaHashMap.matches(map.read(2, 1), 0, BlockHash.of(block, 0, BS)));
            for (int b = 4; b < 7; b++) {
                assertTrue(ReplicaHashMap.matches(map.read(b, 1), 0, BlockHash.zero(BS)), "block " + b);
            }
            assertFalse(ReplicaHashMap.known(map.read(0, 1), 0));
            assertFalse(Files.exists(map.journalFile(1)));
        }
    }

    @Test
    void journalsNowStartWithTheirVersion() throws Exception {
        try (ReplicaHashMap map = ReplicaHashMap.open(dir.resolve("vda.map"), 8L * BS)) {
            try (ReplicaHashMap.Journal j = map.journal(1)) {
                j.zero(0, 8);
                j.seal();
            }
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(map.journalFile(1))));
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("vda.map"))));
            ByteBuffer h = ByteBuffer.wrap(Files.readAllBytes(map.journalFile(1)));
            assertEquals(ReplicaHashMap.Journal.MAGIC, h.getLong());
            assertEquals(ReplicaHashMap.Journal.VERSION, h.getShort());
            map.commit(1);
            assertTrue(ReplicaHashMap.matches(map.read(7, 1), 0, BlockHash.zero(BS)));
        }
    }

    @Test
    void aNewerJournalIsRefusedAndLeftAsItIs() throws Exception {
        try (ReplicaHashMap map = ReplicaHashMap.open(dir.resolve("vda.map"), 8L * BS)) {
            try (ReplicaHashMap.Journal j = map.journal(1)) {
                j.zero(0, 8);
                j.seal();
            }
            byte[] newer = Files.readAllBytes(map.journalFile(1));
            newer[9] = 2; // version 2
            Files.write(map.journalFile(1), newer);
            IOException e = assertThrows(IOException.class, () -> map.commit(1));
            assertTrue(e.getMessage().contains(map.journalFile(1).toString()) && e.getMessage().contains("newer"),
                    e.getMessage());
            assertArrayEquals(newer, Files.readAllBytes(map.journalFile(1)));
            assertEquals(0, map.point());
            assertFalse(ReplicaHashMap.known(map.read(0, 1), 0), "nothing applied");
        }
    }

    @Test
    void aDamagedJournalIsRefusedNamingIt() throws Exception {
        try (ReplicaHashMap map = ReplicaHashMap.open(dir.resolve("vda.map"), 8L * BS)) {
            for (byte[] damaged : new byte[][] {new byte[0], "garbage, not a journal at all, long enough to seal".getBytes()}) {
                Files.write(map.journalFile(1), damaged);
                IOException e = assertThrows(IOException.class, () -> map.commit(1));
                assertTrue(e.getMessage().contains(map.journalFile(1).toString()), e.getMessage());
                assertArrayEquals(damaged, Files.readAllBytes(map.journalFile(1)));
            }
            byte[] flipped = headerlessJournal(1, 2, new byte[BlockHash.LENGTH], 4, 3);
            flipped[3] ^= 1;
            Files.write(map.journalFile(1), flipped);
            IOException e = assertThrows(IOException.class, () -> map.commit(1));
            assertTrue(e.getMessage().contains("corrupt") && e.getMessage().contains(map.journalFile(1).toString()),
                    e.getMessage());
            assertEquals(0, map.point());
        }
    }

    @Test
    void aMapOfANewerVersionIsRefusedAndLeftAsItIs() throws Exception {
        Path file = dir.resolve("vda.map");
        try (ReplicaHashMap map = ReplicaHashMap.open(file, 8L * BS)) {
            assertEquals(8, map.blocks());
        }
        byte[] newer = Files.readAllBytes(file);
        newer[9] = 2; // the version, after the 8-byte magic
        Files.write(file, newer);
        IOException e = assertThrows(IOException.class, () -> ReplicaHashMap.open(file, 16L * BS));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("newer than this amirror"),
                e.getMessage());
        assertArrayEquals(newer, Files.readAllBytes(file), "not resized, not rewritten");
        assertThrows(IOException.class, () -> ReplicaHashMap.openExisting(file));

        byte[] damaged = newer.clone();
        damaged[0] ^= 1;
        Files.write(file, damaged);
        IOException bad = assertThrows(IOException.class, () -> ReplicaHashMap.open(file, 8L * BS));
        assertTrue(bad.getMessage().contains(file.toString()) && bad.getMessage().contains("not an amirror hash map"),
                bad.getMessage());
        assertArrayEquals(damaged, Files.readAllBytes(file));
    }
}
