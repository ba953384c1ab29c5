package io.amirror.util;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs an external program with a hard deadline and captures its output.
 *
 * <p>Every host tool amirror calls (qemu-img, qemu-nbd, mkfs, apt-get) goes through here so that no
 * caller can hang on a stuck child: when the deadline passes, the whole process tree is killed and
 * {@link ExecTimeoutException} says which command it was.
 */
public final class Exec {

    /** What a finished command left behind. Output is decoded as UTF-8 with replacement. */
    public record Result(List<String> command, int exitCode, String stdout, String stderr) {
        public boolean ok() {
            return exitCode == 0;
        }

        /** Returns this result, or throws with the command, its exit code and its stderr. */
        public Result orThrow() {
            if (exitCode != 0) {
                throw new ExecFailedException(this);
            }
            return this;
        }
    }

    /** A command exited with a non-zero status. */
    public static final class ExecFailedException extends RuntimeException {
        private final Result result;

        ExecFailedException(Result result) {
            super(String.join(" ", result.command()) + " exited with " + result.exitCode()
                    + (result.stderr().isBlank() ? "" : ": " + lastLines(result.stderr(), 5)));
            this.result = result;
        }

        public Result result() {
            return result;
        }
    }

    /** A command did not finish before its deadline and was killed. */
    public static final class ExecTimeoutException extends RuntimeException {
        ExecTimeoutException(List<String> command, Duration timeout) {
            super(String.join(" ", command) + " did not finish within " + timeout.toSeconds() + " s and was killed");
        }
    }

    private Exec() {
    }

    public static Result run(Duration timeout, String... command) {
        return run(List.of(command), null, Map.of(), timeout);
    }

    /**
     * Runs {@code command} in {@code workDir} (null: the current one) with {@code extraEnv} added to
     * the environment. Standard input is closed, so a tool that prompts fails instead of waiting.
     */
    public static Result run(List<String> command, Path workDir, Map<String, String> extraEnv, Duration timeout) {
        ProcessBuilder pb = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(nullDevice()));
        if (workDir != null) {
            pb.directory(workDir.toFile());
        }
        pb.environment().putAll(extraEnv);
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + command.get(0) + ": " + e.getMessage(), e);
        }
        StreamSink out = new StreamSink(p.getInputStream());
        StreamSink err = new StreamSink(p.getErrorStream());
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
                throw new ExecTimeoutException(command, timeout);
            }
            return new Result(List.copyOf(command), p.exitValue(), out.text(), err.text());
        } catch (InterruptedException e) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running " + command.get(0), e);
        }
    }

    /**
     * Where the host's own tools are looked for: the system directories, never the caller's PATH (a
     * daemon started by systemd or a hook has a minimal one, and root must not run what a user put first).
     */
    public static final String SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /**
     * The path of host tool {@code name} (qemu-img, qemu-nbd, qemu-io, nbdinfo, ...) on {@link #SYSTEM_PATH},
     * for a command line; an error naming it when it is not installed.
     */
    public static String tool(String name) {
        Path p = which(name, SYSTEM_PATH);
        if (p == null) {
            throw new IllegalStateException(name + " is not installed (the quick start installs the Debian package that has it)");
        }
        return p.toString();
    }

    /** Whether an executable named {@code name} is on {@code searchPath} (a PATH-style list). */
    public static Path which(String name, String searchPath) {
        for (String dir : searchPath.split(":")) {
            if (dir.isEmpty()) {
                continue;
            }
            Path candidate = Path.of(dir, name);
            if (Files.isExecutable(candidate) && !Files.isDirectory(candidate)) {
                return candidate;
            }
        }
        return null;
    }

    static String lastLines(String text, int n) {
        String[] lines = text.strip().split("\n");
        int from = Math.max(0, lines.length - n);
        return String.join(" | ", Arrays.copyOfRange(lines, from, lines.length));
    }

    private static File nullDevice() {
        return new File("/dev/null");
    }

    /** Drains a child's stream on its own thread so a chatty child never blocks on a full pipe. */
    private static final class StreamSink {
        private final ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        private final Thread thread;

        StreamSink(InputStream in) {
            thread = new Thread(() -> {
                try (in) {
                    in.transferTo(buffer);
                } catch (IOException ignored) {
                    // the child died; what we have is what there is
                }
            }, "exec-sink");
            thread.setDaemon(true);
            thread.start();
        }

        String text() throws InterruptedException {
            thread.join(5000);
            synchronized (buffer) {
                return buffer.toString(StandardCharsets.UTF_8);
            }
        }
    }
}
