package io.amirror.config;

import io.amirror.util.WeekWindow;
import io.amirror.util.WeeklyRate;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A replication policy, as read from one validated file ({@link PolicyLoader}): which domains go to
 * which standby, how often, and within which limits. Absent optional parts hold their defaults.
 *
 * @param rpo         how often a new point is due: an interval or a Quartz cron expression
 * @param bandwidth   the uplink rate by time of week; {@code null} means unlimited
 * @param compression {@code null} for {@code auto}, otherwise a fixed xz preset as written ({@code 6}, {@code 9e});
 *                    the encoder reads it (config holds plain values: it depends on no stage)
 * @param alertAfter  the age of the newest standby point at which the RPO counts as missed
 * @param verifyEvery how often the replica is verified end to end, after a cycle; {@code null}: only when asked
 * @param fullReadRate bytes per second a disk read whole at every point (raw: no dirty bitmap) may be read at;
 *                     0: unbounded
 */
public record Policy(String name, String file, DomainSelector domains, StandbyTarget standby, Rpo rpo,
                     WeeklyRate bandwidth, String bandwidthText, List<WeekWindow> blackouts,
                     String compression, int keepPoints, Duration keepAge, boolean quiesce,
                     Duration alertAfter, List<String> alertCommand, ReplicaMapping replica, BridgeSource bridge,
                     Duration verifyEvery, long fullReadRate) {

    /** The read rate of a disk read whole when a policy gives none: 50 MiB/s, well below a disk's own. */
    public static final long DEFAULT_FULL_READ_RATE = 50L << 20;

    /** A policy with the default {@link #DEFAULT_FULL_READ_RATE}. */
    public Policy(String name, String file, DomainSelector domains, StandbyTarget standby, Rpo rpo,
                  WeeklyRate bandwidth, String bandwidthText, List<WeekWindow> blackouts,
                  String compression, int keepPoints, Duration keepAge, boolean quiesce,
                  Duration alertAfter, List<String> alertCommand, ReplicaMapping replica, BridgeSource bridge,
                  Duration verifyEvery) {
        this(name, file, domains, standby, rpo, bandwidth, bandwidthText, blackouts, compression, keepPoints, keepAge,
                quiesce, alertAfter, alertCommand, replica, bridge, verifyEvery, DEFAULT_FULL_READ_RATE);
    }

    /**
     * A guest outside libvirt ({@code source: bridge}): its raw image, the NBD socket its launcher
     * opens, and the bridge's state directory. {@code null} in a policy of libvirt domains.
     */
    public record BridgeSource(Path image, Path socket, Path state) {
    }

    /** Whether {@code amirror bridge} rather than the libvirt daemon replicates this policy's guest. */
    public boolean bridged() {
        return bridge != null;
    }

    /**
     * How the standby maps the primary's host-specific parts when it defines the replica domain:
     * libvirt network names and bridge names of the primary to those of the standby; and what it
     * checks when the replica is started ({@code null}: that its guest agent answers, if it has one).
     */
    public record ReplicaMapping(Map<String, String> networks, Map<String, String> bridges, BootCheck bootCheck) {
        public static final ReplicaMapping NONE = new ReplicaMapping(Map.of(), Map.of(), null);

        public ReplicaMapping(Map<String, String> networks, Map<String, String> bridges) {
            this(networks, bridges, null);
        }
    }

    /**
     * Run in the replica's guest through its agent once it answers after a start (a failover, a
     * {@code virsh start} of the replica): {@code command} (argv, no shell), which passes with exit
     * status 0 within {@code timeout} of the start, agent wait included.
     */
    public record BootCheck(List<String> command, Duration timeout) {
    }

    /** Domains by exact name, shell glob, or a tag in their libvirt metadata. */
    public record DomainSelector(List<String> names, List<String> globs, String tag) {
    }

    /** The standby's {@code HOST:PORT} and its pinned certificate fingerprint. */
    public record StandbyTarget(String address, String fingerprint) {
        /** Targets are shared by policies that name the same standby, so they share its link. */
        public String key() {
            return address + "/" + fingerprint;
        }
    }

    /**
     * Exactly one of {@code interval} and {@code cron}; {@code target} is the longest time between
     * two points it schedules (for a cron expression, the widest gap over a week), which status
     * measures the newest point's age against. {@code continuous}: the admin gave a target, and
     * {@code interval} is the least spacing of cuts: a repeat trigger of that interval, whose fires
     * wait while a cycle runs, cuts the next point as soon as the previous cycle (acknowledged)
     * ends, and never sooner than the spacing after the previous cut.
     */
    public record Rpo(Duration interval, String cron, Duration target, boolean continuous) {
        public Rpo(Duration interval, String cron, Duration target) {
            this(interval, cron, target, false);
        }

        /** Continuous replication with a target and the least spacing of cuts. */
        public static Rpo continuous(Duration target, Duration minSpacing) {
            return new Rpo(minSpacing, null, target, true);
        }

        /** A tenth of the target, at least 10 s: the spacing when the admin names none. */
        public static Duration defaultSpacing(Duration target) {
            Duration tenth = target.dividedBy(10);
            return tenth.compareTo(Duration.ofSeconds(10)) < 0 ? Duration.ofSeconds(10) : tenth;
        }

        /**
         * How long a point may take from its cut to its acknowledgement before compression gives way
         * to speed: a quarter of an interval (or of a cron schedule's widest gap); 40 % of a
         * continuous target, where a point is exposed for up to twice its own time.
         */
        public Duration pointBudget() {
            return continuous ? target.multipliedBy(2).dividedBy(5) : target.dividedBy(4);
        }

        @Override
        public String toString() {
            return continuous ? "continuous, target " + Durations.format(target) + ", cuts at least "
                    + Durations.format(interval) + " apart"
                    : interval != null ? "every " + Durations.format(interval) : "cron " + cron;
        }
    }

    public Optional<List<String>> alertCommandIfAny() {
        return alertCommand.isEmpty() ? Optional.empty() : Optional.of(alertCommand);
    }
}
