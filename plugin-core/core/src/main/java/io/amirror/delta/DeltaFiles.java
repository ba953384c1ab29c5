package io.amirror.delta;

import io.amirror.image.DiskImage;
import io.amirror.libvirt.DiskInfo;
import io.amirror.util.PrivateFiles;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Deltas as files: made from two images of one disk, verified, applied. The same writer, refiner and
 * reader as the replication pipeline, so {@code amirror delta create} is an honest offline measure
 * of what the pipeline sends.
 */
public final class DeltaFiles {
    static final int PIECE = 1 << 20;
    static final int SAMPLE = 2 << 20;

    private DeltaFiles() {
    }

    /**
     * @param preset     the xz preset; null to choose one for {@code linkBytesPerSecond}
     * @param threads    compression threads
     * @param cutMillis  the new point's cut time for the header (milliseconds since 1970; 0 unknown)
     */
    public record CreateOptions(UUID domain, String disk, int basePoint, int newPoint, XzBlockCodec.Preset preset,
                                double linkBytesPerSecond, int threads, int blockRaw, long cutMillis) {
        /** Options whose cut time is now: the moment the new state is read. */
        public CreateOptions(UUID domain, String disk, int basePoint, int newPoint, XzBlockCodec.Preset preset,
                             double linkBytesPerSecond, int threads, int blockRaw) {
            this(domain, disk, basePoint, newPoint, preset, linkBytesPerSecond, threads, blockRaw,
                    System.currentTimeMillis());
        }
    }

    public record CreateResult(DeltaWriter.Summary summary, Refiner.Stats refined, XzBlockCodec.Preset preset,
                               double seconds) {
    }

    /** Writes the delta that turns {@code from} into {@code to}, with COPY frames; {@code out} appears only when complete. */
    public static CreateResult create(DiskImage from, DiskImage to, Path out, CreateOptions o) throws IOException {
        return create(from, to, out, o, true);
    }

    /**
     * As above; {@code copies} says whether blocks {@code from} holds elsewhere go as COPY frames
     * (found through a {@link SourceIndex} built from {@code from}, as the pipeline builds it from
     * the replica hash map).
     */
    public static CreateResult create(DiskImage from, DiskImage to, Path out, CreateOptions o, boolean copies)
            throws IOException {
        if (from.size() != to.size()) {
            throw new IOException("the images differ in size (" + from.size() + " and " + to.size()
                    + " bytes): a delta connects two states of one disk");
        }
        long t0 = System.nanoTime();
        Path mapFile = Files.createTempFile(out.toAbsolutePath().getParent(), ".amirror-map-", ".tmp");
        Path tmp = out.resolveSibling("." + out.getFileName() + ".tmp");
        ExecutorService pool = Executors.newFixedThreadPool(o.threads());
        try (ReplicaHashMap map = openFresh(mapFile, from.size())) {
            map.rebuild(from.stream(), o.basePoint());
            XzBlockCodec.Preset preset = o.preset() != null ? o.preset()
                    : PresetChooser.calibrate(sampleOfChanges(to, map), SAMPLE, o.linkBytesPerSecond(), o.threads());
            DeltaHeader h = new DeltaHeader(o.domain(), o.disk(), to.size(), o.basePoint(), o.newPoint(),
                    DeltaFormat.BLOCK_SIZE, DeltaFormat.CODEC_XZ, o.blockRaw()).withCutMillis(o.cutMillis());
            DeltaWriter.Summary summary;
            Refiner refiner;
            try (OutputStream file = new BufferedOutputStream(PrivateFiles.newOutputStream(tmp), 1 << 20);
                 DeltaWriter w = new DeltaWriter(file, h, preset, pool, o.threads(), DeltaWriter.ResultListener.NONE)) {
                refiner = new Refiner(w, map, copies, SourceIndex.DEFAULT_MAX_ENTRIES);
                refiner.beginDisk(new DiskInfo(o.disk(), null, "raw", false, "disk"), to.size());
                byte[] buf = new byte[PIECE];
                for (long pos = 0; pos < to.size(); pos += PIECE) {
                    int n = (int) Math.min(PIECE, to.size() - pos);
                    to.read(pos, buf, n);
                    refiner.data(pos, n == PIECE ? buf.clone() : Arrays.copyOf(buf, n));
                }
                refiner.endDisk();
                summary = w.finish();
            }
            Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return new CreateResult(summary, refiner.stats(), preset, (System.nanoTime() - t0) / 1e9);
        } finally {
            pool.shutdownNow();
            Files.deleteIfExists(tmp);
            Files.deleteIfExists(mapFile);
        }
    }

