package io.amirror.state;

import io.amirror.util.Exec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The lock within one process; {@code io.amirror.cli.OneDaemonPerStateDirTest} has it across real processes. */
class StateDirLockTest {
    private static final long ME = ProcessHandle.current().pid();

    /**
     * A lock file's text, read by another process: this JVM opening and closing the file would drop
     * the POSIX lock it holds on it.
     */
    static String text(Path file) {
        return Exec.run(Duration.ofSeconds(10), "cat", file.toString()).orThrow().stdout();
    }

    @Test
    void theHolderWritesItsPidKindAndStartInAPrivateFileAndASecondIsRefusedFromMemory(@TempDir Path dir)
            throws Exception {
        Path state = dir.resolve("state");
        try (StateDirLock lock = StateDirLock.acquire(state, StateDirLock.Daemon.PRIMARY)) {
            Path file = state.resolve("primary.lock");
            assertEquals(file.toRealPath(), lock.file());
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
            StateDirLock.Holder h = StateDirLock.Holder.parse(text(file));
            assertEquals(ME, h.pid());
            assertEquals("primary", h.daemon());
            assertNotNull(h.since());
            assertTrue(!h.since().isAfter(Instant.now()), h.toString());
            assertTrue(h.command() != null && !h.command().isBlank(), h.toString());

            // a second primary in this process: refused without opening the file (closing any channel
            // of it would drop this process's POSIX lock)
            String before = text(file);
            StateDirLock.InUse e = assertThrows(StateDirLock.InUse.class,
                    () -> StateDirLock.acquire(state.resolve("."), StateDirLock.Daemon.PRIMARY));
            assertEquals(ME, e.holder().pid());
            assertTrue(e.getMessage().contains("pid " + ME) && e.getMessage().contains("the primary daemon")
                    && e.getMessage().contains("systemctl stop amirror-primary") && e.getMessage().contains("kill " + ME)
                    && e.getMessage().contains("Nothing was changed"), e.getMessage());
            assertEquals(before, text(file));

            // another kind of daemon on the same directory is not refused
            try (StateDirLock standby = StateDirLock.acquire(state, StateDirLock.Daemon.STANDBY)) {
                assertEquals(ME, StateDirLock.Holder.parse(text(standby.file())).pid());
            }
        }
        // released: emptied, left in place, and the next one takes it
        assertEquals("", text(state.resolve("primary.lock")));
        try (StateDirLock again = StateDirLock.acquire(state, StateDirLock.Daemon.PRIMARY)) {
            assertEquals(ME, again.holder().pid());
            again.close(); // idempotent
        }
    }

    @Test
    void aLockFileLeftByADeadProcessIsTakenAndRewritten(@TempDir Path dir) throws Exception {
        Path state = Files.createDirectories(dir.resolve("state"));
        Files.writeString(state.resolve("standby.lock"), "pid=999999999\ndaemon=standby\nsince=2020-01-01T00:00:00Z\n"
                + "command=java -jar amirror.jar standby\n");
        try (StateDirLock lock = StateDirLock.acquire(state, StateDirLock.Daemon.STANDBY)) {
            String text = text(state.resolve("standby.lock"));
            assertTrue(text.startsWith("pid=" + ME + "\n") && !text.contains("2020-01-01"), text);
        }
        Files.writeString(state.resolve("standby.lock"), "\u0000garbage\nno=such\npid=x\n");
        try (StateDirLock lock = StateDirLock.acquire(state, StateDirLock.Daemon.STANDBY)) {
            assertEquals(ME, StateDirLock.Holder.parse(text(lock.file())).pid());
        }
    }

    @Test
    void aLongCommandLineIsCutInTheMiddleAndGarbageParsesAsUnknown() {
        String cmd = "/usr/bin/java -cp " + "/x/lib.jar:".repeat(200) + " io.amirror.cli.Main primary --state /s";
        assertEquals("/usr/bin/java -cp … io.amirror.cli.Main primary --state /s", StateDirLock.shorten(cmd));
        String s = StateDirLock.shorten("/usr/bin/java -jar amirror.jar primary " + "--policies /p ".repeat(100));
        assertTrue(s.length() < 400 && s.startsWith("/usr/bin/java -jar amirror.jar primary") && s.contains(" … "), s);
        StateDirLock.Holder h = StateDirLock.Holder.parse("pid=12ab\nsince=yesterday\n");
        assertEquals(-1, h.pid());
        assertEquals(null, h.since());
        assertThrows(IllegalArgumentException.class, () -> new StateDirLock.Daemon("../x.lock", "x", "y"));
    }
}
