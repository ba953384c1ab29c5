package io.amirror.standby;

import com.fasterxml.jackson.databind.JsonNode;
import io.amirror.image.DiskImage;
import io.amirror.standby.ReplicaDisk.Point;
import io.amirror.standby.ReplicaDisk.Retention;
import io.amirror.standby.ReplicaDisk.Summary;
import io.amirror.state.StateFile;
import io.amirror.util.Exec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * The recovery points of one replica image: qcow2 internal snapshots named {@code amirror-K}, one
 * per applied point K, taken, listed, restored and pruned through {@code qemu-img}. The image is
 * their only store; nothing else records which points exist.
 */
final class RecoveryPoints {
    private static final String PREFIX = "amirror-";

    private final Path image;
    private final DiskImage.Tools tools;

    RecoveryPoints(Path image, DiskImage.Tools tools) {
        this.image = image;
        this.tools = tools;
    }

    static String snapshotName(int point) {
        return PREFIX + point;
    }

    /** One look at the image ({@code qemu-img info}, sharing it with a running apply or guest). */
    Summary summary() throws IOException {
        List<Point> out = new ArrayList<>();
        if (!Files.exists(image)) {
            return new Summary(out, 0);
        }
        String json = Exec.run(List.of(tools.qemuImg().toString(), "info", "--output=json", "-U", image.toString()),
                null, Map.of(), Duration.ofMinutes(1)).orThrow().stdout();
        JsonNode info = StateFile.JSON.readTree(json);
        for (JsonNode s : info.path("snapshots")) {
            String name = s.path("name").asText();
            if (name.matches(PREFIX + "[0-9]{1,9}")) {
                out.add(new Point(Integer.parseInt(name.substring(PREFIX.length())), name,
                        Instant.ofEpochSecond(s.path("date-sec").asLong()).toString()));
            }
        }
        out.sort(Comparator.comparingInt(Point::point));
        return new Summary(out, info.path("actual-size").asLong());
    }

    List<Point> list() throws IOException {
        return summary().points();
    }

    void take(int point) {
        qemuImg(tools, "snapshot", "-c", snapshotName(point), image.toString());
    }

    /** Removes point {@code point}'s snapshot, if there is one. */
    void dropIfPresent(int point) {
        Exec.run(List.of(tools.qemuImg().toString(), "snapshot", "-d", snapshotName(point), image.toString()), null,
                Map.of(), Duration.ofMinutes(5));
    }

    /** The image's content becomes point {@code point}'s again; later points stay. */
    void restore(int point) {
        qemuImg(tools, "snapshot", "-a", snapshotName(point), image.toString());
    }

    /**
     * Drops points beyond the retention's count or age; the newest always stays, and so does every
     * point younger than the retention's immutable window, whatever the count says.
     */
    void prune(Retention retention) throws IOException {
        List<Point> ps = list();
        Instant now = Instant.now();
        Instant oldest = now.minus(retention.maxAge());
        Instant locked = now.minus(retention.immutable());
        for (int i = 0; i < ps.size() - 1; i++) {
            Instant taken = Instant.parse(ps.get(i).date());
            boolean tooMany = i < ps.size() - retention.count();
            boolean tooOld = taken.isBefore(oldest);
            if ((tooMany || tooOld) && !taken.isAfter(locked)) {
                qemuImg(tools, "snapshot", "-d", ps.get(i).snapshot(), image.toString());
            }
        }
    }

    /** Runs qemu-img; a failure is an error naming its output. */
    static void qemuImg(DiskImage.Tools tools, String... args) {
        qemuImg(tools, Duration.ofMinutes(5), args);
    }

    static void qemuImg(DiskImage.Tools tools, Duration timeout, String... args) {
        List<String> cmd = new ArrayList<>(List.of(tools.qemuImg().toString()));
        cmd.addAll(List.of(args));
        Exec.run(cmd, null, Map.of(), timeout).orThrow();
    }
}
