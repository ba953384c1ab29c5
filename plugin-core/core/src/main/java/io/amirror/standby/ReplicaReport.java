package io.amirror.standby;

import io.amirror.transport.ReplicaManifest;

import io.amirror.image.DiskImage;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What a standby holds, domain by domain ({@code amirror replicas}): the point each replica is at,
 * when that point was applied here, the recovery points kept, the tenant it belongs to, and
 * whether it was promoted.
 *
 * <p>This is the standby's own view of the RPO. A primary whose host or uplink is down cannot raise
 * its RPO alert; the standby sees its replicas age and can. The age is measured from the primary's
 * cut time of the newest point ({@code cutAt}, carried by delta format 3 and bounded by the
 * standby: {@link PointTimes}), which is what a failover now would lose; for a point without one
 * (an older format), from the moment it was applied on the standby (the cut was earlier by the
 * transfer time). A point counts only when every disk of the domain has it.
 */
public final class ReplicaReport {

    /** ok; stale: older than the limit; promoted: started as the domain; applying: a delta is being applied; empty: no point yet. */
    /** {@code STARTING}: prepared for a start not yet seen running (it takes no delta meanwhile). */
    public enum Health { OK, STALE, PROMOTED, STARTING, APPLYING, EMPTY }

    public record Disk(String disk, int point, int pending, long virtualSize, long allocatedBytes, List<Integer> points) {
    }

    /** {@code ageFrom}: "cut" when {@code ageSeconds} counts from {@code cutAt}, "applied" from {@code appliedAt}. */
    public record Entry(String domain, String uuid, String replicaDomain, Integer point, String appliedAt,
                        String cutAt, Long ageSeconds, String ageFrom, List<Disk> disks, ReplicaDomain.Promoted promoted, String health,
                        DefinitionReport definition, ReplicaDomain.Owner owner, GuestUp.Report lastStart,
                        DrillReport lastDrill, ReplicaDomain.DrillPin drilling) {
        public Entry(String domain, String uuid, String replicaDomain, Integer point, String appliedAt, String cutAt,
                     Long ageSeconds, String ageFrom, List<Disk> disks, ReplicaDomain.Promoted promoted, String health,
                     DefinitionReport definition, ReplicaDomain.Owner owner, GuestUp.Report lastStart) {
            this(domain, uuid, replicaDomain, point, appliedAt, cutAt, ageSeconds, ageFrom, disks, promoted, health,
                    definition, owner, lastStart, null, null);
        }

        /** An entry without a start checked yet. */
        public Entry(String domain, String uuid, String replicaDomain, Integer point, String appliedAt, String cutAt,
                     Long ageSeconds, String ageFrom, List<Disk> disks, ReplicaDomain.Promoted promoted, String health,
                     DefinitionReport definition, ReplicaDomain.Owner owner) {
            this(domain, uuid, replicaDomain, point, appliedAt, cutAt, ageSeconds, ageFrom, disks, promoted, health,
                    definition, owner, null);
        }
    }

    private ReplicaReport() {
    }

    /** Every replica under {@code replicas}; with a {@code maxAge}, one whose point is older is STALE. */
    public static List<Entry> of(Path replicas, DiskImage.Tools tools, Instant now, Duration maxAge) throws IOException {
        List<Entry> out = new ArrayList<>();
        for (ReplicaDomain d : ReplicaDomain.all(replicas, tools)) {
            List<Disk> disks = new ArrayList<>();
            List<List<ReplicaDisk.Point>> kept = new ArrayList<>();
            boolean applying = false;
            for (String name : d.diskNames()) {
                ReplicaDisk disk = d.disk(name);
                ReplicaDisk.State s = disk.state();
                ReplicaDisk.Summary sum = disk.summary();
                disks.add(new Disk(name, s.point(), s.pending(), s.virtualSize(), sum.allocatedBytes(),
                        sum.points().stream().map(ReplicaDisk.Point::point).toList()));
                kept.add(sum.points());
                applying |= s.pending() != 0;
            }
            applying |= new PointApply(d, d::disk).pending();
            // the domain is at the point all its disks have; it was complete when the last disk applied it
            Integer point = disks.isEmpty() ? null : disks.stream().mapToInt(Disk::point).min().getAsInt();
            Instant applied = null;
            Instant cut = null;
            boolean cutKnown = point != null && point > 0;
            if (point != null && point > 0) {
                for (List<ReplicaDisk.Point> ps : kept) {
                    Optional<ReplicaDisk.Point> at = ps.stream().filter(p -> p.point() == point).findFirst();
                    if (at.isEmpty()) { // rolled back past it by hand: no date to go by
                        applied = null;
                        cutKnown = false;
                        break;
                    }
                    Instant a = Instant.parse(at.get().date());
                    applied = applied == null || a.isAfter(applied) ? a : applied;
                    if (at.get().cutAt() == null) {
                        cutKnown = false;
                    } else {
                        Instant c = Instant.parse(at.get().cutAt());
                        cut = cut == null || c.isBefore(cut) ? c : cut; // the disks agree; if not, the older
                    }
                }
            }
            if (!cutKnown) {
                cut = null;
            }
            Optional<ReplicaDomain.Promoted> promoted = d.promoted();
            Instant from = cut != null ? cut : applied;
            Long age = from == null ? null : Math.max(0, Duration.between(from, now).toSeconds());
            Health h;
            if (promoted.isPresent()) {
                h = Health.PROMOTED;
            } else if (d.starting().isPresent()) {
                h = Health.STARTING;
            } else if (point == null || point == 0) {
                h = Health.EMPTY;
            } else if (applying) {
                h = Health.APPLYING;
            } else if (maxAge != null && (age == null || age > maxAge.toSeconds())) {
                h = Health.STALE;
            } else {
                h = Health.OK;
            }
            out.add(new Entry(d.manifest().map(ReplicaManifest::name).orElse(null), d.uuid().toString(),
                    d.definedName().orElse(null), point, applied == null ? null : applied.toString(),
                    cut == null ? null : cut.toString(), age, from == null ? null : cut != null ? "cut" : "applied",
                    List.copyOf(disks), promoted.orElse(null), h.name().toLowerCase(),
                    DefinitionReport.read(d.directory()).orElse(null), d.owner().orElse(null), GuestUp.last(d).orElse(null),
                    d.lastDrill().orElse(null), d.drillPin().orElse(null)));
        }
        return out;
    }
}
