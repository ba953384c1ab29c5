package io.amirror.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.util.ArrayList;
import java.util.List;

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

    @Test
    void everyCommandAndGroupAnswersHelp() {
        List<List<String>> paths = new ArrayList<>();
        collect(Main.commandLine(), new ArrayList<>(), paths);
        assertTrue(paths.size() > 30, "the tree walked: " + paths);
        for (List<String> path : paths) {
            List<String> args = new ArrayList<>(path);
            args.add("--help");
            String name = path.isEmpty() ? "amirror" : path.get(path.size() - 1);
            String out = StdoutCapture.of(() -> assertEquals(0, Main.execute(args.toArray(String[]::new)),
                    "amirror " + String.join(" ", args)));
            assertTrue(out.startsWith("Usage: amirror") && out.lines().findFirst().orElse("").contains(name),
                    "amirror " + String.join(" ", args) + " printed:\n" + out);
        }
    }

    @Test
    void logLevelIsAnOptionOfEveryCommandAndLibrariesStayQuiet() {
        ch.qos.logback.classic.Logger own = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("io.amirror");
        ch.qos.logback.classic.Level before = own.getLevel();
        try {
            StdoutCapture.of(() -> assertEquals(0, Main.execute("policy", "schema", "--log-level", "debug", "policy")));
            assertEquals(ch.qos.logback.classic.Level.DEBUG, own.getLevel());
            assertEquals(2, Main.execute("policy", "schema", "--log-level", "loud", "policy"), "an unknown level");
        } finally {
            own.setLevel(before);
        }
        assertEquals(ch.qos.logback.classic.Level.INFO, before, "amirror's own lines at INFO by default");
        assertTrue(org.slf4j.LoggerFactory.getLogger("org.quartz.core.QuartzSchedulerThread").isWarnEnabled()
                && !org.slf4j.LoggerFactory.getLogger("org.quartz.core.QuartzSchedulerThread").isInfoEnabled(),
                "libraries' DEBUG and INFO lines are off (logback.xml is on the class path)");
        assertEquals(4, JournalPriority.priority(ch.qos.logback.classic.Level.WARN));
        assertEquals(3, JournalPriority.priority(ch.qos.logback.classic.Level.ERROR));
        assertEquals(7, JournalPriority.priority(ch.qos.logback.classic.Level.DEBUG));
    }

    private static void collect(CommandLine cl, List<String> path, List<List<String>> into) {
        into.add(List.copyOf(path));
        cl.getSubcommands().forEach((name, sub) -> {
            if (!name.equals("help") && sub.getCommandName().equals(name)) { // aliases once
                List<String> next = new ArrayList<>(path);
                next.add(name);
                collect(sub, next, into);
            }
        });
    }
}
