package io.amirror.lab;


import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The amirror CLI as a separate process of the same build (same Java, same class path), optionally
 * inside a network namespace: the demo's standby and shipper, and the kill -9 trials' victims.
 */
public final class AmirrorProcess implements AutoCloseable {
    private final Process process;
    private final Path log;

    private AmirrorProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    private static List<String> command() {
        return List.of(ProcessHandle.current().info().command().orElse("java"), "-cp",
                System.getProperty("java.class.path"), "io.amirror.cli.Main");
    }

    /**
     * Writes an executable shell script at {@code file} that runs this build's CLI, for programs
     * that want an {@code amirror} command (the libvirt hook).
     */
    public static Path launcher(Path file) throws IOException {
        StringBuilder sh = new StringBuilder("#!/bin/sh\nexec");
        for (String c : command()) {
            sh.append(" '").append(c.replace("'", "'\\''")).append('\'');
        }
        Files.writeString(file, sh.append(" \"$@\"\n").toString());
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
        return file;
    }

    public static AmirrorProcess start(String namespace, Path log, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(command());
        cmd.addAll(List.of(args));
        List<String> full = namespace == null ? cmd : NetnsLink.in(namespace, cmd);
        Process p = new ProcessBuilder(full).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        return new AmirrorProcess(p, log);
    }

    /** Waits for a line containing {@code text} in the log (a server saying it listens). */
    public AmirrorProcess awaitLog(String text, long timeoutMillis) throws Exception {
        return awaitLog(text, 1, timeoutMillis);
    }

    /** Waits until {@code text} is in the log {@code times} times (a daemon's second reload, say). */
    public AmirrorProcess awaitLog(String text, int times, long timeoutMillis) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (System.currentTimeMillis() < deadline) {
            if (logCount(text) >= times) {
                return this;
            }
            if (!process.isAlive()) {
                throw new IllegalStateException("amirror " + "process ended: " + Files.readString(log));
            }
            Thread.sleep(50);
        }
        throw new IllegalStateException("no '" + text + "' " + (times == 1 ? "" : times + " times ") + "in " + log
                + ": " + Files.readString(log));
    }

    /** How many times {@code text} is in the log so far. */
    public int logCount(String text) throws IOException {
        if (!Files.exists(log)) {
            return 0;
        }
        String s = Files.readString(log);
        int n = 0;
        for (int at = s.indexOf(text); at >= 0; at = s.indexOf(text, at + text.length())) {
            n++;
        }
        return n;
    }

    public int waitFor(long seconds) throws Exception {
        if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new IllegalStateException("process did not end in " + seconds + " s: " + Files.readString(log));
        }
        return process.exitValue();
    }

    public String output() throws IOException {
        return Files.readString(log);
    }

    /** kill -9 of the process itself (ip netns exec replaces itself with the command, so this is it). */
    public void kill9() throws Exception {
        process.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }

    /**
     * SIGTERM, as systemd stops a service, then waits for the process to end (a daemon lets its
     * running cycles finish); kill -9 if it has not ended in {@code grace}.
     */
    public void stop(Duration grace) throws Exception {
        process.destroy();
        if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
            kill9();
            throw new IllegalStateException("process did not stop within " + grace.toSeconds() + " s of SIGTERM: "
                    + Files.readString(log));
        }
    }

    /** The process's id (with a network namespace, {@code ip netns exec} has become the process itself). */
    public long pid() {
        return process.pid();
    }

    /** CPU time the process has used so far (user and system), in seconds; -1 if the OS does not say. */
    public double cpuSeconds() {
        return process.toHandle().info().totalCpuDuration().map(d -> d.toMillis() / 1000.0).orElse(-1.0);
    }

    public boolean alive() {
        return process.isAlive();
    }

    @Override
    public void close() throws Exception {
        if (process.isAlive()) {
            kill9();
        }
    }
}
