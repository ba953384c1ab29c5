package io.amirror.primary;

import io.amirror.transport.WireMessage;

import io.amirror.transport.Sender;
import io.amirror.util.Units;

import io.amirror.control.StatusReport;

import java.time.Duration;
import java.time.Instant;

/**
 * What the daemon knows about one replicated domain, updated by its cycles and read by status,
 * metrics and alerts. Thread-safe: a cycle writes while the control API reads.
 */
public final class DomainStatus {

    /** What the domain's replication is doing now. */
    /** VERIFYING counts the replica bytes the standby has read in shipped/pending bytes. */
    public enum Phase { IDLE, CAPTURING, SHIPPING, VERIFYING }

    /** One read of the status, as {@code amirror status --json} prints it ({@code status.schema.json}). */

    private final String domain;
    private String policy;
    private String standby;
    private String standbyFingerprint;
    private Duration rpoTarget;
    private Duration alertAfter;
    private String uuid;
    private Phase phase = Phase.IDLE;
    private Integer lastPoint;
    private Instant lastPointAt;
    private String consistency;
    private long pendingBytes;
    private long shippedBytes;
    private long resumedBytes;
    private long shipStartNanos;
    private double rateBitsPerSecond;
    private long cycles;
    private long errors;
    private String lastError;
    /** Why the standby refused the last cycle ({@link WireMessage.Refuse#reasonName}), null when it did not. */
    private String standbyRefusal;
    private Instant lastErrorAt;
    private Instant syncRequestedAt;
    private Instant lastCycleStartedAt;
    private Instant lastCycleEndedAt;
    private Long lastCycleDeltaBytes;
    private Double lastCycleSeconds;
    private String lastRepair;
    private String lastVerify;
    private boolean rpoMissed;
    private long deltaBytesSent;
    private long pointsAcknowledged;
    private Double lastPointLagSeconds;
    private Duration worstRpo;
    private CaptureMeter capture;
    private Long lastCycleBytesRead;
    private java.util.List<String> lastCycleReadWhole;
    private Duration spacing;
    /** Cut to acknowledgement of the newest points, newest last. */
    private final java.util.ArrayDeque<Duration> recentLags = new java.util.ArrayDeque<>();
    static final int RECENT_CYCLES = 5;
    private boolean unsustainable;

    public DomainStatus(String domain) {
        this.domain = domain;
    }

    public String domain() {
        return domain;
    }

    public synchronized void assign(String policy, String standby, Duration rpoTarget, Duration alertAfter) {
        assign(policy, standby, rpoTarget, alertAfter, rpoTarget);
    }

    /** The key the policy pins for its standby (a switchover talks to it, an admin compares it). */
    public synchronized void pinned(String fingerprint) {
        this.standbyFingerprint = fingerprint;
    }

    /** {@code spacing}: the least time between two cuts the schedule allows (its interval, or its widest gap). */
    public synchronized void assign(String policy, String standby, Duration rpoTarget, Duration alertAfter,
                                    Duration spacing) {
        this.policy = policy;
        this.standby = standby;
        this.rpoTarget = rpoTarget;
        this.alertAfter = alertAfter;
        this.spacing = spacing;
    }

    /**
     * The RPO this schedule and link hold now: a point is exposed from its cut until the next one
     * is acknowledged, and the next cut comes after the spacing or, when the cycle took longer, at
     * its end: max(cycle, spacing) + cycle, with the longest cut-to-acknowledgement of the last
     * {@value #RECENT_CYCLES} points as the cycle (a point's size follows the guest's change rate,
     * its time the compression and the link's current rate and windows). Null before a point.
     */
    public synchronized Duration rpoAchievable() {
        if (recentLags.isEmpty() || spacing == null) {
            return null;
        }
        Duration cycle = longestRecentLag();
        return (cycle.compareTo(spacing) > 0 ? cycle : spacing).plus(cycle);
    }

    /** The alert threshold of the newest point's age, or null. */
    public synchronized Duration alertAfter() {
        return alertAfter;
    }

    /** The longest cut-to-acknowledgement of the last {@value #RECENT_CYCLES} points; zero before one. */
    public synchronized Duration longestRecentLag() {
        return recentLags.stream().max(Duration::compareTo).orElse(Duration.ZERO);
    }

    /**
     * Whether the achievable RPO just went beyond the alert threshold (a continuous target by
     * default; twice an interval, which a point every interval always exceeds by its own cycle):
     * true once per such transition, so the "cannot be held" alert runs once, not at every check.
     */
    public synchronized boolean checkUnsustainableTransition() {
        Duration a = rpoAchievable();
        boolean beyond = a != null && alertAfter != null && a.compareTo(alertAfter) > 0;
        boolean transition = beyond && !unsustainable;
        unsustainable = beyond;
        return transition;
    }

    public synchronized void cycleStarted() {
        this.lastCycleStartedAt = Instant.now();
        this.lastError = null;
    }

    public synchronized void uuid(String uuid) {
        this.uuid = uuid;
    }

