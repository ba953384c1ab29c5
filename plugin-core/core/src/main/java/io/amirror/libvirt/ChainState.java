package io.amirror.libvirt;

import java.util.List;

/**
 * The persisted view of one domain's checkpoint chain.
 *
 * @param domainUuid   the domain's UUID: names may change, UUIDs do not
 * @param domainName   the name at the last save, for people reading the state directory
 * @param acknowledged the newest point the standby has acknowledged as durable; 0 for none yet
 * @param points       amirror's checkpoints that exist, oldest first
 */
public record ChainState(String domainUuid, String domainName, int acknowledged, List<Integer> points) {

    public ChainState {
        points = List.copyOf(points);
        for (int i = 1; i < points.size(); i++) {
            if (points.get(i) <= points.get(i - 1)) {
                throw new IllegalArgumentException("chain points must be increasing: " + points);
            }
        }
    }

    public static ChainState empty(String uuid, String name) {
        return new ChainState(uuid, name, 0, List.of());
    }

    public int latest() {
        return points.isEmpty() ? 0 : points.get(points.size() - 1);
    }

    public ChainState withPoints(List<Integer> p) {
        return new ChainState(domainUuid, domainName, acknowledged, p);
    }

    public ChainState withAcknowledged(int a) {
        return new ChainState(domainUuid, domainName, a, points);
    }
}
