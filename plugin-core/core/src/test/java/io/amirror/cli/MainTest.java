package io.amirror.cli;

import org.junit.jupiter.api.Test;


import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MainTest {

    @Test
    void versionNamesTheBuiltVersion() {
        String out = StdoutCapture.of(() -> assertEquals(0, Main.execute("--version")));
        assertTrue(out.matches("(?s)amirror \\d+\\.\\d+\\.\\d+.*"), out);
    }

    @Test
    void helpListsTheCommandsAndUnknownOptionsFail() {
        String out = StdoutCapture.of(() -> assertEquals(0, Main.execute("--help")));
        assertTrue(out.contains("standby") && out.contains("failover") && out.contains("replicas"), out);
        // the core alone (as the package ships it) offers no developer tool
        for (String tool : new String[] {"demo", "bench", "lab"}) {
            assertFalse(out.lines().anyMatch(l -> l.strip().startsWith(tool + " ")), tool + " offered:\n" + out);
        }
        assertEquals(2, Main.execute("--no-such-option"));
    }
}
