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
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The recovery points of one replica image: qcow2 internal snapshots named {@code amirror-K}, one
 * per applied point K, taken, listed, restored and pruned through {@code qemu-img}. The image is
 * their only store of which points exist; their cut and receipt times, by which they are pruned
 * ({@link Retention#toDrop}), are in {@link PointTimes}.
 */
final class RecoveryPoints {
    private static final String PREFIX = "amirror-";

    private final Path image;
    private final DiskImage.Tools tools;
    private final PointTimes times;

    RecoveryPoints(Path image, DiskImage.Tools tools, PointTimes times) {
        this.image = image;
        this.tools = tools;
        this.times = times;
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
        Map<Integer, PointTimes.Entry> known = times.read();
        for (JsonNode s : info.path("snapshots")) {
            String name = s.path("name").asText();
            if (name.matches(PREFIX + "[0-9]{1,9}")) {
                int k = Integer.parseInt(name.substring(PREFIX.length()));
                out.add(new Point(k, name, Instant.ofEpochSecond(s.path("date-sec").asLong()).toString(),
                        PointTimes.cut(known, k).map(c -> Instant.ofEpochMilli(c).toString()).orElse(null)));
            }
        }
        out.sort(Comparator.comparingInt(Point::point));
        return new Summary(out, info.path("actual-size").asLong());
    }

    List<Point> list() throws IOException {
        return summary().points();
    }

    /** Takes point {@code point}'s snapshot, then records its times ({@code cutMillis}: the primary's, 0 none). */
    void take(int point, long cutMillis) throws IOException {
        qemuImg(tools, "snapshot", "-c", snapshotName(point), image.toString());
        times.record(point, cutMillis, list().stream().map(Point::point).collect(Collectors.toSet()));
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
     * Drops points beyond the retention's count or age ({@link Retention#toDrop}); the newest always
     * stays, and so does every point in the retention's immutable window, whatever the count says.
     * A point without recorded times counts its snapshot's date as its receipt, its cut time unknown.
     * The points in {@code held} (a drill's) stay whatever the retention says.
     */
    void prune(Retention retention, Set<Integer> held) throws IOException {
        List<Point> ps = list();
        Map<Integer, PointTimes.Entry> known = times.read();
        List<Retention.Aged> aged = new ArrayList<>();
        for (Point p : ps) {
            PointTimes.Entry e = known.get(p.point());
            aged.add(e != null ? new Retention.Aged(p.point(), e.cutMillis(), e.receivedMillis())
                    : new Retention.Aged(p.point(), 0, Instant.parse(p.date()).toEpochMilli()));
        }
        for (int k : retention.toDrop(aged)) {
            if (held.contains(k)) {
                continue;
            }
            qemuImg(tools, "snapshot", "-d", snapshotName(k), image.toString());
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
