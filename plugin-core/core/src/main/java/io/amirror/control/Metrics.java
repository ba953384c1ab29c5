package io.amirror.control;

import io.amirror.control.StatusReport;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

import java.io.IOException;
import java.io.OutputStream;
import java.time.Instant;
import java.util.function.BiConsumer;
import java.util.function.ToDoubleFunction;

/**
 * The daemon's Prometheus metrics, read from one {@link PrimaryControl#status()} per scrape, one
 * series per replicated domain: RPO now and its target, bytes pending and the wire rate, the time
 * of the newest point on the standby, cycles and errors.
 */
public final class Metrics {
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final PrimaryControl service;
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
    /** The status of the scrape in progress, which every callback reads. */
    private StatusReport scraped;

    public Metrics(PrimaryControl service) {
        this.service = service;
        gauge("amirror_rpo_seconds", "Age of the newest point the standby holds (NaN before the first).",
                v -> v.rpoSeconds() == null ? Double.NaN : v.rpoSeconds());
        gauge("amirror_rpo_target_seconds", "The policy's RPO: the longest time between two scheduled points.",
                StatusReport.Domain::rpoTargetSeconds);
        gauge("amirror_rpo_missed", "1 when the newest point is older than the policy's alert threshold.",
                v -> "missed".equals(v.rpoState()) ? 1 : 0);
        gauge("amirror_pending_bytes", "Bytes of the point being shipped that the standby does not hold yet.",
                v -> v.pendingBytes() - v.shippedBytes());
        gauge("amirror_wire_rate_bits_per_second", "Rate of the transfer in progress (0 when idle).",
                StatusReport.Domain::rateBitsPerSecond);
        gauge("amirror_last_point_timestamp_seconds", "When the newest point on the standby was cut (0: none yet).",
                v -> v.lastPointAt() == null ? 0 : Instant.parse(v.lastPointAt()).toEpochMilli() / 1000.0);
        gauge("amirror_point_lag_seconds", "From the newest point's cut to the standby's acknowledgement (NaN: none yet).",
                v -> v.lastPointLagSeconds() == null ? Double.NaN : v.lastPointLagSeconds());
        gauge("amirror_worst_rpo_seconds", "The RPO achieved since the daemon started: the oldest the standby's newest "
                + "point got before a newer one landed (NaN: fewer than two points).",
                v -> v.worstRpoSeconds() == null ? Double.NaN : v.worstRpoSeconds());
        gauge("amirror_rpo_achievable_seconds", "The RPO the schedule and the link hold now: max(cycle, spacing) + "
                + "cycle, with the longest cut-to-acknowledgement of the last 5 points (NaN: no point yet).",
                v -> v.rpoAchievableSeconds() == null ? Double.NaN : v.rpoAchievableSeconds());
        counter("amirror_delta_bytes_sent", "Bytes of deltas sent to the standby since the daemon started.",
                StatusReport.Domain::deltaBytesSent);
        counter("amirror_cycles", "Replication cycles run.", StatusReport.Domain::cycles);
        counter("amirror_errors", "Replication cycles that failed.", StatusReport.Domain::errors);
        GaugeWithCallback.builder().name("amirror_standby_refusing").help("1 while the standby refuses the domain's "
                        + "points, by its reason (no_space, not_owner, too_large, promoted, ...); absent when it does not.")
                .labelNames("domain", "policy", "reason")
                .callback(cb -> scraped.domains().stream().filter(v -> v.standbyRefusal() != null)
                        .forEach(v -> cb.call(1, v.domain(), v.policy(), v.standbyRefusal())))
                .register(registry);
    }

    private void gauge(String name, String help, ToDoubleFunction<StatusReport.Domain> f) {
        GaugeWithCallback.builder().name(name).help(help).labelNames("domain", "policy")
                .callback(cb -> each((v, value) -> cb.call(value, v.domain(), v.policy()), f)).register(registry);
    }

    private void counter(String name, String help, ToDoubleFunction<StatusReport.Domain> f) {
        CounterWithCallback.builder().name(name).help(help).labelNames("domain", "policy")
                .callback(cb -> each((v, value) -> cb.call(value, v.domain(), v.policy()), f)).register(registry);
    }

    private void each(BiConsumer<StatusReport.Domain, Double> out, ToDoubleFunction<StatusReport.Domain> f) {
        for (StatusReport.Domain v : scraped.domains()) {
            out.accept(v, f.applyAsDouble(v));
        }
    }

    public String contentType() {
        return writer.getContentType();
    }

    /** One scrape; scrapes take turns, since they share {@link #scraped}. */
    public synchronized void write(OutputStream out) throws IOException {
        try {
            scraped = service.status();
        } catch (IOException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("cannot read status: " + e.getMessage(), e);
        }
        writer.write(out, registry.scrape());
    }
}
