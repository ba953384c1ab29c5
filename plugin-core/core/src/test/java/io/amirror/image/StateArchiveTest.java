package io.amirror.image;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The TPM state's image: round trips, stable size, and what a hostile primary could put in one. */
class StateArchiveTest {

    @Test
    void aTreeRoundTripsThroughItsImageOfAStableSize(@TempDir Path dir) throws IOException {
        Path tpm = dir.resolve("uuid");
        Files.createDirectories(tpm.resolve("tpm2"));
        Files.write(tpm.resolve("tpm2/tpm2-00.permall"), "permanent state".getBytes(StandardCharsets.UTF_8));
        Files.write(tpm.resolve("tpm2/.lock"), new byte[0]); // swtpm's process lock: not state
        Files.write(tpm.resolve("tpm2/tpm2-00.volatilestate"), new byte[7000]);
        List<StateArchive.Entry> read = StateArchive.readTree(tpm);
        assertEquals(List.of("tpm2/tpm2-00.permall", "tpm2/tpm2-00.volatilestate"), read.stream().map(StateArchive.Entry::path).toList());
        byte[] image = StateArchive.encode(read);
        assertEquals(StateArchive.UNIT, image.length, "a small tree fills one unit");
        List<StateArchive.Entry> back = StateArchive.decode(image);
        assertEquals(2, back.size());
        assertArrayEquals(read.get(0).data(), back.get(0).data());

        Path out = dir.resolve("replica");
        StateArchive.writeTree(back, out, "rwx--x--x");
        assertEquals("rwx--x--x", PosixFilePermissions.toString(Files.getPosixFilePermissions(out)));
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(out.resolve("tpm2"))));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(out.resolve("tpm2/tpm2-00.permall"))));
        assertArrayEquals("permanent state".getBytes(StandardCharsets.UTF_8), Files.readAllBytes(out.resolve("tpm2/tpm2-00.permall")));

        // a second write replaces the tree whole: a file the new state lacks is gone
        StateArchive.writeTree(List.of(new StateArchive.Entry("tpm2/tpm2-00.permall", new byte[]{1})), out, "rwx--x--x");
        assertFalse(Files.exists(out.resolve("tpm2/tpm2-00.volatilestate")));
        assertArrayEquals(new byte[]{1}, Files.readAllBytes(out.resolve("tpm2/tpm2-00.permall")));
        try (var s = Files.list(dir)) {
            assertEquals(List.of("replica", "uuid"), s.map(p -> p.getFileName().toString()).sorted().toList(),
                    "nothing left beside the state");
        }
    }

    @Test
    void aLargerTreeGrowsByWholeUnits() throws IOException {
        byte[] image = StateArchive.encode(List.of(new StateArchive.Entry("big", new byte[StateArchive.UNIT + 1])));
        assertEquals(2 * StateArchive.UNIT, image.length);
        assertEquals(StateArchive.UNIT + 1, StateArchive.decode(image).get(0).data().length);
    }

    @Test
    void hostileImagesAreRefusedWithTheReason() {
        assertTrue(assertThrows(IOException.class, () -> StateArchive.decode(new byte[4096])).getMessage()
                .contains("not a device state image"));
        for (String path : List.of("../etc/shadow", "/etc/shadow", "a//b", "a/./b", ".hidden", "a/b/c/d/e", "a\nb")) {
            IOException e = assertThrows(IOException.class, () -> StateArchive.decode(raw(List.of(path), 4)), path);
            assertTrue(e.getMessage().contains("path"), e.getMessage());
        }
        assertTrue(assertThrows(IOException.class, () -> StateArchive.decode(raw(List.of("a", "a"), 4))).getMessage()
                .contains("twice"));
        assertTrue(assertThrows(IOException.class, () -> StateArchive.decode(raw(List.of("a", "a/b"), 4))).getMessage()
                .contains("both as a file and as a directory"));
        assertTrue(assertThrows(IOException.class, () -> StateArchive.decode(raw(List.of("a"), 1L << 40))).getMessage()
                .contains("claims"));
        byte[] many = StateArchive.encode(List.of());
        ByteBuffer.wrap(many).putInt(8, 100_000);
        assertTrue(assertThrows(IOException.class, () -> StateArchive.decode(many)).getMessage().contains("at most"));
    }

    /** An image written by hand, bypassing the encoder's checks. */
    private static byte[] raw(List<String> paths, long size) {
        ByteBuffer b = ByteBuffer.allocate(StateArchive.UNIT);
        b.put("AMSTATE1".getBytes(StandardCharsets.US_ASCII)).putInt(paths.size());
        for (String p : paths) {
            byte[] n = p.getBytes(StandardCharsets.UTF_8);
            b.putShort((short) n.length).put(n).putLong(size);
            if (size < 100) {
                b.put(new byte[(int) size]);
            }
        }
        return b.array();
    }

    @Test
    void aTreeBeyondWhatStateMayBeIsRefused() {
        List<StateArchive.Entry> many = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            many.add(new StateArchive.Entry("f" + i, new byte[0]));
        }
        assertThrows(IllegalArgumentException.class, () -> StateArchive.encode(many));
    }
}
