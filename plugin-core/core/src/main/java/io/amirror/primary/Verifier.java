package io.amirror.primary;

import io.amirror.control.VerifyReport;

import io.amirror.config.Policy;
import io.amirror.delta.DeltaFormat;
import io.amirror.delta.GroupDigests;
import io.amirror.delta.ReplicaHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Compares the standby's replica of every disk of a guest with the primary's record of it (the
 * hash map at the acknowledged point) through {@link GroupDigests}: only 16 bytes per group of
 * blocks cross the link, and no data. A group that differs is scheduled for repair, so the next
 * cycle reads it as if dirty. The caller holds the guest's lock.
 */
final class Verifier {
    private static final Logger log = LoggerFactory.getLogger(Verifier.class);

    /**
     * After a successful cycle: a verify if the policy schedules them and one is due. Its failure is
     * reported in status, not as the cycle's: the point was shipped and acknowledged.
     */
    void verifyIfDue(Replication r, Policy policy, StandbyLink link, DomainStatus status) {
        if (policy.verifyEvery() == null) {
            return;
        }
        try {
            Optional<Replication.Verified> last = r.lastVerified();
            if (last.isPresent() && Instant.ofEpochMilli(last.get().at()).plus(policy.verifyEvery()).isAfter(Instant.now())) {
                return;
            }
            verify(r, link, status);
        } catch (Exception e) {
            log.warn("{}: scheduled verify failed: {}", status.domain(), e.getMessage());
            status.verified(Instant.now(), "failed: " + e.getMessage());
        }
    }

    VerifyReport verify(Replication r, StandbyLink link, DomainStatus status) throws Exception {
        String name = status.domain();
        long t0 = System.nanoTime();
        Replication.SpooledPoint last = r.lastAcknowledged().orElseThrow(() -> new IllegalStateException(
                name + " has no point on the standby yet: nothing to verify"));
        List<VerifyReport.Disk> disks = new ArrayList<>();
        for (String disk : last.disks()) {
            try (ReplicaHashMap map = ReplicaHashMap.openExisting(r.mapDirectory().resolve(disk + ".map"))) {
                if (map.point() != last.newPoint()) {
                    throw new IllegalStateException("the hash map of " + disk + " is at point " + map.point()
                            + ", the standby acknowledged " + last.newPoint() + ": let a cycle finish first");
                }
                int group = GroupDigests.groupBlocks(map.virtualSize());
                byte[][] mine = GroupDigests.ofMap(map, group);
                status.verifying(map.virtualSize());
                byte[] theirs;
                try {
                    theirs = link.sender().verify(r.uuid(), disk, last.newPoint(), group, status::shipped);
                } finally {
                    status.phase(DomainStatus.Phase.IDLE);
                }
                if (theirs.length != mine.length * GroupDigests.LENGTH) {
                    throw new IllegalStateException("the standby summarised " + theirs.length / GroupDigests.LENGTH
                            + " groups of " + disk + ", the primary has " + mine.length + ": the replica has another size");
                }
                GroupDigests.Comparison cmp = GroupDigests.compare(mine, theirs, group, map.virtualSize());
                List<long[]> mismatches = cmp.mismatches();
                if (!mismatches.isEmpty()) {
                    r.scheduleRepair(disk, mismatches);
                }
                disks.add(new VerifyReport.Disk(disk, (long) group * DeltaFormat.BLOCK_SIZE, mine.length, cmp.matching(),
                        cmp.unknown(), mismatches, theirs.length));
            }
        }
        VerifyReport report = new VerifyReport(name, last.newPoint(), disks, (System.nanoTime() - t0) / 1e9);
        String summary = report.identical() ? "identical at point " + last.newPoint()
                : "DIFFERS at point " + last.newPoint() + ": " + disks.stream().filter(x -> !x.mismatches().isEmpty())
                .map(x -> x.disk() + " " + x.mismatches().size() + " of " + x.groups() + " groups").toList()
                + "; the next cycle sends them again";
        Instant now = Instant.now();
        r.verified(new Replication.Verified(now.toEpochMilli(), last.newPoint(), report.identical(), summary));
        status.verified(now, summary);
        if (report.identical()) {
            log.info("{}: verify at point {}: the replica is identical", name, last.newPoint());
        } else {
            log.warn("{}: verify at point {}: the replica differs: {}; the next cycle sends those groups again",
                    name, last.newPoint(), disks.stream().map(d -> d.disk() + " " + d.mismatches().size()
                            + " groups differ, " + d.unknown() + " unknown").toList());
        }
        return report;
    }
}
