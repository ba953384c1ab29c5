package io.amirror.standby;

import io.amirror.image.DiskImage;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Makes a replica ready to be started as the domain (failover), from its journal alone: it needs no
 * standby daemon and calls no libvirt, so the libvirt hook runs it at {@code prepare begin}.
 *
 * <p>Under the domain's lock: every disk finishes an apply a crash left pending; then all disks go
 * to one point: the one {@code amirror failover --point K} chose, or else the point they all hold,
 * or else the newest point every disk keeps (disks can differ when the primary died between
 * shipping one disk and the next). Then the replica is journaled as promoted, and the standby
 * refuses any further delta for it. If no such point exists the start is refused, and nothing has
 * been changed.
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

    private Promotion() {
    }

    /**
     * What the libvirt hook does at {@code prepare begin} with the XML of a domain being started: for
     * an amirror replica (it carries the marker), prepares it; any other domain is left alone (empty).
     */
    public static Optional<Start> prepareStart(String domainXml, DiskImage.Tools tools) throws IOException {
        Optional<ReplicaDefinition.Marker> marker = ReplicaDefinition.marker(domainXml);
        if (marker.isEmpty()) {
            return Optional.empty();
        }
        String name = ReplicaDefinition.parse(domainXml).getDocumentElement().getElementsByTagName("name").item(0)
                .getTextContent();
        ReplicaDomain d = new ReplicaDomain(StandbyLayout.of(marker.get().stateDir()).replicas(), marker.get().source(),
                tools);
        return Optional.of(new Start(name, prepare(d, name)));
    }

    /** Prepares {@code d} for a start; {@code label} names it in messages (the replica domain's name). */
    public static Outcome prepare(ReplicaDomain d, String label) throws IOException {
        try (ReplicaDomain.Lock lock = d.lock()) {
            Optional<ReplicaDomain.Promoted> done = d.promoted();
            if (done.isPresent()) {
                return new Outcome(done.get().point(), true, List.of("promoted earlier, at point " + done.get().point()));
            }
            Optional<Integer> chosen = d.failoverPoint();
            List<String> steps = new ArrayList<>();
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
                at.put(name, disk.state().point());
                TreeSet<Integer> kept = new TreeSet<>();
                disk.points().forEach(p -> kept.add(p.point()));
                if (common == null) {
                    common = kept;
                } else {
                    common.retainAll(kept);
                }
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
                if (s.point() != target || s.pending() != 0) {
                    e.getValue().rollTo(target);
                    steps.add("rolled " + e.getKey() + " from point " + s.point() + " to " + target
                            + (s.pending() != 0 ? ", discarding the unfinished apply of " + s.pending() : ""));
                }
            }
            points.discard(); // a point left half applied under an admin's chosen point is not finished
            d.recordPromoted(target);
            d.clearFailoverPoint();
            return new Outcome(target, false, steps);
        }
    }
}
