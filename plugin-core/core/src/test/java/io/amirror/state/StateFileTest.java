package io.amirror.state;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StateFileTest {
    record Point(int point, String disk) {
    }

    private static final StateFile<Point> POINT = StateFile.of("point", Point.class, 2)
            .migrating(0, n -> n) // format 0: same fields, no format field
            .migrating(1, n -> {   // format 1 called the disk "target"
                n.set("disk", n.remove("target"));
                return n;
            });

    @Test
    void writesTheCurrentFormatPrivatelyAndReadsItBack(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("p.json");
        POINT.write(f, new Point(7, "vda"));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
        assertTrue(Files.readString(f).contains("\"format\" : 2"));
        assertEquals(new Point(7, "vda"), POINT.read(f).orElseThrow());
    }

    @Test
    void migratesOlderFormatsStepByStep(@TempDir Path dir) throws Exception {
        Path legacy = dir.resolve("legacy.json");
        Files.writeString(legacy, "{\"point\":3,\"target\":\"sda\"}");
        // format 0 → 1 is the identity, so "target" survives until 1 → 2 renames it
        assertEquals(new Point(3, "sda"), POINT.read(legacy).orElseThrow());
        Path v1 = dir.resolve("v1.json");
        Files.writeString(v1, "{\"format\":1,\"point\":4,\"target\":\"vdb\"}");
        assertEquals(new Point(4, "vdb"), POINT.read(v1).orElseThrow());
    }

    @Test
    void refusesANewerFormatAndDamagedFilesWithoutTouchingThem(@TempDir Path dir) throws Exception {
        Path newer = dir.resolve("newer.json");
        byte[] content = "{\"format\":3,\"point\":1,\"disk\":\"vda\"}".getBytes();
        Files.write(newer, content);
        StateFormatException e = assertThrows(StateFormatException.class, () -> POINT.read(newer));
        assertTrue(e.getMessage().contains("newer than this amirror reads"), e.getMessage());
        assertArrayEquals(content, Files.readAllBytes(newer));

        Path broken = dir.resolve("broken.json");
        Files.writeString(broken, "{\"point\":");
        assertThrows(StateFormatException.class, () -> POINT.read(broken));
        Path array = dir.resolve("array.json");
        Files.writeString(array, "[1,2]");
        assertThrows(StateFormatException.class, () -> POINT.read(array));
        Path wrong = dir.resolve("wrong.json");
        Files.writeString(wrong, "{\"format\":\"two\"}");
        assertThrows(StateFormatException.class, () -> POINT.read(wrong));
    }

    @Test
    void aMissingFileIsEmpty(@TempDir Path dir) throws Exception {
        assertTrue(POINT.read(dir.resolve("absent.json")).isEmpty());
    }

    @Test
    void aFormatWithoutAWayUpIsRefused(@TempDir Path dir) throws Exception {
        StateFile<Point> noLegacy = StateFile.of("point", Point.class, 1);
        Path f = dir.resolve("old.json");
        Files.writeString(f, "{\"point\":1,\"disk\":\"vda\"}");
        assertThrows(StateFormatException.class, () -> noLegacy.read(f));
    }

    record Ranges(List<Integer> items) {
    }

    @Test
    void aBareFormat0IsWrappedBeforeItIsMigrated(@TempDir Path dir) throws Exception {
        StateFile<Ranges> kind = StateFile.of("ranges", Ranges.class, 1)
                .wrappingBareFormat0(bare -> {
                    if (!bare.isArray()) {
                        throw new IllegalArgumentException("not a list");
                    }
                    var o = StateFile.JSON.createObjectNode();
                    o.set("items", bare);
                    return o;
                })
                .migrating(0, n -> n);
        Path legacy = dir.resolve("legacy.json");
        Files.writeString(legacy, "[1,2,3]");
        assertEquals(new Ranges(List.of(1, 2, 3)), kind.read(legacy).orElseThrow());
        Path current = dir.resolve("current.json");
        kind.write(current, new Ranges(List.of(4)));
        assertEquals(new Ranges(List.of(4)), kind.read(current).orElseThrow());
        Path odd = dir.resolve("odd.json");
        Files.writeString(odd, "\"text\"");
        StateFormatException e = assertThrows(StateFormatException.class, () -> kind.read(odd));
        assertTrue(e.getMessage().contains(odd.toString()) && e.getMessage().contains("not a list"), e.getMessage());
        // without the wrapping, a bare value stays refused
        assertThrows(StateFormatException.class, () -> POINT.read(legacy));
    }
}
