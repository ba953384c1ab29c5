package io.amirror.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MainTest {

    @Test
    void versionNamesTheBuiltVersion() {
        String out = capture(() -> assertEquals(0, Main.execute("--version")));
        assertTrue(out.matches("(?s)amirror \\d+\\.\\d+\\.\\d+.*"), out);
    }

    @Test
    void helpListsTheCommandsAndUnknownOptionsFail() {
        String out = capture(() -> assertEquals(0, Main.execute("--help")));
        assertTrue(out.contains("demo") && out.contains("lab"), out);
        assertEquals(2, Main.execute("--no-such-option"));
    }

    private static String capture(Runnable r) {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            r.run();
        } finally {
            System.setOut(old);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }
}
