package io.amirror.standby;

import com.sun.net.httpserver.HttpServer;
import io.amirror.image.DiskImage;
import io.amirror.transport.Receiver;
import io.amirror.transport.WireMessage;
import io.amirror.transport.WireMessage.Refuse;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * The standby's Prometheus metrics: per replica its point, the point's age and time, the recovery
 * points kept, its size, whether it was promoted, and its last drill; per primary connection what
 * was received and applied, what was refused (by the REFUSE's reason) and the connections dropped
 * before they were served (by {@link Receiver.Drop}); the free space for replicas.
 *
 * <p>The replica series are read from the state files ({@link ReplicaReport}) once per scrape (by
 * its first series); the counters are counted by {@link StandbyConnection} as it answers. Served
 * at {@code /metrics} on the configured address ({@code "metrics": {"listen": …}}), in the
 * Prometheus text format, or written by {@link #write}.
 */
public final class StandbyMetrics implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(StandbyMetrics.class);
    private static final String[] REPLICA_LABELS = {"domain", "replica", "uuid"};

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
    private final Path replicas;
    private final DiskImage.Tools tools;
    private final Map<UUID, LongAdder> received = new ConcurrentHashMap<>();
    private final Map<UUID, LongAdder> applied = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> refused = new ConcurrentHashMap<>();
    private volatile Supplier<Receiver.Stats> connections = () -> new Receiver.Stats(0, 0, Map.of());
    private HttpServer server;
    /** Written by {@link #write} before the scrape its series read; scrapes take turns. */
    private volatile List<ReplicaReport.Entry> report = List.of();

    StandbyMetrics(Path replicas, DiskImage.Tools tools) {
        this.replicas = replicas;
        this.tools = tools;
        GaugeWithCallback.builder().name("amirror_standby_replicas").help("Replicas this standby holds.")
                .callback(cb -> cb.call(report().size())).register(registry);
        gauge("amirror_standby_point", "The point the replica is at (0: none yet).",
                e -> e.point() == null ? 0 : e.point());
        gauge("amirror_standby_point_age_seconds", "Age of the replica's point, from its cut on the primary when "
                + "known, else from its apply here (NaN: no point).", e -> e.ageSeconds() == null ? Double.NaN : e.ageSeconds());
        gauge("amirror_standby_point_timestamp_seconds", "When the replica's point was cut (or applied, when the cut "
                + "time is unknown); 0: no point.", e -> seconds(e.cutAt() != null ? e.cutAt() : e.appliedAt()));
        gauge("amirror_standby_kept_points", "Recovery points kept (the fewest of the replica's disks).",
                e -> e.disks().stream().mapToInt(d -> d.points().size()).min().orElse(0));
        gauge("amirror_standby_replica_bytes", "Bytes the replica's images take on the standby's disk, with their "
                + "recovery points.", e -> e.disks().stream().mapToLong(ReplicaReport.Disk::allocatedBytes).sum());
        gauge("amirror_standby_promoted", "1 once the replica was started as the domain (failover, switchover).",
                e -> e.promoted() != null ? 1 : 0);
        GaugeWithCallback.builder().name("amirror_standby_last_drill_passed").help("1 when the replica's last drill "
                        + "passed (the guest came up and every check passed), 0 when it failed; absent before a drill.")
                .labelNames(REPLICA_LABELS).callback(cb -> {
                    for (ReplicaReport.Entry e : report()) {
                        if (e.lastDrill() != null) {
                            cb.call(e.lastDrill().passed() ? 1 : 0, labels(e));
                        }
                    }
                }).register(registry);
        GaugeWithCallback.builder().name("amirror_standby_last_drill_timestamp_seconds").help("When the replica's "
                        + "last drill ended; absent before a drill.")
                .labelNames(REPLICA_LABELS).callback(cb -> {
                    for (ReplicaReport.Entry e : report()) {
                        if (e.lastDrill() != null) {
                            cb.call(seconds(e.lastDrill().endedAt()), labels(e));
                        }
                    }
                }).register(registry);
        GaugeWithCallback.builder().name("amirror_standby_last_drill_boot_seconds").help("From the last drill's start "
                        + "to its guest agent's first answer (NaN: no agent answered); absent before a drill.")
                .labelNames(REPLICA_LABELS).callback(cb -> {
                    for (ReplicaReport.Entry e : report()) {
                        if (e.lastDrill() != null) {
                            Double b = e.lastDrill().bootSeconds();
                            cb.call(b == null ? Double.NaN : b, labels(e));
                        }
                    }
                }).register(registry);
        GaugeWithCallback.builder().name("amirror_standby_free_bytes").help("Free space where the replicas are.")
                .callback(cb -> cb.call(free())).register(registry);
        CounterWithCallback.builder().name("amirror_standby_received_bytes").help("Bytes of deltas received from "
                        + "primaries since the standby started.").labelNames("uuid")
                .callback(cb -> received.forEach((u, n) -> cb.call(n.sum(), u.toString()))).register(registry);
        CounterWithCallback.builder().name("amirror_standby_disk_points_applied").help("Deltas of disks applied (or "
                        + "held for their point's other disks) since the standby started.").labelNames("uuid")
                .callback(cb -> applied.forEach((u, n) -> cb.call(n.sum(), u.toString()))).register(registry);
        CounterWithCallback.builder().name("amirror_standby_refused").help("Requests of authenticated primaries "
                        + "refused since the standby started, by reason (not_owner, no_space, too_large, promoted, ...).")
                .labelNames("reason")
                .callback(cb -> refused.forEach((r, n) -> cb.call(n.sum(), r))).register(registry);
        CounterWithCallback.builder().name("amirror_standby_connections_dropped").help("Connections dropped before "
                        + "they were served, by reason (handshake_failed: a peer neither pinned nor signed by the CA).")
                .labelNames("reason")
                .callback(cb -> connections.get().dropped().forEach((d, n) -> cb.call(n, d.name().toLowerCase())))
                .register(registry);
    }

    private void gauge(String name, String help, ToDoubleFunction<ReplicaReport.Entry> f) {
        GaugeWithCallback.builder().name(name).help(help).labelNames(REPLICA_LABELS).callback(cb -> {
            for (ReplicaReport.Entry e : report()) {
                cb.call(f.applyAsDouble(e), labels(e));
            }
        }).register(registry);
    }

    private static String[] labels(ReplicaReport.Entry e) {
        return new String[] {e.domain() == null ? "" : e.domain(), e.replicaDomain() == null ? "" : e.replicaDomain(),
                e.uuid()};
    }

    private static double seconds(String instant) {
        return instant == null ? 0 : Instant.parse(instant).toEpochMilli() / 1000.0;
    }

    /** The replicas as their state files say now, for the series of this scrape. */
    private void refresh() {
        try {
            report = Files.isDirectory(replicas) ? ReplicaReport.of(replicas, tools, Instant.now(), null) : List.of();
        } catch (IOException | RuntimeException e) {
            log.warn("metrics: cannot read the replicas: {}", e.toString());
        }
    }

    /** The replicas as the scrape in progress read them ({@link #refresh}). */
    private List<ReplicaReport.Entry> report() {
        return report;
    }

    private double free() {
        try {
            Path p = Files.isDirectory(replicas) ? replicas : replicas.getParent();
            return Files.getFileStore(p).getUsableSpace();
        } catch (IOException e) {
            return Double.NaN;
        }
    }

    void connections(Supplier<Receiver.Stats> stats) {
        this.connections = stats;
    }

    void received(UUID domain, long bytes) {
        received.computeIfAbsent(domain, k -> new LongAdder()).add(bytes);
    }

    /** Counts what an answer says: an ACK of a disk's delta, or a REFUSE by its reason. */
    WireMessage answered(UUID domain, WireMessage answer) {
        if (answer instanceof WireMessage.Ack && domain != null) {
            applied.computeIfAbsent(domain, k -> new LongAdder()).increment();
        } else if (answer instanceof Refuse r) {
            refused.computeIfAbsent(Refuse.reasonName(r.code()), k -> new LongAdder()).increment();
        }
        return answer;
    }

    /**
     * Serves {@code GET /metrics} on {@code listen} (one thread: scrapes take turns); returns the
     * port (the chosen one for port 0).
     */
    int serve(InetSocketAddress listen) throws IOException {
        server = HttpServer.create(listen, 4);
        server.createContext("/metrics", exchange -> {
            try (exchange) {
                if (!exchange.getRequestMethod().equals("GET")) {
                    exchange.sendResponseHeaders(405, -1);
                    return;
                }
                java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
                try {
                    write(body);
                } catch (IOException | RuntimeException e) {
                    log.warn("metrics: scrape failed: {}", e.toString());
                    exchange.sendResponseHeaders(500, -1);
                    return;
                }
                exchange.getResponseHeaders().set("Content-Type", writer.getContentType());
                exchange.sendResponseHeaders(200, body.size());
                exchange.getResponseBody().write(body.toByteArray());
            }
        });
        server.setExecutor(null); // the server's own thread
        server.start();
        int port = server.getAddress().getPort();
        log.info("standby metrics on http://{}:{}/metrics", listen.getHostString(), port);
        return port;
    }

    /** One scrape in the Prometheus text format: the replicas read once, then every series. */
    public synchronized void write(OutputStream out) throws IOException {
        refresh();
        writer.write(out, registry.scrape());
    }

    @Override
    public void close() {
        if (server != null) {
            server.stop(0);
        }
    }
}
