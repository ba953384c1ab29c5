package io.amirror.libvirt;

import io.amirror.state.StateFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code chains/<uuid>/chain.json} on real files: the format of today and the one before formats. */
class ChainStateFileTest {
    static final String UUID = "0f8fad5b-d9cb-469f-a165-70867728950e";

    @TempDir
    Path dir;

    private Path chainFile() {
        return dir.resolve("chains").resolve(UUID).resolve("chain.json");
    }

    @Test
    void aChainWrittenBeforeFormatsIsReadAndRewrittenInTheCurrentFormat() throws Exception {
        // exactly what FileChainStore wrote before formats (Jackson, indented)
        Files.createDirectories(chainFile().getParent());
        Files.writeString(chainFile(), """
                {
                  "domainUuid" : "0f8fad5b-d9cb-469f-a165-70867728950e",
                  "domainName" : "web",
                  "acknowledged" : 3,
                  "points" : [ 3, 4 ]
                }""");
        FileChainStore store = new FileChainStore(dir);
        ChainState legacy = store.load(UUID, "web");
        assertEquals(new ChainState(UUID, "web", 3, List.of(3, 4)), legacy);

        store.save(legacy.withAcknowledged(4).withPoints(List.of(4)));
        assertTrue(Files.readString(chainFile()).contains("\"format\" : 1"), Files.readString(chainFile()));
        assertEquals(new ChainState(UUID, "web", 4, List.of(4)), store.load(UUID, "web"));
    }

    @Test
    void aNewerFormatIsRefusedAndLeftAsItIs() throws Exception {
        Files.createDirectories(chainFile().getParent());
        byte[] newer = ("{\"format\":2,\"domainUuid\":\"" + UUID + "\",\"domainName\":\"web\",\"acknowledged\":3,"
                + "\"points\":[3,4],\"base\":{\"point\":3}}").getBytes();
        Files.write(chainFile(), newer);
        FileChainStore store = new FileChainStore(dir);
        StateFormatException e = assertThrows(StateFormatException.class, () -> store.load(UUID, "web"));
        assertTrue(e.getMessage().contains(chainFile().toString()) && e.getMessage().contains("newer than this amirror"),
                e.getMessage());
        assertArrayEquals(newer, Files.readAllBytes(chainFile()));
    }

    @Test
    void aDamagedChainIsRefusedNamingTheFile() throws Exception {
        Files.createDirectories(chainFile().getParent());
        FileChainStore store = new FileChainStore(dir);
        for (String damaged : List.of("{\"domainUuid\":\"" + UUID + "\",\"poin", "", "[3,4]",
                "{\"format\":1,\"domainUuid\":\"" + UUID + "\",\"acknowledged\":\"three\",\"points\":[]}")) {
            Files.writeString(chainFile(), damaged);
            StateFormatException e = assertThrows(StateFormatException.class, () -> store.load(UUID, "web"), damaged);
            assertTrue(e.getMessage().contains(chainFile().toString()) && e.getMessage().contains("chain state"),
                    e.getMessage());
            assertEquals(damaged, Files.readString(chainFile()));
        }
        // another domain's chain under this one's directory is not taken for it
        Files.writeString(chainFile(), "{\"format\":1,\"domainUuid\":\"6ba7b810-9dad-11d1-80b4-00c04fd430c8\","
                + "\"domainName\":\"db\",\"acknowledged\":0,\"points\":[]}");
        var other = assertThrows(StateFormatException.class, () -> store.load(UUID, "web"));
        assertTrue(other.getMessage().contains("6ba7b810"), other.getMessage());
    }

    @Test
    void checkpointXmlIsKeptAsLibvirtGaveIt() throws Exception {
        FileChainStore store = new FileChainStore(dir);
        String xml = "<domaincheckpoint>\n  <name>amirror.4</name>\n</domaincheckpoint>\n";
        store.saveCheckpointXml(UUID, 4, xml);
        assertEquals(xml, Files.readString(chainFile().resolveSibling("amirror.4.xml")));
        assertEquals(xml, store.checkpointXml(UUID, 4).orElseThrow());
    }
}
