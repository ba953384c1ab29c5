package io.amirror.delta;

import io.amirror.image.DiskImage;
import io.amirror.libvirt.DiskInfo;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
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
     */
    public record CreateOptions(UUID domain, String disk, int basePoint, int newPoint, XzBlockCodec.Preset preset,
                                double linkBytesPerSecond, int threads, int blockRaw) {
    }

    public record CreateResult(DeltaWriter.Summary summary, Refiner.Stats refined, XzBlockCodec.Preset preset,
                               double seconds) {
    }

    /** Writes the delta that turns {@code from} into {@code to}; {@code out} appears only when complete. */
    public static CreateResult create(DiskImage from, DiskImage to, Path out, CreateOptions o) throws IOException {
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
                    DeltaFormat.BLOCK_SIZE, DeltaFormat.CODEC_XZ, o.blockRaw());
            DeltaWriter.Summary summary;
            Refiner refiner;
            try (OutputStream file = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20);
                 DeltaWriter w = new DeltaWriter(file, h, preset, pool, o.threads(), DeltaWriter.ResultListener.NONE)) {
                refiner = new Refiner(w, map);
                refiner.beginDisk(new DiskInfo(o.disk(), null, "raw", false, "disk"), to.size());
                byte[] buf = new byte[PIECE];
                for (long pos = 0; pos < to.size(); pos += PIECE) {
                    int n = (int) Math.min(PIECE, to.size() - pos);
                    to.read(pos, buf, n);
                    refiner.data(pos, n == PIECE ? buf.clone() : java.util.Arrays.copyOf(buf, n));
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

    /**
     * Applies a delta to an image in place, only after the whole delta verified and its disk size
     * matched the image: on any defect the image is not touched.
     */
    public static DeltaReader.Result apply(Path delta, DiskImage image) throws IOException {
        DeltaReader.Result checked = verify(delta);
        if (checked.header().virtualSize() != image.size()) {
            throw new DeltaFormatException("the delta is for a disk of " + checked.header().virtualSize()
                    + " bytes, the image has " + image.size() + "; not applied");
        }
        try (InputStream in = new BufferedInputStream(Files.newInputStream(delta), 1 << 20)) {
            DeltaReader.Result r = DeltaReader.read(in, f -> {
                if (f instanceof Frame.Data d) {
                    image.write(d.offset(), d.payload(), 0, d.payload().length);
                } else {
                    image.zero(f.offset(), f.length());
                }
            });
            image.flush();
            return r;
        }
    }
}