    public synchronized void known(String uuid, Integer point, Instant at) {
        this.uuid = uuid;
        if (point != null && (lastPoint == null || point > lastPoint)) {
            this.lastPoint = point;
            this.lastPointAt = at;
        }
    }

    /** The chain broke and was replaced; {@code what} says why and what the repair cost. */
    public synchronized void repaired(String what) {
        lastRepair = Instant.now() + ": " + what;
    }

    /** A verify ran; {@code what} is its outcome. */
    public synchronized void verified(Instant at, String what) {
        lastVerify = at + ": " + what;
    }

    public synchronized void phase(Phase p) {
        this.phase = p;
    }

    /** A capture begins; {@code meter} hears its reads, which status shows until the phase moves on. */
    public synchronized void capturing(CaptureMeter meter) {
        phase = Phase.CAPTURING;
        capture = meter;
    }

    /** What the cycle's capture read: {@code bytesRead} in all, the disks in {@code readWhole} in full. */
    public synchronized void captured(long bytesRead, java.util.List<String> readWhole) {
        lastCycleBytesRead = bytesRead;
        lastCycleReadWhole = java.util.List.copyOf(readWhole);
    }

    public synchronized void shipping(long totalBytes) {
        progressing(Phase.SHIPPING, totalBytes);
    }

    /** A verify begins: the standby will read {@code totalBytes} of replica. */
    public synchronized void verifying(long totalBytes) {
        progressing(Phase.VERIFYING, totalBytes);
    }

    private void progressing(Phase p, long totalBytes) {
        phase = p;
        pendingBytes = totalBytes;
        shippedBytes = 0;
        resumedBytes = 0;
        rateBitsPerSecond = 0; // the last transfer's rate says nothing of this one
        shipStartNanos = System.nanoTime();
    }

    /** The standby had {@code bytes} of a delta from an earlier attempt: they count as held, not as sent. */
    public synchronized void resumed(long bytes) {
        resumedBytes += bytes;
    }

    /** The standby now holds {@code held} bytes of what is being shipped. */
    public synchronized void shipped(long held) {
        shippedBytes = held;
        double s = (System.nanoTime() - shipStartNanos) / 1e9;
        if (s > 0.5) {
            rateBitsPerSecond = (held - resumedBytes) * 8 / s;
        }
    }

    /** Bytes of a delta went over the link (not counting what the standby held from an earlier attempt). */
    public synchronized void sent(long bytes) {
        deltaBytesSent += bytes;
    }

    /**
     * The standby acknowledged {@code point}, cut at {@code cutAt}, at {@code ackedAt}. Until then a
     * failover would have lost everything since the previous point's cut: that age, taken at each
     * acknowledgement, is the RPO achieved, and the worst of them is kept.
     */
    public synchronized void acknowledged(int point, Instant cutAt, Instant ackedAt, String consistency, long deltaBytes) {
        if (lastPointAt != null) {
            Duration exposed = Duration.between(lastPointAt, ackedAt);
            if (worstRpo == null || exposed.compareTo(worstRpo) > 0) {
                worstRpo = exposed;
            }
        }
        pointsAcknowledged++;
        lastPointLagSeconds = Duration.between(cutAt, ackedAt).toMillis() / 1000.0;
        recentLags.addLast(Duration.between(cutAt, ackedAt).isNegative() ? Duration.ZERO : Duration.between(cutAt, ackedAt));
        while (recentLags.size() > RECENT_CYCLES) {
            recentLags.removeFirst();
        }
        lastPoint = point;
        lastPointAt = cutAt;
        this.consistency = consistency;
        pendingBytes = 0;
        shippedBytes = 0;
        lastCycleDeltaBytes = deltaBytes;
    }

    public synchronized void cycleEnded(Throwable failure) {
        phase = Phase.IDLE;
        cycles++;
        lastCycleEndedAt = Instant.now();
        lastCycleSeconds = lastCycleStartedAt == null ? null
                : Duration.between(lastCycleStartedAt, lastCycleEndedAt).toMillis() / 1000.0;
        standbyRefusal = failure instanceof Sender.RefusedException r ? WireMessage.Refuse.reasonName(r.refusal().code()) : null;
        if (failure != null) {
            errors++;
            lastError = failure.getMessage() == null ? failure.toString() : failure.getMessage();
            lastErrorAt = lastCycleEndedAt;
        }
    }

    public synchronized void syncRequested(Instant at) {
        syncRequestedAt = at;
    }

    /**
     * The newest point's age, or empty before the first point; never negative (a clock set back
     * since the cut makes it 0 until the next point, which the schedule runs on time all the same).
     */
    public synchronized Duration rpoNow(Instant now) {
        if (lastPointAt == null) {
            return null;
        }
        Duration d = Duration.between(lastPointAt, now);
        return d.isNegative() ? Duration.ZERO : d;
    }

