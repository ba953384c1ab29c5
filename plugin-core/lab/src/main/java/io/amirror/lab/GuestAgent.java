package io.amirror.lab;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.amirror.util.Pause;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.function.Supplier;

/**
 * Drives a lab guest through its QEMU guest agent (libvirt's {@code qemuAgentCommand}): the way
 * tests reach a distribution guest, which has no lab console. {@link #exec} runs a program with
 * {@code guest-exec} and polls {@code guest-exec-status} until it ends; {@link #sh} runs a shell
 * line and fails unless it exits 0.
 */
public final class GuestAgent {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int COMMAND_SECONDS = 10;

    private final Supplier<Domain> domain;
    private final String label;

    GuestAgent(Supplier<Domain> domain, String label) {
        this.domain = domain;
        this.label = label;
    }

    /** The agent of domain {@code name} on {@code libvirt}, looked up at each command (it may be redefined). */
    public static GuestAgent of(org.libvirt.Connect libvirt, String name) {
        return new GuestAgent(() -> {
            try {
                return libvirt.domainLookupByName(name);
            } catch (LibvirtException e) {
                throw new GuestException("domain " + name + " is not known to libvirt: " + e.getMessage(), e);
            }
        }, name);
    }

    /** A program's end: its exit status and what it wrote. */
    public record Result(int exitCode, String stdout, String stderr) {
        public Result orThrow(String what) {
            if (exitCode != 0) {
                throw new GuestException(what + " exited " + exitCode + ": " + stdout + stderr);
            }
            return this;
        }
    }

    /** Whether the agent answers a {@code guest-ping} now. */
    public boolean ping() {
        try {
            domain.get().qemuAgentCommand("{\"execute\":\"guest-ping\"}", 5, 0);
            return true;
        } catch (LibvirtException | GuestException e) {
            return false;
        }
    }

    /** Waits until the agent answers; returns how long that took. */
    public Duration awaitAnswering(Duration timeout) {
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (ping()) {
                return Duration.ofNanos(System.nanoTime() - start);
            }
            Pause.millis(1000);
        }
        throw new GuestException("the guest agent of " + label + " did not answer within " + timeout.toSeconds() + " s");
    }

    /** Runs {@code path} with {@code args} in the guest and waits for it to end. */
    public Result exec(Duration timeout, String path, String... args) {
        ObjectNode req = JSON.createObjectNode().put("execute", "guest-exec");
        ObjectNode a = req.putObject("arguments");
        a.put("path", path);
        var argv = a.putArray("arg");
        for (String s : args) {
            argv.add(s);
        }
        a.put("capture-output", true);
        long pid = call(req.toString()).path("pid").asLong(-1);
        if (pid < 0) {
            throw new GuestException("the guest agent of " + label + " started no process for " + path);
        }
        String status = "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":" + pid + "}}";
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            JsonNode r = call(status);
            if (r.path("exited").asBoolean(false)) {
                return new Result(r.path("exitcode").asInt(-1), decode(r.path("out-data")), decode(r.path("err-data")));
            }
            Pause.millis(200);
        }
        throw new GuestException(path + " " + List.of(args) + " did not end within " + timeout.toSeconds() + " s in " + label);
    }

    /** Runs {@code line} with {@code /bin/sh -c}; fails unless it exits 0; returns its standard output. */
    public String sh(String line, Duration timeout) {
        return exec(timeout, "/bin/sh", "-c", line).orThrow("'" + line + "' in " + label).stdout();
    }

    /** {@link #sh} with two minutes to end. */
    public String sh(String line) {
        return sh(line, Duration.ofMinutes(2));
    }

    private JsonNode call(String json) {
        try {
            return JSON.readTree(domain.get().qemuAgentCommand(json, COMMAND_SECONDS, 0)).path("return");
        } catch (LibvirtException | IOException e) {
            throw new GuestException("guest agent of " + label + ": " + e.getMessage(), e);
        }
    }

    private static String decode(JsonNode b64) {
        return b64.isMissingNode() ? "" : new String(Base64.getDecoder().decode(b64.asText()), StandardCharsets.UTF_8);
    }
}
