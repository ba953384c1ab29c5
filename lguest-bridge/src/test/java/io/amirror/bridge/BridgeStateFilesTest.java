package io.amirror.bridge;

import io.amirror.state.StateFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The bridge's own state files on real files: {@code bridge.json} of every format, and the dirty maps. */
class BridgeStateFilesTest {
    private static final int B = DirtyMap.BLOCK;
    private static final UUID GUEST = UUID.fromString("0f8fad5b-d9cb-469f-a165-70867728950e");

    @TempDir
    Path dir;

    private Path image() throws IOException {
        Path image = dir.resolve("disk.raw");
        if (!Files.exists(image)) {
            Files.write(image, new byte[16 * B]);
        }
        return image;
    }

    @Test
    void aBridgeStateWrittenBeforeFormatsOpensWithItsPointsAndMaps() throws Exception {
        Path state = dir.resolve("state");
        try (BridgeVolume v = BridgeVolume.open(image(), state, GUEST, "pbx", "vda", List.of("qemu-system-x86_64"))) {
            v.cut(1);
            v.release(1);
            v.write(3L * B, ByteBuffer.wrap(new byte[B]));
        }
        // exactly what BridgeState wrote before formats (Jackson, indented), beside the maps it names
        Files.writeString(state.resolve(BridgeState.FILE), """
                {
                  "uuid" : "0f8fad5b-d9cb-469f-a165-70867728950e",
                  "name" : "pbx",
                  "disk" : "vda",
                  "size" : 65536,
                  "points" : [ 1 ],
                  "launcher" : [ "qemu-system-x86_64" ]
                }""");
        try (BridgeVolume v = BridgeVolume.open(image(), state, null, "pbx", "vda", List.of())) {
            assertEquals(new BridgeState(GUEST, "pbx", "vda", 16L * B, List.of(1), List.of("qemu-system-x86_64")), v.state());
            assertEquals(List.of(1), v.pointsBefore(2));
            assertArrayEquals(new long[] {3L * B, B}, v.changedAfter(1).get(0), "the map of point 1 kept its marks");
            v.cut(2); // the owner's next write is in the current format
            v.release(2);
        }
        String now = Files.readString(state.resolve(BridgeState.FILE));
        assertTrue(now.contains("\"format\" : 1"), now);
        assertEquals(List.of(1, 2), BridgeState.read(state).points());
    }

    @Test
    void aNewerBridgeStateIsRefusedAndLeftAsItIs() throws Exception {
        Path state = Files.createDirectories(dir.resolve("state"));
        byte[] newer = ("{\"format\":2,\"uuid\":\"" + GUEST + "\",\"name\":\"pbx\",\"disk\":\"vda\",\"size\":65536,"
                + "\"points\":[],\"launcher\":[],\"disks\":[\"vda\",\"vdb\"]}").getBytes();
        Files.write(state.resolve(BridgeState.FILE), newer);
        StateFormatException e = assertThrows(StateFormatException.class,
                () -> BridgeVolume.open(image(), state, null, "pbx", "vda", List.of()));
        assertTrue(e.getMessage().contains(state.resolve(BridgeState.FILE).toString()) && e.getMessage().contains("newer"),
                e.getMessage());
        assertArrayEquals(newer, Files.readAllBytes(state.resolve(BridgeState.FILE)));
    }

    @Test
    void aDamagedBridgeStateIsRefusedNamingIt() throws Exception {
        Path state = Files.createDirectories(dir.resolve("state"));
        Path f = state.resolve(BridgeState.FILE);
        for (String damaged : List.of("{\"uuid\":\"0f8fad5b-d9cb", "[]", "{\"format\":1,\"uuid\":\"not a uuid\"}")) {
            Files.writeString(f, damaged);
            StateFormatException e = assertThrows(StateFormatException.class, () -> BridgeState.read(state), damaged);
            assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("bridge state"), e.getMessage());
            assertEquals(damaged, Files.readString(f));
        }
    }

    @Test
    void aDirtyMapOfANewerVersionIsRefusedAndLeftAsItIs() throws Exception {
        Path file = dir.resolve("point-1.map");
        DirtyMap.create(file, 16L * B).close();
        byte[] newer = Files.readAllBytes(file);
        newer[11] = 2; // the version (int after the 8-byte magic)
        Files.write(file, newer);
        IOException e = assertThrows(IOException.class, () -> DirtyMap.open(file, 16L * B));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("newer than this amirror"),
                e.getMessage());
        assertArrayEquals(newer, Files.readAllBytes(file));

        byte[] damaged = newer.clone();
        damaged[0] ^= 1;
        Files.write(file, damaged);
        IOException bad = assertThrows(IOException.class, () -> DirtyMap.open(file, 16L * B));
        assertTrue(bad.getMessage().contains(file.toString()) && bad.getMessage().contains("not a dirty map"),
                bad.getMessage());
        assertArrayEquals(damaged, Files.readAllBytes(file));
    }

    private static String mode(Path p) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
    }

    @Test
    void theBridgesFilesAreItsOwnWhateverTheUmaskAndOldLooseOnesAreTightenedAtOpen() throws Exception {
        Path state = dir.resolve("disk.raw.amirror");
        try (BridgeVolume v = BridgeVolume.open(image(), state, GUEST, "pbx", "vda", List.of())) {
            v.cut(1);
            v.write(3L * B, ByteBuffer.wrap(new byte[B])); // the point's old block goes to its scratch file
            assertEquals("rwx------", mode(state));
            for (String f : List.of(BridgeState.FILE, "point-1.map", "point-1.scratch")) {
                assertEquals("rw-------", mode(state.resolve(f)), f + ": the guest's writes and old blocks");
            }
            v.release(1);
        }
        // as an older amirror run with umask 0022 left them
        Files.setPosixFilePermissions(state, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(state.resolve(BridgeState.FILE), PosixFilePermissions.fromString("rw-r--r--"));
        Files.setPosixFilePermissions(state.resolve("point-1.map"), PosixFilePermissions.fromString("rw-r--r--"));
        try (BridgeVolume v = BridgeVolume.open(image(), state, null, "pbx", "vda", List.of())) {
            assertEquals("rwx------", mode(state));
            assertEquals("rw-------", mode(state.resolve(BridgeState.FILE)));
            assertEquals("rw-------", mode(state.resolve("point-1.map")));
        }
        // a state directory that is also the admin's (here the image's own) keeps its mode; the bridge's files do not
        Path shared = Files.createDirectories(dir.resolve("vm"));
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path image = shared.resolve("other.raw");
        Files.write(image, new byte[16 * B]);
        try (BridgeVolume v = BridgeVolume.open(image, shared, null, "other", "vda", List.of())) {
            v.cut(1);
            v.release(1);
        }
        Files.setPosixFilePermissions(shared.resolve("point-1.map"), PosixFilePermissions.fromString("rw-r--r--"));
        try (BridgeVolume v = BridgeVolume.open(image, shared, null, "other", "vda", List.of())) {
            assertEquals("rwxr-xr-x", mode(shared), "it holds the admin's image too");
            assertEquals("rw-------", mode(shared.resolve("point-1.map")));
        }
    }
}