    private static ReplicaHashMap openFresh(Path file, long size) throws IOException {
        Files.deleteIfExists(file);
        return ReplicaHashMap.open(file, size);
    }

    /** Up to {@link #SAMPLE} bytes of blocks of {@code to} that the map does not know: what will be compressed. */
    static byte[] sampleOfChanges(DiskImage to, ReplicaHashMap map) throws IOException {
        byte[] sample = new byte[SAMPLE];
        int filled = 0;
        byte[] buf = new byte[PIECE];
        for (long pos = 0; pos < to.size() && filled < SAMPLE; pos += PIECE) {
            int n = (int) Math.min(PIECE, to.size() - pos);
            to.read(pos, buf, n);
            byte[] known = map.read(pos / DeltaFormat.BLOCK_SIZE, (n + DeltaFormat.BLOCK_SIZE - 1) / DeltaFormat.BLOCK_SIZE);
            for (int off = 0; off < n && filled < SAMPLE; off += DeltaFormat.BLOCK_SIZE) {
                int len = Math.min(DeltaFormat.BLOCK_SIZE, n - off);
                if (!BlockHash.isZero(buf, off, len)
                        && !ReplicaHashMap.matches(known, off / DeltaFormat.BLOCK_SIZE, BlockHash.of(buf, off, len))) {
                    int c = Math.min(len, SAMPLE - filled);
                    System.arraycopy(buf, off, sample, filled, c);
                    filled += c;
                }
            }
        }
        if (filled < SAMPLE) {
            // few changes: repeat what there is, so the timing is not dominated by start-up costs
            for (int i = filled; filled > 0 && i < SAMPLE; i++) {
                sample[i] = sample[i % filled];
            }
        }
        return sample;
    }

    public static DeltaReader.Result verify(Path delta) throws IOException {
        try (InputStream in = new BufferedInputStream(Files.newInputStream(delta), 1 << 20)) {
            return DeltaReader.verify(in);
        }
    }

    /** Where COPY frames read their sources: the disk at the delta's base point, opened when first needed. */
    public interface BaseImage {
        DiskImage open() throws IOException;
    }

    /**
     * COPY sources that are not on the replica as the delta expects (their hash differs): nothing
     * was written. {@code ranges} are the source ranges ({@code [offset, length]}) that differ.
     */
    public static final class StaleSourceException extends IOException {
        private final List<long[]> ranges;

        public StaleSourceException(List<long[]> ranges) {
            super(ranges.size() + " COPY source range(s) differ from the replica the delta expects, first at byte "
                    + ranges.get(0)[0] + ": the replica drifted; not applied");
            this.ranges = List.copyOf(ranges);
        }

        public List<long[]> ranges() {
            return ranges;
        }
    }

    /**
     * What pass one of an apply found: the delta read and verified whole, and its COPY sources
     * checked and kept in {@code file} (null: the delta has no COPY frame).
     */
    public record Sources(Path file) {
    }

    /**
     * Applies a delta to an image in place, reading COPY sources from the image itself before any
     * write: right for a first apply, where the image is at the base point.
     */
    public static DeltaReader.Result apply(Path delta, DiskImage image) throws IOException {
        return apply(delta, image, gatherSources(delta, () -> image, false));
    }

