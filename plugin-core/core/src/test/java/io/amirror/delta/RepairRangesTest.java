package io.amirror.delta;

import io.amirror.state.StateFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code <disk>.repair} on real files: today's format and the bare array written before formats. */
class RepairRangesTest {
    static final int BS = DeltaFormat.BLOCK_SIZE;

    @TempDir
    Path dir;

    @Test
    void rangesWrittenBeforeFormatsAreReadAndKeptWhenMoreAreScheduled() throws Exception {
        try (ReplicaHashMap map = ReplicaHashMap.open(dir.resolve("vda.map"), 64L * BS)) {
            assertEquals(64, map.blocks());
        }
        // exactly what RepairRanges wrote before formats: a bare JSON array of [offset, length]
        Files.writeString(dir.resolve("vda.repair"), "[[4096,8192],[65536,4096]]");
        List<long[]> legacy = RepairRanges.of(dir, "vda");
        assertEquals(2, legacy.size());
        assertArrayEquals(new long[] {4096, 8192}, legacy.get(0));
        assertArrayEquals(new long[] {65536, 4096}, legacy.get(1));

        RepairRanges.schedule(dir, "vda", List.<long[]>of(new long[] {0, 4096}));
        String now = Files.readString(dir.resolve("vda.repair"));
        assertTrue(now.contains("\"format\" : 1"), now);
        List<long[]> all = RepairRanges.all(dir).get("vda");
        assertEquals(3, all.size());
        assertArrayEquals(new long[] {4096, 8192}, all.get(0));
        assertArrayEquals(new long[] {0, 4096}, all.get(2));

        RepairRanges.done(dir, "vda");
        assertTrue(RepairRanges.of(dir, "vda").isEmpty());
        assertFalse(Files.exists(dir.resolve("vda.repair")));
    }

    @Test
    void aNewerFormatIsRefusedAndLeftAsItIs() throws Exception {
        byte[] newer = "{\"format\":2,\"ranges\":[{\"offset\":0,\"length\":4096}]}".getBytes();
        Files.write(dir.resolve("vda.repair"), newer);
        StateFormatException e = assertThrows(StateFormatException.class, () -> RepairRanges.of(dir, "vda"));
        assertTrue(e.getMessage().contains(dir.resolve("vda.repair").toString()) && e.getMessage().contains("newer"),
                e.getMessage());
        assertThrows(StateFormatException.class, () -> RepairRanges.schedule(dir, "vda", List.<long[]>of(new long[] {0, 1})));
        assertArrayEquals(newer, Files.readAllBytes(dir.resolve("vda.repair")));
    }

    @Test
    void damagedRangesAreRefusedNamingTheFile() throws Exception {
        Path f = dir.resolve("vda.repair");
        for (String damaged : List.of("[[4096,8192],[655", "\"ranges\"", "[[1,2,3]]", "[[-4096,1]]",
                "{\"format\":1,\"ranges\":{\"a\":1}}")) {
            Files.writeString(f, damaged);
            StateFormatException e = assertThrows(StateFormatException.class, () -> RepairRanges.of(dir, "vda"), damaged);
            assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("repair ranges"), e.getMessage());
            assertEquals(damaged, Files.readString(f));
        }
    }
}
