package io.amirror.standby;

import io.amirror.capture.CaptureResult;
import io.amirror.capture.CaptureSink;
import io.amirror.config.Policy;
import io.amirror.libvirt.DiskInfo;
import io.amirror.primary.PointSource;
import io.amirror.transport.ReplicaManifest;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;

/**
 * A guest named "files" whose disks are byte arrays, for a primary's cycles without a VM: every cut
 * sends every disk whole (refinement keeps what changed), and a disk can be added between cuts.
 */
final class MemoryGuest implements PointSource {
    private final UUID uuid;
    private final String domainXml;
    final Map<String, byte[]> disks = new LinkedHashMap<>();
    private final Random random = new Random(20);
    private int retired;
    private int cut;

    /** {@code domainXml} is what its manifest describes. */
    MemoryGuest(UUID uuid, String domainXml) {
        this.uuid = uuid;
        this.domainXml = domainXml;
    }

    /** Attaches disk {@code name} of {@code size} bytes, its first half random. */
    MemoryGuest add(String name, int size) {
        disks.put(name, new byte[size]);
        write(name, 0, size / 2);
        return this;
    }

    void write(String disk, int offset, int length) {
        byte[] b = new byte[length];
        random.nextBytes(b);
        System.arraycopy(b, 0, disks.get(disk), offset, length);
    }

    @Override
    public UUID uuid() {
        return uuid;
    }

    @Override
    public String name() {
        return "files";
    }

    @Override
    public List<Disk> disks() {
        List<Disk> out = new ArrayList<>();
        disks.forEach((n, b) -> out.add(new Disk(n, b.length)));
        return out;
    }

    @Override
    public boolean tracks(int point) {
        return true;
    }

    @Override
    public int nextPoint(int acknowledged) {
        return Math.max(acknowledged, cut) + 1;
    }

    @Override
    public CaptureResult cut(int since, int newPoint, CaptureSink sink, boolean quiesce, Map<String, List<long[]>> alsoRead)
            throws IOException {
        List<CaptureResult.DiskStats> stats = new ArrayList<>();
        for (var e : disks.entrySet()) {
            sink.beginDisk(new DiskInfo(e.getKey(), null, "raw", false, "disk"), e.getValue().length);
            sink.data(0, e.getValue().clone());
            sink.endDisk();
            stats.add(new CaptureResult.DiskStats(e.getKey(), e.getValue().length, e.getValue().length, 1, 0, 0));
        }
        cut = newPoint;
        return new CaptureResult("files", since, newPoint, false, stats, CaptureResult.Consistency.CRASH);
    }

    @Override
    public void discardNewerThan(int acknowledged) {
    }

    @Override
    public void abandon(int point) {
    }

    @Override
    public void retire(int point) {
        retired = point;
    }

    @Override
    public int retiredTo() {
        return retired;
    }

    @Override
    public void reset() {
    }

    @Override
    public ReplicaManifest manifest(int point, Policy policy) {
        return new ReplicaManifest(uuid, "files", point, domainXml, Map.of(), Map.of(), 3, 86400, null);
    }
}
