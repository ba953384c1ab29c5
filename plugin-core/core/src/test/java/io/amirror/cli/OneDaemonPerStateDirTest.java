package io.amirror.cli;

import io.amirror.config.StandbyConfig;
import io.amirror.image.DiskImage;
import io.amirror.standby.StandbyService;
import io.amirror.transport.Identity;
import io.amirror.util.Exec;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One primary daemon and one standby daemon per state directory, with real processes of the CLI: a
 * second one exits at once with status 7, naming the first one's pid and how to stop it, and
 * changes no file of the state directory (every file's content and modification time, every
 * directory's, compared before and after); a first one killed with kill -9 leaves a lock file that
 * blocks nothing; a primary and a standby share a state directory; the commands that run beside a
 * daemon ({@code status}, {@code replicas}) are not refused.
 */
@Tag("real") // real processes and sockets; the primary runs on libvirt's built-in test driver
class OneDaemonPerStateDirTest {
    private static final long ME = ProcessHandle.current().pid();
    private static final long SECOND_WITHIN_MS = 30_000;

    @TempDir
    Path dir;

    @Test
    void aSecondStandbyIsRefusedNamingTheFirstAndChangesNothing() throws Exception {
        Path state = dir.resolve("standby");
        Identity standby = Identity.loadOrCreate(state, "standby");
        String primary = Identity.loadOrCreate(dir.resolve("primary-keys"), "primary").fingerprint();
        Files.createDirectories(state.resolve("replicas/6f1c2a52-4a5e-4b4f-9d55-1e7f9c1d2b3a/vda/incoming"));
        Files.write(state.resolve("replicas/6f1c2a52-4a5e-4b4f-9d55-1e7f9c1d2b3a/vda/incoming/" + "ab".repeat(32)
                + ".partial"), new byte[] {1, 2, 3});
        try (StandbyService first = StandbyService.start(standbyConfig(state, primary), standby,
                DiskImage.Tools.installed())) {
            String before = digest(state);
            long t0 = System.nanoTime();
            Run second = Run.start(dir.resolve("second.log"), "standby", "--state", state.toString(), "--listen",
                    "127.0.0.1:0", "--peer", primary, "--no-define");
            int status = second.waitFor(SECOND_WITHIN_MS);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            String out = second.output();
            assertEquals(ExitCodes.STATE_IN_USE, status, out);
            assertTrue(ms < SECOND_WITHIN_MS, "took " + ms + " ms");
            assertTrue(out.contains("amirror: " + state + " is in use by the standby daemon (amirror standby): pid " + ME
                    + ", running since "), out);
            assertTrue(out.contains("systemctl stop amirror-standby, or kill " + ME) && out.contains("Nothing was changed"),
                    out);
            assertTrue(!out.contains("standby listening"), "the second one listened: " + out);
            assertEquals(before, digest(state), "the refused standby changed the state directory");

            // the standby's commands work beside it
            String replicas = StdoutCapture.of(() -> assertEquals(0, Main.execute("replicas", "--state", state.toString())));
            assertTrue(replicas.startsWith("REPLICA"), replicas);
            assertEquals(before, digest(state));
        }
    }

    @Test
    void aSecondPrimaryKeepsItsHandsOffTheFirstOnesSpoolAndToken() throws Exception {
        Path state = dir.resolve("primary");
        Identity.loadOrCreate(state, "primary");
        try (Run first = startPrimary(state, "first")) {
            // a capture of the first one in progress: exactly what a second one's start would sweep
            Path partial = Files.createDirectories(state.resolve("spool/6f1c2a52-4a5e-4b4f-9d55-1e7f9c1d2b3a/vda"))
                    .resolve("delta-0-1.amd.partial");
            Files.write(partial, new byte[4096]);
            String token = Files.readString(state.resolve("control/token"));
            String before = digest(state);

            long t0 = System.nanoTime();
            Run second = Run.start(dir.resolve("second.log"), primaryArgs(state));
            int status = second.waitFor(SECOND_WITHIN_MS);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            String out = second.output();
            assertEquals(ExitCodes.STATE_IN_USE, status, out);
            assertTrue(ms < SECOND_WITHIN_MS, "took " + ms + " ms");
            assertTrue(out.contains(state + " is in use by the primary daemon (amirror primary): pid " + first.pid()
                    + ", running since "), out);
            assertTrue(out.contains("io.amirror.cli.Main primary --state " + state), "the first one's command: " + out);
            assertTrue(out.contains("systemctl stop amirror-primary, or kill " + first.pid()), out);
            assertTrue(!out.contains("primary running"), out);
            assertTrue(Files.exists(partial), "the second primary swept the first one's partial delta");
            assertEquals(token, Files.readString(state.resolve("control/token")));
            assertEquals(before, digest(state), "the refused primary changed the state directory");

            // status reaches the first one through its control API, untouched by the refusal
            String s = StdoutCapture.of(() -> assertEquals(0, Main.execute("status", "--state", state.toString())));
            assertTrue(!s.isBlank(), s);

            // a standby shares the primary's state directory (and its key pair): its own lock, not refused
            try (StandbyService standby = StandbyService.start(standbyConfig(state, "sha256:" + "00".repeat(32)),
                    Identity.load(state), DiskImage.Tools.installed())) {
                assertTrue(standby.port() > 0);
                assertTrue(text(state.resolve("standby.lock")).startsWith("pid=" + ME + "\n"));
            }
            assertTrue(first.alive(), first.output());
        }
    }

    @Test
    void afterTheFirstStandbyIsKilledWithKill9TheNextOneStarts() throws Exception {
        Path state = dir.resolve("standby");
        Identity.loadOrCreate(state, "standby");
        String primary = Identity.loadOrCreate(dir.resolve("primary-keys"), "primary").fingerprint();
        String[] args = {"standby", "--state", state.toString(), "--listen", "127.0.0.1:0", "--peer", primary,
            "--no-define"};
        Run first = Run.start(dir.resolve("first.log"), args).await("standby listening");
        Path lock = state.resolve("standby.lock");
        assertTrue(text(lock).startsWith("pid=" + first.pid() + "\n"), text(lock));
        first.kill9();
        assertTrue(text(lock).startsWith("pid=" + first.pid() + "\n"), "a killed holder's text stays");
        try (Run next = Run.start(dir.resolve("next.log"), args).await("standby listening")) {
            assertTrue(text(lock).startsWith("pid=" + next.pid() + "\n"), text(lock));
        }
    }

    @Test
    void afterTheFirstPrimaryIsKilledWithKill9TheNextOneStarts() throws Exception {
        Path state = dir.resolve("primary");
        Run first = startPrimary(state, "first");
        Path lock = state.resolve("primary.lock");
        assertTrue(text(lock).startsWith("pid=" + first.pid() + "\n"), text(lock));
        first.kill9();
        try (Run next = startPrimary(state, "next")) {
            assertTrue(text(lock).startsWith("pid=" + next.pid() + "\n"), text(lock));
            String s = StdoutCapture.of(() -> assertEquals(0, Main.execute("status", "--state", state.toString())));
            assertTrue(!s.isBlank(), s);
        }
    }

    @Test
    void aPrimaryStoppedBySigtermSaysWhatItStoppedBeforeItExits() throws Exception {
        Path state = dir.resolve("primary");
        Run primary = startPrimary(state, "stopped");
        primary.term();
        primary.waitFor(SECOND_WITHIN_MS);
        String out = primary.output();
        // the JVM halts when its shutdown hooks return: the hook waits for the close, so its last lines get out
        assertTrue(out.contains("stopping: no cycle running"), out);
        assertTrue(out.strip().endsWith("stopped"), out);
        try (Run next = startPrimary(state, "after")) { // the state directory is free again
            assertTrue(next.alive());
        }
    }

    private Run startPrimary(Path state, String name) throws Exception {
        return Run.start(dir.resolve(name + ".log"), primaryArgs(state)).await("primary running");
    }

    private String[] primaryArgs(Path state) throws IOException {
        return new String[] {"primary", "--state", state.toString(), "--policies",
            Files.createDirectories(dir.resolve("policies.d")).toString(), "--control", "127.0.0.1:0", "--scratch",
            Files.createDirectories(dir.resolve("scratch")).toString(), "--libvirt", "test:///default"};
    }

    private static StandbyConfig standbyConfig(Path state, String peer) {
        return new StandbyConfig(state, new InetSocketAddress("127.0.0.1", 0), "127.0.0.1:0", List.of(peer), null,
                "qemu:///system", false, "", null, 3, 30);
    }

    /**
     * Every file and directory under {@code root}: its type, size and modification time (a
     * directory's changes when an entry is made or removed, even if removed again), and every
     * file's SHA-256. Read by other processes ({@code find}, {@code sha256sum}): a file this JVM
     * opened and closed would lose the POSIX lock this JVM holds on it.
     */
    static String digest(Path root) {
        return Exec.run(Duration.ofSeconds(30), "/bin/sh", "-c", "cd \"$1\" && find . -printf '%p %y %s %T@\\n' | sort "
                + "&& find . -type f -print0 | sort -z | xargs -0 -r sha256sum", "sh", root.toString()).orThrow().stdout();
    }

    /** A file's text, read by {@code cat} (see {@link #digest}). */
    static String text(Path file) {
        return Exec.run(Duration.ofSeconds(10), "cat", file.toString()).orThrow().stdout();
    }

    /** {@code amirror ARGS...} as a process of this build (same Java, same class path), its output in a file. */
    static final class Run implements AutoCloseable {
        private final Process process;
        private final Path log;

        private Run(Process process, Path log) {
            this.process = process;
            this.log = log;
        }

        static Run start(Path log, String... args) throws IOException {
            List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "-cp",
                    System.getProperty("java.class.path"), "io.amirror.cli.Main"));
            cmd.addAll(List.of(args));
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
            return new Run(pb.start(), log);
        }

        /** Waits until the output holds {@code text} (a daemon saying it runs). */
        Run await(String text) throws Exception {
            long deadline = System.currentTimeMillis() + 60_000;
            while (System.currentTimeMillis() < deadline) {
                if (output().contains(text)) {
                    return this;
                }
                if (!process.isAlive()) {
                    throw new IllegalStateException("ended with " + process.exitValue() + " before '" + text + "': "
                            + output());
                }
                Thread.sleep(50);
            }
            throw new IllegalStateException("no '" + text + "' within 60 s: " + output());
        }

        int waitFor(long millis) throws Exception {
            if (!process.waitFor(millis, TimeUnit.MILLISECONDS)) {
                process.destroyForcibly().waitFor();
                throw new AssertionError("still running after " + millis + " ms: " + output());
            }
            return process.exitValue();
        }

        long pid() {
            return process.pid();
        }

        boolean alive() {
            return process.isAlive();
        }

        String output() throws IOException {
            return Files.exists(log) ? Files.readString(log) : "";
        }

        /** SIGTERM, as systemd stops a service. */
        void term() {
            process.destroy();
        }

        /** kill -9: the kernel drops the process's file locks, nothing of amirror's runs. */
        void kill9() throws Exception {
            process.destroyForcibly();
            assertTrue(process.waitFor(10, TimeUnit.SECONDS), "not dead after kill -9");
            assertEquals(137, process.exitValue(), "killed by SIGKILL");
        }

        @Override
        public void close() throws Exception {
            if (process.isAlive()) {
                process.destroy();
                if (!process.waitFor(20, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor();
                }
            }
        }
    }
}
