package io.amirror.config;

import com.fasterxml.jackson.databind.JsonNode;
import io.amirror.util.HostPort;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * How {@code amirror primary} runs ({@code primary.schema.json}); every field has a default, and a
 * missing file means all defaults.
 *
 * @param metricsToken whether the control API's {@code /metrics} asks for the control token
 *                     ({@code "control": {"metricsToken": true}}); the other calls always do
 */
public record PrimaryConfig(Path stateDir, Path policyDir, Path scratchDir, String libvirtUri, InetSocketAddress controlListen,
                            boolean metricsToken, long spoolLimitBytes, int threads, int concurrentCycles, Timeouts timeouts,
                            Map<String, String> quartz) {

    /**
     * How long a stalled peer is waited for before a cycle fails.
     *
     * @param disk one read of a guest's disk through NBD
     * @param link silence of the standby on a connection
     */
    public record Timeouts(Duration disk, Duration link) {
        public static final Timeouts DEFAULT = new Timeouts(Duration.ofSeconds(120), Duration.ofSeconds(30));
    }

    public static final Path DEFAULT_FILE = Path.of("/etc/amirror/primary.json");
    public static final int DEFAULT_CONTROL_PORT = 9750;

    public static PrimaryConfig defaults() {
        return new PrimaryConfig(Path.of("/var/lib/amirror"), Path.of("/etc/amirror/policies.d"),
                Path.of("/var/lib/libvirt/amirror"), "qemu:///system",
                new InetSocketAddress("127.0.0.1", DEFAULT_CONTROL_PORT), false, 20L << 30,
                Runtime.getRuntime().availableProcessors(), 2, Timeouts.DEFAULT, Map.of());
    }

    /** Reads {@code file}; a missing default file is all defaults, a missing named file is an error. */
    public static PrimaryConfig load(Path file, boolean mustExist) throws ConfigException {
        if (!Files.exists(file) && !mustExist) {
            return defaults();
        }
        JsonNode d = PolicyLoader.readJson(PolicyLoader.readFile(file), file.toString());
        List<ConfigError> errors = SchemaCheck.named(SchemaCheck.PRIMARY).check(d, file.toString());
        if (!errors.isEmpty()) {
            throw new ConfigException(errors);
        }
        PrimaryConfig def = defaults();
        InetSocketAddress listen = def.controlListen();
        if (d.path("control").has("listen")) {
            try {
                listen = HostPort.parse(d.path("control").get("listen").asText());
            } catch (IllegalArgumentException e) {
                throw new ConfigException(new ConfigError(file.toString(), "/control/listen", e.getMessage(),
                        "use a loopback HOST:PORT with a port from 0 to 65535"));
            }
        }
        Map<String, String> quartz = new TreeMap<>();
        d.path("quartz").fields().forEachRemaining(e -> quartz.put(e.getKey(), e.getValue().asText()));
        return new PrimaryConfig(path(d, "stateDir", def.stateDir()), path(d, "policyDir", def.policyDir()),
                path(d, "scratchDir", def.scratchDir()),
                d.path("libvirtUri").asText(def.libvirtUri()), listen,
                d.path("control").path("metricsToken").asBoolean(def.metricsToken()),
                d.has("spoolLimit") ? bytes(d.get("spoolLimit").asText()) : def.spoolLimitBytes(),
                d.path("threads").asInt(def.threads()), d.path("concurrentCycles").asInt(def.concurrentCycles()),
                new Timeouts(duration(d.path("timeouts"), "disk", def.timeouts().disk()),
                        duration(d.path("timeouts"), "link", def.timeouts().link())),
                Map.copyOf(quartz));
    }

    private static Duration duration(JsonNode d, String field, Duration def) {
        return d.has(field) ? Durations.parse(d.get(field).asText()) : def;
    }

    private static Path path(JsonNode d, String field, Path def) {
        return d.has(field) ? Path.of(d.get(field).asText()) : def;
    }

    static long bytes(String s) {
        long n = Long.parseLong(s.substring(0, s.length() - 1));
        int shift = switch (s.charAt(s.length() - 1)) {
            case 'K' -> 10;
            case 'M' -> 20;
            case 'G' -> 30;
            default -> 40;
        };
        return n << shift;
    }

    public PrimaryConfig withStateDir(Path p) {
        return new PrimaryConfig(p, policyDir, scratchDir, libvirtUri, controlListen, metricsToken, spoolLimitBytes, threads, concurrentCycles, timeouts, quartz);
    }

    public PrimaryConfig withScratchDir(Path p) {
        return new PrimaryConfig(stateDir, policyDir, p, libvirtUri, controlListen, metricsToken, spoolLimitBytes, threads, concurrentCycles, timeouts, quartz);
    }

    public PrimaryConfig withLibvirtUri(String u) {
        return new PrimaryConfig(stateDir, policyDir, scratchDir, u, controlListen, metricsToken, spoolLimitBytes, threads, concurrentCycles, timeouts, quartz);
    }

    public PrimaryConfig withPolicyDir(Path p) {
        return new PrimaryConfig(stateDir, p, scratchDir, libvirtUri, controlListen, metricsToken, spoolLimitBytes, threads, concurrentCycles, timeouts, quartz);
    }

    public PrimaryConfig withControlListen(InetSocketAddress a) {
        return new PrimaryConfig(stateDir, policyDir, scratchDir, libvirtUri, a, metricsToken, spoolLimitBytes, threads, concurrentCycles, timeouts, quartz);
    }
}
