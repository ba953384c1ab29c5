package io.amirror.primary;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Runs a policy's alert command: directly, never through a shell (domain names come from libvirt
 * and may hold any character), with the event in its environment, on its own thread so a slow
 * command never holds a cycle, and killed after {@link #TIMEOUT_SECONDS}.
 */
final class AlertCommand {
    private static final Logger log = LoggerFactory.getLogger(AlertCommand.class);
    static final int TIMEOUT_SECONDS = 60;
    private final ExecutorService runner = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "alert-command");
        t.setDaemon(true);
        return t;
    });

    void fire(List<String> command, Map<String, String> env) {
        runner.submit(() -> {
            try {
                ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
                pb.environment().putAll(env);
                Process p = pb.start();
                p.getOutputStream().close();
                if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    log.warn("alert command {} did not finish in {} s; killed", command, TIMEOUT_SECONDS);
                    return;
                }
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
                if (p.exitValue() != 0) {
                    log.warn("alert command {} exited {}: {}", command, p.exitValue(), out);
                }
            } catch (IOException e) {
                log.warn("cannot run alert command {}: {}", command, e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    void shutdown() {
        runner.shutdownNow();
    }
}
