package io.amirror.standby;

import io.amirror.image.DiskImage;

import io.amirror.transport.WireMessage.Refuse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A replica's way to becoming the domain (failover), from its journal alone: it needs no standby
 * daemon and calls no libvirt, so the libvirt hook runs each step.
 *
 * <ol>
 *   <li>{@code prepare begin} ({@link #prepare}): the start asks for the domain's lock (a transfer
 *       holding it lets go) and waits for it a bounded time; a busy replica refuses the start with
 *       who holds it. Under the lock every disk finishes an apply a crash left pending; then all
 *       disks go to one point: the one {@code amirror failover --point K} chose, or else the point
 *       they all hold, or else the newest point every disk keeps (disks can differ when the primary
 *       died between shipping one disk and the next). The replica is journaled as <em>starting</em>
 *       at that point: the standby takes no delta meanwhile. If no such point exists the start is
 *       refused, and nothing has been changed.</li>
 *   <li>{@code started begin} ({@link #started}): the domain runs, so the replica is journaled as
 *       <em>promoted</em>: the live disk, which takes nothing more from the old primary.</li>
 *   <li>{@code release end} without a start ({@link #released}): the start failed; the replica is
 *       a replica again, at the point it was prepared at.</li>
 * </ol>
 * A replica found running without these steps (started without the hook) is promoted when seen
 * ({@link #refuseDeltas}); one whose start was prepared but never seen running or released (libvirtd
 * died meanwhile) is a replica again after {@link #STALE_START}, once no process has its images open.
 */
public final class Promotion {

    /** The point the replica was started at, and what was done to get there. */
    public record Outcome(int point, boolean earlier, List<String> steps) {
    }

    /** The replica cannot be started; the message says why and what to do. Nothing was changed. */
    public static final class Refused extends IOException {
        public Refused(String message) {
            super(message);
        }
    }

    /** A replica domain's start: its name in libvirt and how its replica was prepared. */
    public record Start(String name, Outcome outcome) {
    }

    /** How long a start waits for the domain's lock by default: longer than a receiver's idle timeout. */
    public static final Duration DEFAULT_WAIT = Duration.ofSeconds(150);
    /** A start prepared this long ago, never seen running, with no image open, is taken as failed. */
    static final Duration STALE_START = Duration.ofMinutes(10);

    private static final Logger log = LoggerFactory.getLogger(Promotion.class);

    private Promotion() {
    }

    /** A replica domain being started, as the hook's XML names it, with its replica. */
    private record Hooked(String name, ReplicaDomain domain) {
    }

    private static Optional<Hooked> replicaOf(String domainXml, DiskImage.Tools tools) throws IOException {
        Optional<ReplicaDefinition.Marker> marker = ReplicaDefinition.marker(domainXml);
        if (marker.isEmpty()) {
            return Optional.empty();
        }
        String name = ReplicaDefinition.parse(domainXml).getDocumentElement().getElementsByTagName("name").item(0)
                .getTextContent();
        return Optional.of(new Hooked(name, new ReplicaDomain(StandbyLayout.of(marker.get().stateDir()).replicas(),
                marker.get().source(), tools)));
    }

    /** One of the hook's steps on a replica, named as libvirt names it; empty when it changed nothing. */
    private interface HookStep {
        Optional<Outcome> run(ReplicaDomain d, String name) throws IOException;
    }

    /** Runs {@code step} if {@code domainXml} is an amirror replica's (it carries the marker); else empty. */
    private static Optional<Start> hooked(String domainXml, DiskImage.Tools tools, HookStep step) throws IOException {
        Optional<Hooked> h = replicaOf(domainXml, tools);
        if (h.isEmpty()) {
            return Optional.empty();
        }
        return step.run(h.get().domain(), h.get().name()).map(o -> new Start(h.get().name(), o));
    }

    /**
     * What the libvirt hook does at {@code prepare begin} with the XML of a domain being started: for
     * an amirror replica (it carries the marker), prepares it; any other domain is left alone (empty).
     */
    public static Optional<Start> prepareStart(String domainXml, DiskImage.Tools tools, Duration wait) throws IOException {
        return hooked(domainXml, tools, (d, name) -> Optional.of(prepare(d, name, wait)));
    }

    /**
     * What the hook does at {@code started begin}: a replica domain runs, so its replica is
     * promoted ({@link #started}); empty for any other domain.
     */
    public static Optional<Start> startedHook(String domainXml, DiskImage.Tools tools, Duration wait) throws IOException {
        return hooked(domainXml, tools, (d, name) -> Optional.of(started(d, name, wait)));
    }

    /**
     * What the hook does at {@code release end}: a replica domain whose start failed is a replica
     * again ({@link #released}); the outcome is empty for any other domain and for a stop.
     */
    public static Optional<Start> releasedHook(String domainXml, DiskImage.Tools tools, Duration wait) throws IOException {
        return hooked(domainXml, tools, (d, name) -> released(d, name, wait));
    }

    /** The domain's lock within {@code wait}, or a refusal that names who holds it. */
    private static ReplicaDomain.Lock lockFor(ReplicaDomain d, String label, String what, Duration wait)
            throws IOException {
        Optional<ReplicaDomain.Lock> lock = d.tryLock(what + " of " + label, wait);
        if (lock.isEmpty()) {
            String holder = d.lockHolder();
            throw new Refused("the replica of " + label + " stayed busy for " + wait.toSeconds() + " s"
                    + (holder.isEmpty() ? "" : " (" + holder + ")") + "; nothing was changed. Start it again in a "
                    + "moment: a transfer lets go as soon as it sees the start waiting, an apply when it ends");
        }
        return lock.get();
    }

    /** Prepares {@code d} for a start; {@code label} names it in messages (the replica domain's name). */
    public static Outcome prepare(ReplicaDomain d, String label) throws IOException {
        return prepare(d, label, DEFAULT_WAIT);
    }

    /** As {@link #prepare(ReplicaDomain, String)}, waiting at most {@code wait} for the domain's lock. */
    public static Outcome prepare(ReplicaDomain d, String label, Duration wait) throws IOException {
        d.requestStart();
        try (ReplicaDomain.Lock lock = lockFor(d, label, "preparing a start", wait)) {
            return prepareLocked(d, label);
        } finally {
            d.withdrawStartRequest();
        }
    }

    private static Outcome prepareLocked(ReplicaDomain d, String label) throws IOException {
        Optional<ReplicaDomain.Promoted> done = d.promoted();
        Optional<Integer> chosen = d.failoverPoint();
        boolean retrial = done.isPresent() && !done.get().committed() && chosen.isPresent();
        if (done.isPresent() && !retrial) {
            return new Outcome(done.get().point(), true, List.of("promoted earlier, at point " + done.get().point()));
        }
        List<String> steps = new ArrayList<>();
        if (retrial) {
            // a trial failover, not committed: the admin tries another point (or the same one afresh); every
            // disk is rolled back to it, which discards what the guest wrote since its start
            steps.add("the trial at point " + done.get().point() + " is taken back: what its guest wrote is discarded");
        }
        Optional<ReplicaDomain.Starting> prepared = d.starting();
        if (prepared.isPresent()) {
            return new Outcome(prepared.get().point(), true, List.of("prepared earlier, at point "
                    + prepared.get().point()));
        }
        PointApply points = new PointApply(d, d::disk);
        if (points.pending() && chosen.isEmpty()) {
            try {
                points.recover(); // a point half applied when the standby stopped: finished for every disk
                steps.add("finished applying the point a stop interrupted");
            } catch (IOException e) {
                throw new Refused("the point being applied to " + label + " cannot be finished (" + e.getMessage()
                        + "); choose a kept point: amirror failover '" + label + "' --point K");
            }
        }
        List<String> disks = d.diskNames();
        if (disks.isEmpty()) {
            throw new Refused("no point of " + label + " has arrived on this standby yet: there is nothing to start. "
                    + "Wait for the first sync to finish (amirror status on the primary).");
        }
        Map<String, ReplicaDisk> byName = new TreeMap<>();
        Map<String, Integer> at = new TreeMap<>();
        TreeSet<Integer> common = null;
        for (String name : disks) {
            ReplicaDisk disk = d.disk(name);
            byName.put(name, disk);
            ReplicaDisk.State s = disk.state();
            if (s.pending() != 0 && chosen.isEmpty()) {
                try {
                    disk.recover();
                } catch (IOException e) {
                    throw new Refused("the apply of point " + s.pending() + " to disk " + name + " of " + label
                            + " cannot be finished (" + e.getMessage() + "); the replica is unchanged at point "
                            + s.point() + ". To start from that point anyway: amirror failover '" + label + "' --point "
                            + s.point());
                }
                steps.add("finished applying point " + disk.state().point() + " to " + name);
            }
            if (io.amirror.image.DeviceState.isDeviceState(name)) {
                continue; // firmware state follows the disks' point where it has it (below), never limits it
            }
            at.put(name, disk.state().point());
            TreeSet<Integer> kept = new TreeSet<>();
            disk.points().forEach(p -> kept.add(p.point()));
            if (common == null) {
                common = kept;
            } else {
                common.retainAll(kept);
            }
        }
        if (common == null) {
            common = new TreeSet<>(); // no guest disk at all: nothing to start from
        }
        int target;
        if (chosen.isPresent()) {
            target = chosen.get();
            if (!common.contains(target)) {
                throw new Refused("point " + target + " chosen for " + label + " is not kept by every disk; points "
                        + "kept by all: " + common + ". Choose one: amirror failover '" + label + "' --point K");
            }
        } else if (new TreeSet<>(at.values()).size() == 1 && at.values().iterator().next() > 0) {
            target = at.values().iterator().next();
        } else if (!common.isEmpty()) {
            target = common.last();
            steps.add("disks were at different points " + at + ": rolled to point " + target + ", the newest all keep");
        } else {
            throw new Refused("the disks of " + label + " are at points " + at + " and keep no point in common, so "
                    + "there is no consistent state to start. Let the next sync from the primary complete.");
        }
        for (Map.Entry<String, ReplicaDisk> e : byName.entrySet()) {
            ReplicaDisk.State s = e.getValue().state();
            if (io.amirror.image.DeviceState.isDeviceState(e.getKey()) && s.point() != target
                    && e.getValue().points().stream().noneMatch(p -> p.point() == target)) {
                // a point from before the firmware state travelled (an older amirror): the nearest state there is
                steps.add("no " + e.getKey() + " state is kept for point " + target + ": the replica starts with that "
                        + "of point " + s.point());
                continue;
            }
            if (s.point() != target || s.pending() != 0 || retrial) {
                e.getValue().rollTo(target);
                steps.add("rolled " + e.getKey() + " from point " + s.point() + " to " + target
                        + (s.pending() != 0 ? ", discarding the unfinished apply of " + s.pending() : ""));
            }
        }
        points.discard(); // a point left half applied under an admin's chosen point is not finished
        try {
            ReplicaDeviceState.Written w = ReplicaDeviceState.writeOut(d);
            if (w.nvram() || w.tpm().isPresent()) {
                steps.add("wrote the firmware state of point " + target + (w.nvram() ? ": NVRAM" : ":")
                        + w.tpm().map(p -> " TPM state").orElse(""));
            }
        } catch (IOException e) {
            throw new Refused("the firmware state (NVRAM, TPM) of point " + target + " of " + label + " cannot be "
                    + "written for the replica (" + e.getMessage() + "); without it the guest would boot without its boot "
                    + "entries or TPM keys. Free the space or fix the cause, then start again");
        }
        d.recordStarting(target, retrial);
        if (retrial) {
            d.withdrawPromotion();
        }
        d.clearFailoverPoint();
        return new Outcome(target, false, steps);
    }

    /**
     * The replica domain runs: its replica is promoted at the point its start was prepared at, or,
     * started without that step (no hook then), at the point its disks hold.
     */
    public static Outcome started(ReplicaDomain d, String label, Duration wait) throws IOException {
        try (ReplicaDomain.Lock lock = lockFor(d, label, "recording the start", wait)) {
            return promoteRunning(d, label);
        }
    }

    /** {@link #started} under the domain's lock. */
    private static Outcome promoteRunning(ReplicaDomain d, String label) throws IOException {
        Optional<ReplicaDomain.Promoted> done = d.promoted();
        if (done.isPresent()) {
            return new Outcome(done.get().point(), true, List.of("promoted earlier, at point " + done.get().point()));
        }
        Optional<ReplicaDomain.Starting> prepared = d.starting();
        int point;
        String how;
        if (prepared.isPresent()) {
            point = prepared.get().point();
            how = "running: promoted at point " + point;
        } else {
            point = heldPoint(d);
            how = "found running without amirror's start hook: promoted at point " + point + " as it was";
        }
        d.recordPromoted(point);
        d.clearStarting();
        log.warn("{}: {}", label, how);
        return new Outcome(point, false, List.of(how));
    }

    /** The point the disks hold (the lowest, when they differ), 0 when none arrived. */
    private static int heldPoint(ReplicaDomain d) throws IOException {
        int point = Integer.MAX_VALUE;
        for (String name : d.diskNames()) {
            point = Math.min(point, d.disk(name).state().point());
        }
        return point == Integer.MAX_VALUE ? 0 : point;
    }

    /**
     * The replica domain's resources were released: after a start that never ran, the replica is
     * a replica again (the outcome says so); after a promoted domain's stop nothing changes (empty).
     */
    public static Optional<Outcome> released(ReplicaDomain d, String label, Duration wait) throws IOException {
        try (ReplicaDomain.Lock lock = lockFor(d, label, "recording the end of a start", wait)) {
            if (d.promoted().isPresent()) {
                return Optional.empty();
            }
            Optional<ReplicaDomain.Starting> prepared = d.starting();
            if (prepared.isEmpty()) {
                return Optional.empty();
            }
            if (prepared.get().trial()) {
                // the replica was the domain before this try: it stays the domain (a trial), now at the rolled point
                d.recordPromoted(prepared.get().point());
                d.clearStarting();
                String how = "the start failed: the failover stays a trial, now at point " + prepared.get().point();
                log.warn("{}: {}", label, how);
                return Optional.of(new Outcome(prepared.get().point(), false, List.of(how)));
            }
            d.clearStarting();
            String how = "the start failed: the replica stays a replica, at point " + prepared.get().point()
                    + ", and takes the primary's points again";
            log.warn("{}: {}", label, how);
            return Optional.of(new Outcome(prepared.get().point(), false, List.of(how)));
        }
    }

    /**
     * Refuses a delta (or any request that may change the replica) while the replica is, or may
     * be, the running domain; the caller holds the domain's lock. A replica prepared for a start
     * and seen running (an image open) is promoted here, one whose start never came is a replica
     * again after {@link #STALE_START}; an image open in a process without a start (the replica
     * domain started without the hook, or a tool) is refused, not promoted, until it is closed.
     */
    static void refuseDeltas(ReplicaDomain rd) throws IOException {
        Optional<ReplicaDomain.Promoted> p = rd.promoted();
        if (p.isPresent()) {
            throw promotedRefusal(rd, p.get());
        }
        boolean open = imageOpen(rd);
        Optional<ReplicaDomain.Starting> s = rd.starting();
        if (s.isPresent()) {
            if (open) {
                promoteRunning(rd, rd.uuid().toString());
                throw promotedRefusal(rd, rd.promoted().orElseThrow());
            }
            Instant at = Instant.parse(s.get().at());
            if (Duration.between(at, Instant.now()).compareTo(STALE_START) < 0) {
                throw new StandbyRefusal(Refuse.IN_USE, "the replica of " + rd.uuid() + " is being started as the "
                        + "domain on the standby (prepared at point " + s.get().point() + ", " + s.get().at()
                        + "); it takes nothing meanwhile");
            }
            if (s.get().trial()) { // a trial failover's next try that never ran: still the domain, not a replica
                rd.recordPromoted(s.get().point());
                rd.clearStarting();
                throw promotedRefusal(rd, rd.promoted().orElseThrow());
            }
            log.warn("{}: a start prepared at {} was never seen running and no image is open: the replica takes "
                    + "deltas again", rd.uuid(), s.get().at());
            rd.clearStarting();
        }
        if (open) {
            throw new StandbyRefusal(Refuse.IN_USE, "an image of the replica of " + rd.uuid() + " is open in a "
                    + "running process (its domain started without amirror's hook, or a tool holds it): the standby "
                    + "changes nothing under it");
        }
    }

    private static StandbyRefusal promotedRefusal(ReplicaDomain rd, ReplicaDomain.Promoted p) {
        return new StandbyRefusal(Refuse.PROMOTED, "the replica of " + rd.uuid() + " was started as the domain on the "
                + "standby (failover at point " + p.point() + ", " + p.at() + "); it receives nothing more");
    }

    private static boolean imageOpen(ReplicaDomain rd) throws IOException {
        for (String name : rd.diskNames()) {
            if (rd.disk(name).inUse()) {
                return true;
            }
        }
        return false;
    }
}
