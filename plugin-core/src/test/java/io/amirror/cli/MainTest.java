package io.amirror.cli;

import org.junit.jupiter.api.Test;


import static org.junit.jupiter.api.Assertions.assertEquals;
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
        assertTrue(out.contains("demo") && out.contains("lab"), out);
        assertEquals(2, Main.execute("--no-such-option"));
    }
}
