package io.amirror.delta;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.amirror.state.StateFile;
import io.amirror.state.StateFormatException;
import io.amirror.util.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Byte ranges of a disk that the standby's replica may not hold as the primary's hash map says (a
 * verify found them different, or COPY sources there drifted). Scheduling them forgets them in the
 * hash map, so nothing is refined against or copied from them, and records them in
 * {@code <disk>.repair} beside the map, so the next capture reads them as if dirty; the record goes
 * when the standby acknowledges that capture. The only writer of {@code <disk>.repair}.
 */
public final class RepairRanges {
    private static final String SUFFIX = ".repair";

    /** A {@code <disk>.repair} file: byte ranges {@code [offset, length]}, in the order they were scheduled. */
    record Ranges(List<long[]> ranges) {
        Ranges {
            ranges = ranges == null ? List.of() : List.copyOf(ranges);
        }
    }

    /** Format 0 was the bare array of ranges; format 1 is an object, so it can carry its format. */
    static final StateFile<Ranges> FILE = StateFile.of("repair ranges", Ranges.class, 1)
            .wrappingBareFormat0(bare -> {
                if (!bare.isArray()) {
                    throw new IllegalArgumentException("neither a list of ranges nor an object");
                }
                ObjectNode o = StateFile.JSON.createObjectNode();
                o.set("ranges", bare);
                return o;
            })
            .migrating(0, legacy -> legacy);

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
        FILE.write(file(mapDir, disk), new Ranges(all));
    }

    /** The ranges of {@code disk} still to read again. */
    public static List<long[]> of(Path mapDir, String disk) throws IOException {
        Path f = file(mapDir, disk);
        List<long[]> ranges = FILE.read(f).map(Ranges::ranges).orElse(List.of());
        for (long[] r : ranges) {
            if (r == null || r.length != 2 || r[0] < 0 || r[1] < 0) {
                throw new StateFormatException(f + ": repair ranges hold " + Arrays.toString(r) + ", not [offset, length]");
            }
        }
        return ranges;
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
        AtomicFiles.delete(file(mapDir, disk));
    }
}
