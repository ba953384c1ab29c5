package io.amirror.bridge;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.util.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;

/**
 * What the bridge keeps of one guest disk besides its dirty maps, in {@code bridge.json} of its
 * state directory: who the guest is to the standby (UUID, name, disk), the image's size, and the
 * points cut and not yet deleted, oldest first. Written atomically.
 *
 * @param launcher the guest's command line, as the admin gave it, shipped to the standby so a
 *                 failover can start the replica the same way; may be empty
 */
public record BridgeState(UUID uuid, String name, String disk, long size, List<Integer> points, List<String> launcher) {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final String FILE = "bridge.json";

    public BridgeState {
        points = List.copyOf(points);
        launcher = launcher == null ? List.of() : List.copyOf(launcher);
    }

    public static BridgeState read(Path stateDir) throws IOException {
        Path f = stateDir.resolve(FILE);
        try {
            return JSON.readValue(f.toFile(), BridgeState.class);
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IOException(f + " is damaged: " + e.getOriginalMessage(), e);
        }
    }

    public static boolean exists(Path stateDir) {
        return Files.exists(stateDir.resolve(FILE));
    }

    void write(Path stateDir) throws IOException {
        AtomicFiles.write(stateDir.resolve(FILE), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(this));
    }

    BridgeState withPoints(List<Integer> p) {
        return new BridgeState(uuid, name, disk, size, p, launcher);
    }

    /** The newest point, whose map records the writes now; 0 when none (nothing is tracked yet). */
    public int latest() {
        return points.isEmpty() ? 0 : points.get(points.size() - 1);
    }
}