    /**
     * Pass two of an apply: writes the frames in order, COPY frames from what {@link #gatherSources}
     * kept (deleted afterwards). Nothing is written unless pass one verified the whole delta and its
     * disk size matches the image.
     */
    public static DeltaReader.Result apply(Path delta, DiskImage image, Sources sources) throws IOException {
        try {
            long size;
            try (InputStream in = new BufferedInputStream(Files.newInputStream(delta))) {
                size = DeltaReader.readHeader(in).virtualSize();
            }
            if (size != image.size()) {
                throw new DeltaFormatException("the delta is for a disk of " + size + " bytes, the image has "
                        + image.size() + "; not applied");
            }
            try (InputStream in = new BufferedInputStream(Files.newInputStream(delta), 1 << 20);
                 InputStream src = sources.file() != null
                         ? new BufferedInputStream(Files.newInputStream(sources.file()), 1 << 20)
                         : InputStream.nullInputStream()) {
                DeltaReader.Result r = DeltaReader.read(in, f -> {
                    if (f instanceof Frame.Data d) {
                        image.write(d.offset(), d.payload(), 0, d.payload().length);
                    } else if (f instanceof Frame.Copy c) {
                        byte[] b = DeltaReader.readExactly(src, (int) c.length(), "the COPY sources");
                        image.write(c.offset(), b, 0, b.length);
                    } else {
                        image.zero(f.offset(), f.length());
                    }
                });
                image.flush();
                return r;
            }
        } finally {
            if (sources.file() != null) {
                Files.deleteIfExists(sources.file());
            }
        }
    }

    /**
     * Pass one of an apply: reads the whole delta, verifying it, and every COPY source from
     * {@code base} (the disk at the delta's base point, never the image being written, so a
     * re-apply after a crash and a frame that overwrites another's source stay right); checks each
     * source block against its hash and keeps the bytes in a scratch file beside the delta. A
     * defect in the delta is a {@link DeltaFormatException}, a source mismatch a
     * {@link StaleSourceException}; either way nothing is kept.
     *
     * @param closeBase whether the image {@code base} opens is this call's to close
     */
    public static Sources gatherSources(Path delta, BaseImage base, boolean closeBase) throws IOException {
        Path out = delta.resolveSibling(delta.getFileName() + ".sources");
        List<long[]> stale = new ArrayList<>();
        DiskImage[] opened = {null};
        try (InputStream in = new BufferedInputStream(Files.newInputStream(delta), 1 << 20);
             OutputStream o = new BufferedOutputStream(PrivateFiles.newOutputStream(out), 1 << 20)) {
            DeltaReader.read(in, f -> {
                if (!(f instanceof Frame.Copy c)) {
                    return;
                }
                if (opened[0] == null) {
                    opened[0] = base.open();
                }
                byte[] b = new byte[(int) c.length()];
                opened[0].read(c.source(), b, b.length);
                for (int i = 0; i < c.blocks(); i++) {
                    if (!Arrays.equals(BlockHash.of(b, i * BLOCK, BLOCK), c.hash(i))) {
                        long at = c.source() + (long) i * BLOCK;
                        long[] last = stale.isEmpty() ? null : stale.get(stale.size() - 1);
                        if (last != null && last[0] + last[1] == at) {
                            last[1] += BLOCK;
                        } else {
                            stale.add(new long[] {at, BLOCK});
                        }
                    }
                }
                o.write(b);
            });
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(out);
            throw e;
        } finally {
            if (closeBase && opened[0] != null) {
                opened[0].close();
            }
        }
        if (!stale.isEmpty() || opened[0] == null) {
            Files.deleteIfExists(out);
        }
        if (!stale.isEmpty()) {
            throw new StaleSourceException(stale);
        }
        return new Sources(opened[0] == null ? null : out);
    }

    private static final int BLOCK = DeltaFormat.BLOCK_SIZE;
}
