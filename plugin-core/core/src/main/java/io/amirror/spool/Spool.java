package io.amirror.spool;

import io.amirror.util.DiskNames;
import io.amirror.util.PrivateFiles;

import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Deltas waiting to ship, on the primary: {@code <root>/<domain uuid>/<disk>/delta-<base>-<new>.amd}.
 * A delta is written to a {@code .partial} file and appears under its final name only when complete
 * and synced, so the shipper never sees half a delta.
 *
 * <p>Two rules keep the uplink from carrying what the standby will not need:
 * <ul>
 *   <li>Superseded, not queued: committing delta base→new deletes every older delta of that disk,
 *       since captures start from the last acknowledged point and the new delta covers them all. A
 *       delta being shipped (see {@link #markShipping}) is kept, so a long transfer is never thrown
 *       away by a newer capture.</li>
 *   <li>A size bound, one budget for all writers: a delta that would push the spool past it fails
 *       with {@link SpoolFullException} while it is being written; the partial file is removed and
 *       the capture that produced it is discarded, so no change is lost, only postponed.</li>
 * </ul>
 *
 * <p><b>The budget.</b> Every block a writer writes is counted, before it reaches the file, in one
 * counter shared by all open writers of this spool ({@code inFlight}); the block is refused when
 * that counter plus the bytes already settled on disk (complete deltas, and files of other
 * processes) passes the bound. So concurrent captures share the bound instead of each getting the
 * room that was free when it started. The settled bytes are measured on disk when a writer opens
 * and whenever this spool deletes or commits a delta; a committed delta is counted settled before
 * it leaves the in-flight count (for that instant twice, never zero times). Deltas written by
 * another process (a {@code bridge sync} by hand) are seen at the next measure only.
 */
public final class Spool {
    private static final Pattern NAME = Pattern.compile("delta-(\\d{1,9})-(\\d{1,9})\\.amd");
    /** A delta holds the guest's data: readable by the daemon's user only, from its first byte. */
    private static final FileAttribute<Set<PosixFilePermission>> PRIVATE = PrivateFiles.fileMode();

    /** One complete delta in the spool. */
    public record Entry(UUID domain, String disk, int basePoint, int newPoint, Path file, long size) {
    }

    private final Path root;
    private final long maxBytes;
    /** Bytes written by the open writers of this spool, counted before they reach their files. */
    private final AtomicLong inFlight = new AtomicLong();
    /** The open writers' partial files: counted in {@link #inFlight}, not in {@link #settled}. */
    private final Set<Path> openPartials = ConcurrentHashMap.newKeySet();
    /** Bytes on disk besides the open writers' partial files, as last measured. */
    private volatile long settled;

    public Spool(Path root, long maxBytes) {
        if (maxBytes <= 0) {
            throw new IllegalArgumentException("the spool's size bound must be positive, not " + maxBytes);
        }
        this.root = root;
        this.maxBytes = maxBytes;
    }

    Path diskDir(UUID domain, String disk) {
        if (!DiskNames.valid(disk)) {
            throw new IllegalArgumentException("bad disk name: " + disk);
        }
        return root.resolve(domain.toString()).resolve(disk);
    }

    /** Bytes used by complete and partial deltas, on disk now. */
    public long usedBytes() throws IOException {
        return measure(Set.of());
    }

    /** Bytes counted against the bound now: settled on disk plus reserved by open writers. */
    public long committedBytes() {
        return settled + inFlight.get();
    }

    private long measure(Set<Path> except) throws IOException {
        if (!Files.isDirectory(root)) {
            return 0;
        }
        try (Stream<Path> s = Files.walk(root)) {
            long sum = 0;
            for (Path p : s.filter(Files::isRegularFile).filter(p -> !except.contains(p)).toList()) {
                try {
                    sum += Files.size(p);
                } catch (NoSuchFileException gone) {
                    // removed meanwhile
                }
            }
            return sum;
        }
    }

    /** Measures the settled bytes again (after this spool deleted or committed files). */
    private void resettle() throws IOException {
        settled = measure(openPartials);
    }

    /** Counts {@code len} more bytes of a writer; false (and nothing counted) when they do not fit. */
    private boolean reserve(long len) {
        long now = inFlight.addAndGet(len);
        if (settled + now > maxBytes) {
            inFlight.addAndGet(-len);
            return false;
        }
        return true;
    }

    public long maxBytes() {
        return maxBytes;
    }

    /** Starts writing delta base→new of a disk. */
    public Writing begin(UUID domain, String disk, int basePoint, int newPoint) throws IOException {
        Path dir = diskDir(domain, disk);
        PrivateFiles.createDirectories(dir);
        Path target = dir.resolve("delta-" + basePoint + "-" + newPoint + ".amd");
        Path partial = dir.resolve("delta-" + basePoint + "-" + newPoint + ".amd.partial");
        Files.deleteIfExists(partial); // a leftover would keep its old mode, and count
        resettle();
        if (committedBytes() >= maxBytes) {
            throw new SpoolFullException(committedBytes(), 0, maxBytes);
        }
        return new Writing(domain, disk, basePoint, newPoint, target, partial);
    }

    /** The complete deltas of a disk, oldest first. */
    public List<Entry> entries(UUID domain, String disk) throws IOException {
        Path dir = diskDir(domain, disk);
        List<Entry> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                Matcher m = NAME.matcher(p.getFileName().toString());
                if (m.matches()) {
                    out.add(new Entry(domain, disk, Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), p,
                            Files.size(p)));
                }
            }
        }
        out.sort(Comparator.comparingInt(Entry::newPoint));
        return out;
    }

    /** The shipper is sending this entry: a newer capture must not delete it. */
    public void markShipping(Entry e) throws IOException {
        PrivateFiles.createEmpty(shippingMarker(e.file()));
    }

    public void unmarkShipping(Entry e) throws IOException {
        Files.deleteIfExists(shippingMarker(e.file()));
    }

    /** The standby acknowledged {@code point}: deltas up to it are no longer needed. */
    public void acknowledged(UUID domain, String disk, int point) throws IOException {
        for (Entry e : entries(domain, disk)) {
            if (e.newPoint() <= point) {
                Files.deleteIfExists(e.file());
                Files.deleteIfExists(shippingMarker(e.file()));
            }
        }
        resettle();
    }

    /** A delta that will never ship (its point was abandoned): gone. */
    public void discard(Entry e) throws IOException {
        Files.deleteIfExists(e.file());
        Files.deleteIfExists(shippingMarker(e.file()));
        resettle();
    }

    /** Removes {@code .partial} files left by a crash while writing. */
    public void sweepPartials() throws IOException {
        if (!Files.isDirectory(root)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.filter(p -> p.getFileName().toString().endsWith(".partial"))
                    .filter(p -> !openPartials.contains(p)).toList()) {
                Files.deleteIfExists(p);
            }
        }
        resettle();
    }

    private static Path shippingMarker(Path delta) {
        return delta.resolveSibling(delta.getFileName() + ".shipping");
    }

    /** A delta being written; {@link #commit()} or {@link #abort()} ends it. */
    public final class Writing implements AutoCloseable {
        private final UUID domain;
        private final String disk;
        private final int basePoint;
        private final int newPoint;
        private final Path target;
        private final Path partial;
        private final FileChannel ch;
        private final OutputStream out;
        private final AtomicLong written = new AtomicLong();
        private boolean done;

        Writing(UUID domain, String disk, int basePoint, int newPoint, Path target, Path partial) throws IOException {
            this.domain = domain;
            this.disk = disk;
            this.basePoint = basePoint;
            this.newPoint = newPoint;
            this.target = target;
            this.partial = partial;
            this.ch = FileChannel.open(partial, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), PRIVATE);
            openPartials.add(partial);
            OutputStream raw = Channels.newOutputStream(ch);
            this.out = new BufferedOutputStream(new FilterOutputStream(raw) {
                @Override
                public void write(byte[] b, int off, int len) throws IOException {
                    if (!reserve(len)) {
                        throw new SpoolFullException(committedBytes(), written.get() + len, maxBytes);
                    }
                    written.addAndGet(len);
                    raw.write(b, off, len);
                }

                @Override
                public void write(int b) throws IOException {
                    write(new byte[] {(byte) b}, 0, 1);
                }
            }, 1 << 20);
        }

        public OutputStream stream() {
            return out;
        }

        /** Syncs the delta, gives it its final name, and deletes the deltas it supersedes. */
        public Entry commit() throws IOException {
            out.flush();
            ch.force(true);
            ch.close();
            Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            try (FileChannel d = FileChannel.open(target.getParent(), StandardOpenOption.READ)) {
                d.force(true);
            }
            done = true;
            for (Entry e : entries(domain, disk)) {
                if (e.newPoint() < newPoint && !Files.exists(shippingMarker(e.file()))) {
                    Files.deleteIfExists(e.file());
                }
            }
            try {
                openPartials.remove(partial);
                resettle(); // the delta is settled now; only then it leaves the in-flight count
            } finally {
                inFlight.addAndGet(-written.get());
            }
            return new Entry(domain, disk, basePoint, newPoint, target, Files.size(target));
        }

        public void abort() throws IOException {
            if (done) {
                return;
            }
            done = true;
            try {
                ch.close();
            } finally {
                Files.deleteIfExists(partial);
                openPartials.remove(partial);
                inFlight.addAndGet(-written.get());
            }
        }

        /** Bytes of this delta written so far. */
        public long written() {
            return written.get();
        }

        @Override
        public void close() throws IOException {
            if (!done) {
                abort();
            }
        }
    }
}
