package io.amirror.delta;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.util.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Byte ranges of a disk that the standby's replica may not hold as the primary's hash map says (a
 * verify found them different, or COPY sources there drifted). Scheduling them forgets them in the
 * hash map, so nothing is refined against or copied from them, and records them in
 * {@code <disk>.repair} beside the map, so the next capture reads them as if dirty; the record goes
 * when the standby acknowledges that capture.
 */
public final class RepairRanges {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String SUFFIX = ".repair";

    private RepairRanges() {
    }

    private static Path file(Path mapDir, String disk) {
        return mapDir.resolve(disk + SUFFIX);
    }

    /** Forgets {@code ranges} in the disk's hash map and adds them to those the next capture reads again. */
    public static void schedule(Path mapDir, String disk, List<long[]> ranges) throws IOException {
        List<long[]> all = new ArrayList<>(of(mapDir, disk));
        all.addAll(ranges);
        try (ReplicaHashMap map = ReplicaHashMap.openExisting(mapDir.resolve(disk + ".map"))) {
            for (long[] r : ranges) {
                map.forget(r[0], r[1]);
            }
            map.force();
        }
        AtomicFiles.write(file(mapDir, disk), JSON.writeValueAsBytes(all));
    }

    /** The ranges of {@code disk} still to read again. */
    public static List<long[]> of(Path mapDir, String disk) throws IOException {
        Path f = file(mapDir, disk);
        return Files.exists(f) ? List.of(JSON.readValue(f.toFile(), long[][].class)) : List.of();
    }

    /** The ranges still to read again, per disk. */
    public static Map<String, List<long[]>> all(Path mapDir) throws IOException {
        Map<String, List<long[]>> out = new TreeMap<>();
        if (!Files.isDirectory(mapDir)) {
            return out;
        }
        try (var s = Files.list(mapDir)) {
            for (Path f : s.filter(x -> x.getFileName().toString().endsWith(SUFFIX)).toList()) {
                String disk = f.getFileName().toString().substring(0, f.getFileName().toString().length() - SUFFIX.length());
                out.put(disk, of(mapDir, disk));
            }
        }
        return out;
    }

    /** The standby acknowledged a point that read them again. */
    public static void done(Path mapDir, String disk) throws IOException {
        Files.deleteIfExists(file(mapDir, disk));
    }
}
