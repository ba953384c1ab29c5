package io.amirror.bridge;

import io.amirror.libvirt.CheckpointChain;
import io.amirror.state.StateDirLock;
import io.amirror.util.PrivateFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A raw disk image in the guest's I/O path, doing for a guest outside libvirt what QEMU's
 * persistent dirty bitmaps and checkpoints do for libvirt domains.
 *
 * <p><b>Points.</b> Point {@code n} owns a {@link DirtyMap} of the blocks written since it was cut;
 * the newest point's map is the one recording. What changed between point {@code b} and point
 * {@code n} is the union of the maps of the points from {@code b} to {@code n-1}, the same rule as
 * for libvirt checkpoints, so the capture reads both the same way. Deleting a point merges its map
 * into its predecessor's (none: dropped), again as libvirt does. Before the first point nothing is
 * tracked: the first capture is full.
 *
 * <p><b>Ordering.</b> Every guest write, write-zeroes and trim runs under one lock, in three steps:
 * mark the dirty map durably, preserve the blocks' old content for every open {@link Snapshot},
 * write the image. {@link #cut} takes the same lock, so a point falls between two writes, never
 * inside one: writes that finished before it are in it, the others are not. That is the ordering
 * marker of the original Amirror block layer, at the cost of holding writes for the time it takes
 * to create one empty map.
 *
 * <p>One volume per state directory, across processes: {@link #open} takes its {@code bridge.lock}
 * ({@link StateDirLock}) before it reads or cleans anything there, and {@link #close} releases it.
 *
 * <p>Crash safety: the state ({@link BridgeState}) and the maps are written before the writes they
 * describe. After a crash, a map with no point in the state (a cut that did not finish) is removed,
 * and the snapshots, which lived only as long as the process, are gone.
 */
public final class BridgeVolume implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BridgeVolume.class);
    /** One bridge per state directory: a second one would replace the first's sockets and remove its scratch files. */
    static final StateDirLock.Daemon BRIDGE = new StateDirLock.Daemon("bridge.lock", "the bridge (amirror bridge serve)",
            "systemctl stop amirror-bridge@POLICY if it runs as a unit");

    private final Path image;
    private final Path stateDir;
    private final FileChannel data;
    private final NativeFile nat;
    private final long size;
    private final ReentrantLock lock = new ReentrantLock();
    private final StateDirLock stateLock;
    private final Map<Integer, DirtyMap> maps = new TreeMap<>();
    private final Map<Integer, Snapshot> snapshots = new TreeMap<>();
    private BridgeState state;

    private BridgeVolume(Path image, Path stateDir, FileChannel data, NativeFile nat, BridgeState state,
                         StateDirLock stateLock) {
        this.stateLock = stateLock;
        this.image = image;
        this.stateDir = stateDir;
        this.data = data;
        this.nat = nat;
        this.size = state.size();
        this.state = state;
    }

    /**
     * Opens the image and its state; the first open creates the state with {@code uuid} (null: a new
     * one; give the old one when the state directory was lost, so the standby's replica is repaired
     * rather than started anew), {@code name} and {@code disk}. An image whose size changed since the
     * state was made is refused: its maps no longer describe it.
     */
    public static BridgeVolume open(Path image, Path stateDir, UUID uuid, String name, String disk,
                                    List<String> launcher) throws IOException {
        if (!Files.isRegularFile(image)) {
            throw new IOException(image + " is not a regular file (the bridge serves raw image files)");
        }
        long size = Files.size(image);
        if (size == 0 || size % DirtyMap.BLOCK != 0) {
            throw new IOException(image + " is " + size + " bytes, not a positive multiple of 4096: resize it with "
                    + "'qemu-img resize -f raw' to a multiple first");
        }
        PrivateFiles.createDirectories(stateDir); // its maps and scratch files say and hold what the guest wrote
        StateDirLock held = StateDirLock.acquire(stateDir, BRIDGE); // before the state is read or a stray file removed
        BridgeVolume v;
        try {
            secureState(stateDir);
            BridgeState s;
            if (BridgeState.exists(stateDir)) {
                s = BridgeState.read(stateDir);
                if (uuid != null && !uuid.equals(s.uuid())) {
                    throw new IOException(stateDir + " belongs to guest " + s.uuid() + ", not " + uuid);
                }
                if (s.size() != size) {
                    throw new IOException(image + " is " + size + " bytes but was " + s.size() + " when its points were "
                            + "cut: the dirty maps no longer describe it; move " + stateDir + " away to start a new chain "
                            + "(the replica is then repaired by hashes, not resent)");
                }
            } else {
                s = new BridgeState(uuid != null ? uuid : UUID.randomUUID(), name, disk, size, List.of(), launcher);
                s.write(stateDir);
            }
            FileChannel ch = FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE);
            v = new BridgeVolume(image, stateDir, ch, NativeFile.open(image), s, held);
        } catch (IOException | RuntimeException e) {
            held.close();
            throw e;
        }
        try {
            v.loadMaps();
        } catch (IOException | RuntimeException e) {
            v.close();
            throw e;
        }
        return v;
    }

    /**
     * Tightens what an older amirror (or one run with umask 0022) left readable by other users: the
     * state file and the maps, and the directory itself when it holds nothing but the bridge's files
     * (a state directory given as the image's own directory keeps its mode). Logged once.
     */
    private static void secureState(Path stateDir) throws IOException {
        List<Path> changed = new ArrayList<>();
        boolean onlyOurs = true;
        try (var files = Files.list(stateDir)) {
            for (Path f : files.toList()) {
                String n = f.getFileName().toString();
                if (n.equals(BridgeState.FILE) || n.matches("point-[0-9]+\\.map")) {
                    if (PrivateFiles.tighten(f)) {
                        changed.add(f);
                    }
                } else if (!n.startsWith(".") && !n.matches("point-[0-9]+\\.(map\\.new|scratch)") && !n.equals("control.sock")
                        && !n.equals(BRIDGE.lockName())) {
                    onlyOurs = false;
                }
            }
        }
        if (onlyOurs && PrivateFiles.tighten(stateDir)) {
            changed.add(stateDir);
        }
        if (!changed.isEmpty()) {
            log.info("{}: {} path(s) were readable by other users and are now private (0600, directory 0700): {}",
                    stateDir, changed.size(), changed.stream().map(p -> p.getFileName().toString()).toList());
        }
    }

    private void loadMaps() throws IOException {
        for (int p : state.points()) {
            maps.put(p, DirtyMap.open(mapFile(p), size));
        }
        try (var files = Files.list(stateDir)) {
            for (Path f : files.toList()) {
                String n = f.getFileName().toString();
                if (n.matches("point-[0-9]+\\.map(\\.new)?") && !maps.containsKey(pointOf(n))
                        || n.endsWith(".scratch")) {
                    log.info("removing {}: left by a cut or a capture that did not finish", f);
                    Files.delete(f);
                }
            }
        }
    }

    private static int pointOf(String mapFileName) {
        return Integer.parseInt(mapFileName.replaceAll("[^0-9]", ""));
    }

    private Path mapFile(int point) {
        return stateDir.resolve("point-" + point + ".map");
    }

    public long size() {
        return size;
    }

    public Path image() {
        return image;
    }

    public BridgeState state() {
        lock.lock();
        try {
            return state;
        } finally {
            lock.unlock();
        }
    }

    // ------------------------------------------------------------------ guest I/O

    /** Reads the image as the guest sees it now. */
    public void read(long offset, ByteBuffer dst) throws IOException {
        readFully(data, offset, dst);
    }

    public void write(long offset, ByteBuffer src) throws IOException {
        lock.lock();
        try {
            beforeChange(offset, src.remaining());
            long at = offset;
            while (src.hasRemaining()) {
                at += data.write(src, at);
            }
        } finally {
            lock.unlock();
        }
    }

    /** Zeroes the range: punched out when the file system can (and {@code mayPunch}), else written. */
    public void writeZeroes(long offset, long length, boolean mayPunch) throws IOException {
        lock.lock();
        try {
            beforeChange(offset, length);
            if (mayPunch && nat != null && nat.punchHole(offset, length)) {
                return;
            }
            ByteBuffer zeroes = ByteBuffer.allocate((int) Math.min(length, 1 << 20));
            for (long at = offset; at < offset + length; ) {
                zeroes.clear().limit((int) Math.min(zeroes.capacity(), offset + length - at));
                while (zeroes.hasRemaining()) {
                    at += data.write(zeroes, at);
                }
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * A guest's discard. The range is punched out, so it reads as zero and the replica gets a
     * zero frame of a few bytes instead of keeping stale blocks the guest no longer uses.
     */
    public void trim(long offset, long length) throws IOException {
        writeZeroes(offset, length, true);
    }

    /** Makes every completed write durable (the maps already are). */
    public void flush() throws IOException {
        data.force(false);
    }

    /** The write-ahead steps: durable dirty marks, then the old content for every open snapshot. */
    private void beforeChange(long offset, long length) throws IOException {
        if (offset < 0 || length < 0 || offset + length > size) {
            throw new IllegalArgumentException("range " + offset + "+" + length + " outside a " + size + "-byte disk");
        }
        if (length == 0) {
            return;
        }
        DirtyMap recording = maps.get(state.latest());
        if (recording != null) {
            recording.mark(offset, length);
        }
        if (snapshots.isEmpty()) {
            return;
        }
        ByteBuffer old = ByteBuffer.allocate(DirtyMap.BLOCK);
        for (long b = offset / DirtyMap.BLOCK; b <= (offset + length - 1) / DirtyMap.BLOCK; b++) {
            boolean needed = false;
            for (Snapshot s : snapshots.values()) {
                needed |= !s.holds(b);
            }
            if (!needed) {
                continue;
            }
            old.clear();
            readFully(data, b * DirtyMap.BLOCK, old);
            for (Snapshot s : snapshots.values()) {
                s.preserve(b, old.flip().duplicate());
                old.position(old.limit());
            }
        }
    }

    // ------------------------------------------------------------------ points

    /**
     * Cuts a new point between two guest writes and opens its snapshot for reading. Returns its
     * number, the next after the newest or {@code atLeast}, whichever is higher. The caller reads it
     * ({@link #readPoint}) and then {@link #release}s it.
     */
    public int cut(int atLeast) throws IOException {
        lock.lock();
        try {
            int n = Math.max(state.latest() + 1, atLeast);
            maps.put(n, DirtyMap.create(mapFile(n), size));
            List<Integer> points = new ArrayList<>(state.points());
            points.add(n);
            try {
                state.withPoints(points).write(stateDir);
            } catch (IOException e) {
                maps.remove(n).close();
                Files.deleteIfExists(mapFile(n));
                throw e;
            }
            state = state.withPoints(points);
            snapshots.put(n, new Snapshot(n, stateDir.resolve("point-" + n + ".scratch")));
            return n;
        } finally {
            lock.unlock();
        }
    }

    /** Whether point {@code n}'s snapshot is open (cut by this process and not released). */
    public boolean readable(int n) {
        lock.lock();
        try {
            return snapshots.containsKey(n);
        } finally {
            lock.unlock();
        }
    }

    /** Reads point {@code n}'s snapshot: the image as it was when {@code n} was cut. */
    public void readPoint(int n, long offset, ByteBuffer dst) throws IOException {
        lock.lock();
        try {
            Snapshot s = openSnapshot(n);
            int length = dst.remaining();
            ByteBuffer at = dst.duplicate();
            readFully(data, offset, at);
            s.overlay(offset, dst.duplicate(), length);
            dst.position(dst.position() + length);
        } finally {
            lock.unlock();
        }
    }

    /** Allocated ranges of point {@code n}: the image's now, plus every block preserved since the cut. */
    public List<long[]> pointAllocation(int n, long from, long to) {
        lock.lock();
        try {
            Snapshot s = openSnapshot(n);
            List<long[]> ranges = new ArrayList<>(allocation(from, to));
            for (long b : s.preservedSet()) {
                long o = b * DirtyMap.BLOCK;
                if (o + DirtyMap.BLOCK > from && o < to) {
                    ranges.add(new long[] {o, DirtyMap.BLOCK});
                }
            }
            return ranges;
        } finally {
            lock.unlock();
        }
    }

    /** Allocated ranges of the image now (all of it when the file system cannot tell). */
    public List<long[]> allocation(long from, long to) {
        return nat == null ? List.of(new long[] {from, to - from}) : nat.dataRanges(from, to);
    }

    /** The points whose maps a reader of point {@code n} may union: every point before it. */
    public List<Integer> pointsBefore(int n) {
        lock.lock();
        try {
            return state.points().stream().filter(p -> p < n).toList();
        } finally {
            lock.unlock();
        }
    }

    /** The blocks written between point {@code p} and the point after it, as byte ranges. */
    public List<long[]> changedAfter(int p) {
        lock.lock();
        try {
            DirtyMap m = maps.get(p);
            if (m == null) {
                throw new IllegalArgumentException("no point " + p);
            }
            return m.ranges(size);
        } finally {
            lock.unlock();
        }
    }

    /** Ends the reading of point {@code n}: its scratch file goes; the point itself stays. */
    public void release(int n) throws IOException {
        lock.lock();
        try {
            Snapshot s = snapshots.remove(n);
            if (s != null) {
                s.close();
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Deletes point {@code n}: its map merges into its predecessor's, so nothing it recorded is lost
     * for a reader from an earlier point; the oldest point's map is simply dropped. Deleting the
     * newest point makes its predecessor record again.
     */
    public void delete(int n) throws IOException {
        lock.lock();
        try {
            if (!state.points().contains(n)) {
                throw new IllegalArgumentException("no point " + n + " (points: " + state.points() + ")");
            }
            release(n);
            List<Integer> points = new ArrayList<>(state.points());
            int i = points.indexOf(n);
            if (i > 0) {
                maps.get(points.get(i - 1)).merge(maps.get(n));
            }
            points.remove(i);
            state.withPoints(points).write(stateDir);
            state = state.withPoints(points);
            maps.remove(n).close();
            Files.deleteIfExists(mapFile(n));
        } finally {
            lock.unlock();
        }
    }

    /** Names points for the NBD metadata contexts, as libvirt names checkpoints. */
    public static String pointName(int n) {
        return CheckpointChain.name(n);
    }

    private Snapshot openSnapshot(int n) {
        Snapshot s = snapshots.get(n);
        if (s == null) {
            throw new IllegalArgumentException("point " + n + " is not open for reading (cut it again)");
        }
        return s;
    }

    private static void readFully(FileChannel ch, long offset, ByteBuffer dst) throws IOException {
        long at = offset;
        while (dst.hasRemaining()) {
            int n = ch.read(dst, at);
            if (n < 0) {
                throw new IOException("read beyond the end of the image at " + at);
            }
            at += n;
        }
    }

    @Override
    public void close() throws IOException {
        lock.lock();
        try {
            for (Snapshot s : snapshots.values()) {
                s.close();
            }
            snapshots.clear();
            for (DirtyMap m : maps.values()) {
                m.close();
            }
            maps.clear();
            if (nat != null) {
                nat.close();
            }
            data.close();
        } finally {
            try {
                stateLock.close();
            } finally {
                lock.unlock();
            }
        }
    }
}
