package io.amirror.lab;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The amirror CLI run as a process by a test, its output kept in the test's work directory. */
public final class Cli {
    private Cli() {
    }

    /** Runs {@code amirror ARGS}; checks its exit status unless {@code expect} is -1; returns its output ({@code WORK/NAME.out}). */
    public static String cli(Path work, String name, int expect, String... args) throws Exception {
        try (AmirrorProcess p = AmirrorProcess.start(null, work.resolve(name + ".out"), args)) {
            int rc = p.waitFor(600);
            String out = p.output();
            if (expect >= 0) {
                assertEquals(expect, rc, "amirror " + String.join(" ", args) + ":\n" + out);
            }
            return out;
        }
    }
}
