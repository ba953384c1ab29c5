package io.amirror.control;

import java.util.List;

/**
 * What {@code verify} found: per disk, how many groups of blocks matched between the primary's
 * record of the replica (its hash map at the last acknowledged point) and the standby's replica
 * image, and where they differ. A group the map does not fully know is counted, not judged.
 *
 * @param mismatches byte ranges {@code [offset, length]} of the groups that differ
 */
public record VerifyReport(String domain, int point, List<Disk> disks, double seconds) {

    public record Disk(String disk, long groupBytes, int groups, int matching, int unknown, List<long[]> mismatches,
                       long summaryBytes) {
    }

    public boolean identical() {
        return disks.stream().allMatch(d -> d.mismatches().isEmpty() && d.unknown() == 0);
    }
}
