package io.amirror.capture;

import io.amirror.libvirt.DiskInfo;
import io.amirror.nbd.NbdAddress;
import io.amirror.nbd.NbdClient;
import io.amirror.nbd.NbdConstants;
import io.amirror.nbd.NbdException;
import io.amirror.nbd.NbdMessages.Extent;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Reads what changed from one NBD export of a point into a {@link CaptureSink}: the export's
 * {@code base:allocation} and dirty-bitmap contexts decide what is read, and only DATA is read.
 * Every capture source shares it: a libvirt pull backup, {@code qemu-nbd} on a shut-off image, and
 * the bridge's point exports, which all speak the same contexts.
 */
public final class ExportReader {
    private ExportReader() {
    }

    /**
     * Reads one disk's export: block status of {@code base:allocation} and the dirty contexts (their
     * union; none means a full capture), then the planned extents into the sink.
     */
    public static CaptureResult.DiskStats read(NbdAddress export, DiskInfo disk, List<String> dirtyContexts,
                                               List<long[]> alsoRead, CaptureSink sink, Duration timeout)
            throws IOException {
        return read(export, disk, dirtyContexts, alsoRead, sink, timeout, false);
    }

    /**
     * As above; {@code whole} says the disk is read in full because it keeps no dirty bitmap (a raw
     * file or block device, at every point): its reads are held to the sink's
     * {@linkplain CaptureReading#wholeReadRate() read rate}, so the guest's own I/O keeps priority.
     * The sink's {@linkplain CaptureReading#progress() progress} hears the plan and every piece read.
     */
    public static CaptureResult.DiskStats read(NbdAddress export, DiskInfo disk, List<String> dirtyContexts,
                                               List<long[]> alsoRead, CaptureSink sink, Duration timeout, boolean whole)
            throws IOException {
        CaptureReading reading = sink.reading();
        CaptureProgress progress = reading.progress();
        ReadPacer pacer = ReadPacer.of(whole ? reading.wholeReadRate() : 0);
        List<String> contexts = new ArrayList<>();
        contexts.add(NbdConstants.CONTEXT_BASE_ALLOCATION);
        contexts.addAll(dirtyContexts);
        try (NbdClient c = NbdClient.connect(export, contexts, timeout)) {
            long size = c.export().size();
            var maps = c.blockStatus(0, size);
            List<Extent> dirty = null; // none: a full capture
            if (!dirtyContexts.isEmpty()) {
                List<List<Extent>> marked = new ArrayList<>(dirtyContexts.stream().map(maps::get).toList());
                marked.add(ExtentPlanner.ranges(size, alsoRead));
                dirty = ExtentPlanner.union(size, marked);
            }
            List<PlannedExtent> plan = ExtentPlanner.plan(size, maps.get(NbdConstants.CONTEXT_BASE_ALLOCATION), dirty);
            sink.beginDisk(disk, size);
            long[] bytes = new long[2];   // data, zero
            int[] counts = new int[2];
            List<long[]> reads = new ArrayList<>();
            ArrayDeque<PlannedExtent> zeroes = new ArrayDeque<>();
            long toRead = 0;
            for (PlannedExtent p : plan) {
                if (p.kind() == PlannedExtent.Kind.ZERO) {
                    zeroes.add(p);
                } else {
                    reads.add(new long[] {p.offset(), p.length()});
                    toRead += p.length();
                }
            }
            progress.planned(disk.target(), toRead, whole);
            long[] read = new long[1];
            // Data arrives in plan order; ZERO extents are slotted in between, so the sink sees one
            // increasing sequence.
            c.readRanges(reads, READ_PIECE, true, (offset, data) -> {
                read[0] += data.length;
                progress.read(disk.target(), data.length);
                pacer.paid(data.length);
                try {
                    while (!zeroes.isEmpty() && zeroes.peekFirst().offset() < offset) {
                        PlannedExtent z = zeroes.pollFirst();
                        sink.zero(z.offset(), z.length());
                        bytes[1] += z.length();
                        counts[1]++;
                    }
                    // Zeroes written as data (dd if=/dev/zero) are sent as what they are.
                    if (allZero(data)) {
                        sink.zero(offset, data.length);
                        bytes[1] += data.length;
                        counts[1]++;
                    } else {
                        sink.data(offset, data);
                        bytes[0] += data.length;
                        counts[0]++;
                    }
                } catch (IOException e) {
                    throw new NbdException("capture sink failed: " + e.getMessage(), e);
                }
            });
            for (PlannedExtent z : zeroes) {
                sink.zero(z.offset(), z.length());
                bytes[1] += z.length();
                counts[1]++;
            }
            sink.endDisk();
            return new CaptureResult.DiskStats(disk.target(), size, bytes[0], counts[0], bytes[1], counts[1], whole, read[0]);
        }
    }

    static boolean allZero(byte[] data) {
        // Arrays.mismatch is vectorised; comparing against a shared zero page keeps it allocation-free.
        for (int pos = 0; pos < data.length; pos += ZEROES.length) {
            int n = Math.min(ZEROES.length, data.length - pos);
            if (Arrays.mismatch(data, pos, pos + n, ZEROES, 0, n) >= 0) {
                return false;
            }
        }
        return true;
    }

    private static final byte[] ZEROES = new byte[64 * 1024];
    /** Read size: small enough that in-order delivery holds little, large enough to keep the pipe full. */
    static final int READ_PIECE = 1 << 20;

}
