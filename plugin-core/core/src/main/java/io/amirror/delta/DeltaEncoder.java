package io.amirror.delta;

import io.amirror.capture.CaptureSink;
import io.amirror.libvirt.DiskInfo;
import io.amirror.spool.Spool;
import io.amirror.util.PrivateFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;

/**
 * The encode stage of one capture: for each disk, refines the captured extents against that disk's
 * replica hash map, encodes them into a delta in the spool, and journals the resulting block hashes
 * for the map. The capture's backup job can end as soon as the last disk is in the spool.
 *
 * <p>Caller's duties: call {@link #recover} before a capture (finishes a map commit a crash
 * interrupted); call {@link #abort()} if the capture fails (no partial delta or journal stays); call
 * {@link #acknowledged} when the standby acknowledges the point. {@code primary.Replication}
 * does all three.
 */
public final class DeltaEncoder implements CaptureSink {

    /** One disk's delta, as it went into the spool. */
    public record DiskDelta(String disk, Spool.Entry entry, DeltaWriter.Summary summary, Refiner.Stats refined) {
    }

    private final Spool spool;
    private final Path mapDir;
    private final UUID domain;
    private final int basePoint;
    private final int newPoint;
    private final XzBlockCodec.Preset preset;
    private final ExecutorService pool;
    private final int threads;
    private final long cutMillis;
    private final List<DiskDelta> done = new ArrayList<>();

    private String disk;
    private ReplicaHashMap map;
    private ReplicaHashMap.Journal journal;
    private Spool.Writing writing;
    private DeltaWriter writer;
    private Refiner refiner;

    /**
     * @param cutMillis when the point is cut, by this host's clock (milliseconds since 1970): every
     *                  disk's delta header carries it to the standby ({@link DeltaHeader#cutMillis})
     */
    public DeltaEncoder(Spool spool, Path mapDir, UUID domain, int basePoint, int newPoint, XzBlockCodec.Preset preset,
                        ExecutorService pool, int threads, long cutMillis) {
        this.spool = spool;
        this.mapDir = mapDir;
        this.domain = domain;
        this.basePoint = basePoint;
        this.newPoint = newPoint;
        this.preset = preset;
        this.pool = pool;
        this.threads = threads;
        this.cutMillis = cutMillis;
    }

    /** Disks the standby never held (added to the domain since): their deltas start at point 0. */
    private java.util.Set<String> newDisks = java.util.Set.of();

    /**
     * Names the disks the standby holds no point of (a disk added to the domain after its last
     * acknowledged point): each one's delta starts at point 0, since its replica starts empty,
     * while the other disks' start at the base point. The caller reads such a point in full.
     */
    public DeltaEncoder withNewDisks(java.util.Set<String> disks) {
        this.newDisks = java.util.Set.copyOf(disks);
        return this;
    }

    static Path mapFile(Path mapDir, String disk) {
        return mapDir.resolve(disk + ".map");
    }

    /** Finishes interrupted map commits of {@code acked}, for every disk that has a map. */
    public static void recover(Path mapDir, int acked) throws IOException {
        if (!Files.isDirectory(mapDir)) {
            return;
        }
        try (var s = Files.list(mapDir)) {
            for (Path f : s.filter(p -> p.getFileName().toString().endsWith(".map")).toList()) {
                try (ReplicaHashMap m = ReplicaHashMap.openExisting(f)) {
                    m.recover(acked);
                }
            }
        }
    }

    /** The standby holds {@code point}: the maps take its hashes and the spool lets its deltas go. */
    public static void acknowledged(Spool spool, Path mapDir, UUID domain, List<String> disks, int point)
            throws IOException {
        for (String disk : disks) {
            try (ReplicaHashMap m = ReplicaHashMap.openExisting(mapFile(mapDir, disk))) {
                m.commit(point);
            }
            spool.acknowledged(domain, disk, point);
        }
    }

    @Override
    public void beginDisk(DiskInfo d, long size) throws IOException {
        disk = d.target();
        PrivateFiles.createDirectories(mapDir);
        map = ReplicaHashMap.open(mapFile(mapDir, disk), size);
        journal = map.journal(newPoint);
        int base = newDisks.contains(disk) ? 0 : basePoint;
        writing = spool.begin(domain, disk, base, newPoint);
        DeltaHeader h = new DeltaHeader(domain, disk, size, base, newPoint, DeltaFormat.BLOCK_SIZE,
                DeltaFormat.CODEC_XZ, DeltaFormat.DEFAULT_BLOCK_RAW).withCutMillis(cutMillis);
        writer = new DeltaWriter(writing.stream(), h, preset, pool, threads, journal);
        refiner = new Refiner(writer, map, true, SourceIndex.DEFAULT_MAX_ENTRIES);
        refiner.beginDisk(d, size);
    }

    @Override
    public void zero(long offset, long length) throws IOException {
        refiner.zero(offset, length);
    }

    @Override
    public void data(long offset, byte[] data) throws IOException {
        refiner.data(offset, data);
    }

    @Override
    public void endDisk() throws IOException {
        refiner.endDisk();
        DeltaWriter.Summary s = writer.finish();
        journal.seal();
        journal.close();
        Spool.Entry e = writing.commit();
        map.close();
        done.add(new DiskDelta(disk, e, s, refiner.stats()));
        journal = null;
        writing = null;
        map = null;
    }

    /** Whether any disk so far got a block that differs from the replica's (data, zero or copy). */
    @Override
    public boolean differs() {
        return done.stream().anyMatch(d -> d.refined().differs()) || refiner != null && refiner.stats().differs();
    }

    public List<DiskDelta> deltas() {
        return List.copyOf(done);
    }

    /** Removes whatever this capture left: the disk in progress, and the deltas and journals of finished disks. */
    public void abort() {
        try {
            if (writer != null) {
                writer.close();
            }
            if (writing != null) {
                writing.abort();
            }
            if (journal != null) {
                journal.close();
            }
            if (map != null) {
                ReplicaHashMap.discardJournal(mapFile(mapDir, disk), newPoint);
                map.close();
            }
            for (DiskDelta d : done) {
                spool.discard(d.entry());
                ReplicaHashMap.discardJournal(mapFile(mapDir, d.disk()), newPoint);
            }
        } catch (IOException ignored) {
            // best effort: leftovers are superseded by the next capture's delta and journal
        }
    }
}
