package io.amirror.bridge;

import io.amirror.state.StateFile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;

/**
 * What the bridge keeps of one guest disk besides its dirty maps, in {@code bridge.json} of its
 * state directory: who the guest is to the standby (UUID, name, disk), the image's size, and the
 * points cut and not yet deleted, oldest first. Written atomically, by {@link BridgeVolume} only.
 *
 * <p>The file is the {@link #FILE_KIND} kind of state file; format 0 (before formats) held the
 * same fields. The bridge's control socket sends the same record as plain JSON: that is wire, not
 * state, and carries no format.
 *
 * @param launcher the guest's command line, as the admin gave it, shipped to the standby so a
 *                 failover can start the replica the same way; may be empty
 */
public record BridgeState(UUID uuid, String name, String disk, long size, List<Integer> points, List<String> launcher) {
    static final String FILE = "bridge.json";
    /** {@code bridge.json}: format 1 is format 0 with its format field. */
    static final StateFile<BridgeState> FILE_KIND = StateFile.of("bridge state", BridgeState.class, 1)
            .migrating(0, legacy -> legacy);

    public BridgeState {
        points = List.copyOf(points);
        launcher = launcher == null ? List.of() : List.copyOf(launcher);
    }

    public static BridgeState read(Path stateDir) throws IOException {
        Path f = stateDir.resolve(FILE);
        return FILE_KIND.read(f).orElseThrow(() -> new NoSuchFileException(f.toString(), null,
                "no bridge state: serve the image once to create it"));
    }

    public static boolean exists(Path stateDir) {
        return Files.exists(stateDir.resolve(FILE));
    }

    void write(Path stateDir) throws IOException {
        FILE_KIND.write(stateDir.resolve(FILE), this);
    }

    BridgeState withPoints(List<Integer> p) {
        return new BridgeState(uuid, name, disk, size, p, launcher);
    }

    /** The newest point, whose map records the writes now; 0 when none (nothing is tracked yet). */
    public int latest() {
        return points.isEmpty() ? 0 : points.get(points.size() - 1);
    }
}