    /**
     * Whether the RPO is missed now; returns true once per transition from met to missed, so the
     * alert runs once per miss, not at every check.
     */
    public synchronized boolean checkRpoMissedTransition(Instant now, Instant daemonStart) {
        if (alertAfter == null) {
            return false;
        }
        boolean missed = beyondAlert(Duration.between(lastPointAt != null ? lastPointAt : daemonStart, now));
        boolean transition = missed && !rpoMissed;
        rpoMissed = missed;
        return transition;
    }

    /** The one rule for a missed RPO: the newest point is older than the policy's alert threshold. */
    private boolean beyondAlert(Duration age) {
        return alertAfter != null && age.compareTo(alertAfter) > 0;
    }

    /**
     * Why there is no point yet and how far the first copy is, for an alert that fires before the
     * first point: "being captured: 1.20 GB of 3.40 GB read, about 6m left"; null once a point exists.
     */
    public synchronized String firstCopyProgress() {
        if (lastPoint != null) {
            return null;
        }
        if (phase == Phase.CAPTURING && capture != null) {
            CaptureMeter.View v = capture.view();
            return "the first copy is being captured: " + Units.bytes(v.bytesRead()) + " of "
                    + (v.disksPlanned() < v.disks() ? "at least " : "") + Units.bytes(v.bytesToRead()) + " read"
                    + (v.etaSeconds() == null ? "" : ", about " + Units.duration(v.etaSeconds()) + " left to read");
        }
        if (phase == Phase.SHIPPING) {
            Long eta = shipEtaSeconds();
            String left = eta == null ? "" : ", about " + Units.duration(eta) + " left";
            return "the first copy is being shipped: " + Units.bytes(shippedBytes) + " of " + Units.bytes(pendingBytes)
                    + " on the standby" + left;
        }
        if (lastError != null) {
            return "the first copy's last attempt failed (" + lastError + ")";
        }
        return cycles == 0 && lastCycleStartedAt == null ? "the first copy has not started yet"
                : "the first copy is in progress";
    }

    /** The newest point the standby acknowledged, or null before the first. */
    public synchronized Integer lastPoint() {
        return lastPoint;
    }

    /**
     * What a cycle in progress is doing and what a stop now would mean for it, e.g. "shipping
     * 2.10 MB of 5.00 MB: the next start resumes it at its byte offset"; null when none runs.
     */
    public synchronized String inFlight() {
        return switch (phase) {
            case IDLE -> null;
            case CAPTURING -> "capturing: the next start captures again from the last acknowledged point";
            case SHIPPING -> "shipping " + Units.bytes(shippedBytes) + " of " + Units.bytes(pendingBytes)
                    + ": the next start resumes it where the standby's copy ends";
            case VERIFYING -> "verifying: the next verify starts over";
        };
    }

    /** The last cycle's error, or null. */
    public synchronized String lastError() {
        return lastError;
    }

    public synchronized String policy() {
        return policy;
    }

    public synchronized StatusReport.Domain view(Instant now, Instant nextRun) {
        Duration age = rpoNow(now);
        String state;
        if (age == null) {
            state = "no-point-yet";
        } else if (beyondAlert(age)) {
            state = "missed";
        } else {
            state = "ok";
        }
        boolean moving = phase == Phase.SHIPPING || phase == Phase.VERIFYING;
        Long eta = moving ? shipEtaSeconds() : null;
        return new StatusReport.Domain(domain, uuid, policy, standby, phase.name().toLowerCase(), lastPoint, str(lastPointAt),
                age == null ? null : age.toSeconds(), rpoTarget == null ? 0 : rpoTarget.toSeconds(),
                alertAfter == null ? 0 : alertAfter.toSeconds(), state, pendingBytes, shippedBytes,
                moving ? rateBitsPerSecond : 0, eta, str(nextRun), consistency, cycles, errors,
                lastError, str(lastErrorAt), str(syncRequestedAt), str(lastCycleStartedAt), str(lastCycleEndedAt), lastCycleDeltaBytes,
                lastCycleSeconds, lastRepair, lastVerify, deltaBytesSent, pointsAcknowledged, lastPointLagSeconds,
                worstRpo == null ? null : worstRpo.toSeconds(), standbyRefusal, captureView(), lastCycleBytesRead,
                lastCycleReadWhole, rpoAchievable() == null ? null : rpoAchievable().toSeconds(), standbyFingerprint);
    }

    /** Seconds until the transfer in progress ends at its current rate; null while the rate is unknown. */
    private Long shipEtaSeconds() {
        return rateBitsPerSecond > 0 ? (long) Math.ceil((pendingBytes - shippedBytes) * 8 / rateBitsPerSecond) : null;
    }

    private StatusReport.Capture captureView() {
        if (phase != Phase.CAPTURING || capture == null) {
            return null;
        }
        CaptureMeter.View v = capture.view();
        return new StatusReport.Capture(v.disks(), v.disksPlanned(), v.bytesToRead(), v.bytesRead(), v.readRate(),
                v.etaSeconds(), v.readWhole());
    }

    private static String str(Instant t) {
        return t == null ? null : t.toString();
    }
}
