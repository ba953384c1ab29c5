package io.amirror.transport;

import io.amirror.delta.DeltaScanner;
import io.amirror.image.DiskImage;
import io.amirror.standby.ReplicaDisk;
import io.amirror.standby.ReplicaDomain;
import io.amirror.standby.ReplicaManifest;
import io.amirror.standby.StandbyRefusal;
import io.amirror.transport.WireMessage.Ack;
import io.amirror.transport.WireMessage.Commit;
import io.amirror.transport.WireMessage.Data;
import io.amirror.transport.WireMessage.Describe;
import io.amirror.transport.WireMessage.Described;
import io.amirror.transport.WireMessage.Hello;
import io.amirror.transport.WireMessage.Offer;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.transport.WireMessage.Resume;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The standby's end of the link: accepts TLS connections from pinned primaries and, per offered
 * delta, answers where to resume, stores the bytes durably as they come, and on COMMIT verifies and
 * applies the delta ({@link ReplicaDisk}) before it acknowledges. Only authenticated peers get past
 * the handshake, so no unauthenticated byte reaches a replica.
 *
 * <p>A DESCRIBE stores the domain's {@link ReplicaManifest}; the {@link ReplicaListener} then
 * defines the replica domain, outside the domain's lock (a libvirt call under it could wait for the
 * hook that waits for the lock). A replica that was promoted on this standby receives nothing more.
 *
 * <p>Received bytes are synced to disk every {@link #SYNC_EVERY} bytes and at COMMIT; on a resume
 * the offset offered is the end of the last complete block whose checksum holds
 * ({@link DeltaScanner}), so a cut costs at most the block in flight.
 */
public final class Receiver implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Receiver.class);
    static final long SYNC_EVERY = 4 << 20;

    private final SSLServerSocket server;
    private final Path root;
    private final DiskImage.Tools tools;
    private final ReplicaDisk.Retention retention;
    private final ExecutorService connections = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "standby-connection");
        t.setDaemon(true);
        return t;
    });
    /** One transfer per domain at a time: a second connection for the same domain waits its turn. */
    private final ConcurrentHashMap<java.util.UUID, Object> domainLocks = new ConcurrentHashMap<>();
    private final ReplicaListener listener;

    /** Hears of a stored manifest, to define the replica domain. Called outside every lock. */
    public interface ReplicaListener {
        void described(ReplicaDomain domain);
    }
    private final Thread acceptor;

    public Receiver(SSLServerSocket server, Path replicaRoot, DiskImage.Tools tools, int keepPoints) {
        this(server, replicaRoot, tools, ReplicaDisk.Retention.count(keepPoints), d -> {
        });
    }

    /** {@code retention} holds for domains whose primary has not described them (an older primary, or none yet). */
    public Receiver(SSLServerSocket server, Path replicaRoot, DiskImage.Tools tools, ReplicaDisk.Retention retention,
                    ReplicaListener listener) {
        this.server = server;
        this.listener = listener;
        this.root = replicaRoot;
        this.tools = tools;
        this.retention = retention;
        this.acceptor = new Thread(this::acceptLoop, "standby-accept");
        acceptor.setDaemon(true);
    }

    public Receiver start() {
        acceptor.start();
        return this;
    }

    public int port() {
        return server.getLocalPort();
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                SSLSocket s = (SSLSocket) server.accept();
                connections.submit(() -> serve(s));
            } catch (IOException e) {
                if (!server.isClosed()) {
                    log.warn("accept failed: {}", e.getMessage());
                }
            }
        }
    }

    private void serve(SSLSocket s) {
        try (s) {
            s.setSoTimeout(120_000);
            s.startHandshake(); // a peer that is not pinned fails here, before any byte is read
            InputStream in = new BufferedInputStream(s.getInputStream(), 1 << 16);
            OutputStream out = new BufferedOutputStream(s.getOutputStream(), 1 << 16);
            WireCodec.write(out, new Hello(WireCodec.VERSION, Sender.HOST));
            WireMessage first = WireCodec.read(in);
            if (!(first instanceof Hello h) || h.version() != WireCodec.VERSION) {
                WireCodec.write(out, new Refuse(Refuse.PROTOCOL, "expected HELLO version " + WireCodec.VERSION + ", got " + first));
                return;
            }
            while (true) {
                WireMessage m = WireCodec.read(in);
                if (m == null) {
                    return;
                }
                if (m instanceof Describe d) {
                    WireMessage answer = locked(d.domain(), "storing the manifest", rd -> describe(rd, d));
                    WireCodec.write(out, answer);
                    ReplicaDomain rd = new ReplicaDomain(root, d.domain(), tools);
                    try {
                        listener.described(rd);
                    } catch (RuntimeException e) {
                        log.error("defining the replica of {} failed", d.domain(), e);
                    }
                    continue;
                }
                if (m instanceof WireMessage.SeedQuery q) {
                    WireCodec.write(out, locked(q.domain(), "seed of " + q.disk(), rd -> seed(rd, q)));
                    continue;
                }
                if (m instanceof WireMessage.Verify v) {
                    WireCodec.write(out, locked(v.domain(), "verify of " + v.disk(), rd -> verify(rd, v, out)));
                    continue;
                }
                if (!(m instanceof Offer o)) {
                    WireCodec.write(out, new Refuse(Refuse.PROTOCOL, "expected OFFER or DESCRIBE, got "
                            + m.getClass().getSimpleName()));
                    return;
                }
                synchronized (domainLocks.computeIfAbsent(o.domain(), k -> new Object())) {
                    if (!receive(o, in, out)) {
                        return;
                    }
                }
            }
        } catch (IOException e) {
            log.info("connection from {} ended: {}", s.getRemoteSocketAddress(), e.getMessage());
        }
    }

    /** What a request does to a promoted-checked replica under its domain's locks. */
    private interface LockedCall {
        WireMessage call(ReplicaDomain rd) throws Exception;
    }

    /**
     * Runs {@code call} holding the domain's locks (this process's, then the file lock shared with
     * the hook and the CLI), after refusing a promoted replica; failures become a REFUSE.
     */
    private WireMessage locked(java.util.UUID domain, String what, LockedCall call) {
        ReplicaDomain rd = new ReplicaDomain(root, domain, tools);
        synchronized (domainLocks.computeIfAbsent(domain, k -> new Object())) {
            try (AutoCloseable lock = rd.lock()) {
                refuseIfPromoted(rd);
                return call.call(rd);
            } catch (StandbyRefusal r) {
                return new Refuse(r.code(), r.getMessage());
            } catch (Exception e) {
                log.error("{} of {} failed", what, domain, e);
                return new Refuse(Refuse.INTERNAL, what + " failed: " + e.getMessage());
            }
        }
    }

    private WireMessage describe(ReplicaDomain rd, Describe d) throws Exception {
        ReplicaManifest m;
        try {
            m = ReplicaManifest.fromXz(d.manifestXz());
        } catch (IOException e) {
            return new Refuse(Refuse.BAD_DELTA, e.getMessage());
        }
        if (!m.uuid().equals(d.domain()) || m.point() != d.point()) {
            return new Refuse(Refuse.BAD_DELTA, "the manifest describes " + m.uuid() + " at point " + m.point()
                    + ", not what DESCRIBE announced");
        }
        rd.storeManifest(m);
        return new Described(d.domain(), java.security.MessageDigest.getInstance("SHA-256").digest(d.manifestXz()));
    }

    /** One part of an adopted seed's block hashes, or NO_SEED. */
    private WireMessage seed(ReplicaDomain rd, WireMessage.SeedQuery q) throws IOException {
        ReplicaDisk disk = rd.disk(q.disk(), retention);
        if (disk.state().point() != 0 || !java.nio.file.Files.exists(disk.seedMap())) {
            return new Refuse(Refuse.NO_SEED, "no seed of " + q.domain() + " " + q.disk() + " on the standby");
        }
        try (io.amirror.delta.ReplicaHashMap map = io.amirror.delta.ReplicaHashMap.openExisting(disk.seedMap())) {
            if (map.virtualSize() != q.virtualSize()) {
                return new Refuse(Refuse.NO_SEED, "the seed of " + q.domain() + " " + q.disk() + " has "
                        + map.virtualSize() + " bytes, the disk " + q.virtualSize() + ": not a copy of it");
            }
            if (q.firstBlock() >= map.blocks()) {
                return new Refuse(Refuse.PROTOCOL, "block " + q.firstBlock() + " is past the seed's " + map.blocks());
            }
            int n = (int) Math.min(WireCodec.SEED_BLOCKS, map.blocks() - q.firstBlock());
            byte[] hashes = map.read(q.firstBlock(), n);
            return new WireMessage.SeedPart(q.domain(), q.disk(), q.firstBlock(), n,
                    io.amirror.delta.XzBlockCodec.compress(hashes, hashes.length, new io.amirror.delta.XzBlockCodec.Preset(6, false)));
        }
    }

    /** Reads the replica of the disk whole, telling its progress every second, and answers with its group digests. */
    private WireMessage verify(ReplicaDomain rd, WireMessage.Verify v, OutputStream out) throws IOException {
        ReplicaDisk disk = rd.disk(v.disk(), retention);
        disk.recover();
        ReplicaDisk.State st = disk.state();
        if (st.point() != v.point()) {
            return new Refuse(Refuse.BASE_MISMATCH, "the replica of " + v.domain() + " " + v.disk() + " is at point "
                    + st.point() + ", not " + v.point());
        }
        long t0 = System.nanoTime();
        byte[] digests;
        try (DiskImage img = DiskImage.open(disk.image(), false, tools)) {
            if (io.amirror.delta.GroupDigests.groups(img.size(), v.groupBlocks()) > io.amirror.delta.GroupDigests.MAX_GROUPS) {
                return new Refuse(Refuse.PROTOCOL, "groups of " + v.groupBlocks() + " blocks are too small for "
                        + img.size() + " bytes");
            }
            long total = img.size();
            InputStream counted = new java.io.FilterInputStream(img.stream()) {
                private long done;
                private long told = System.nanoTime();

                @Override
                public int read(byte[] b, int off, int len) throws IOException {
                    int n = super.read(b, off, len);
                    done += Math.max(n, 0);
                    if (System.nanoTime() - told > 1_000_000_000L) {
                        told = System.nanoTime();
                        WireCodec.write(out, new WireMessage.Progress(done, total));
                    }
                    return n;
                }
            };
            digests = io.amirror.delta.GroupDigests.ofImage(counted, total, v.groupBlocks());
        }
        log.info("verify of {} {} at point {}: replica read in {} s", v.domain(), v.disk(), v.point(),
                String.format("%.1f", (System.nanoTime() - t0) / 1e9));
        return new WireMessage.Verified(v.domain(), v.disk(), v.point(), digests);
    }

    private static void refuseIfPromoted(ReplicaDomain rd) throws IOException {
        var p = rd.promoted();
        if (p.isPresent()) {
            throw new StandbyRefusal(Refuse.PROMOTED, "the replica of " + rd.uuid() + " was started as the domain on the "
                    + "standby (failover at point " + p.get().point() + ", " + p.get().at() + "); it receives nothing more");
        }
    }

    /** Handles one offer to its ACK or REFUSE; false when the connection must end. */
    private boolean receive(Offer o, InputStream in, OutputStream out) throws IOException {
        ReplicaDomain rd = new ReplicaDomain(root, o.domain(), tools);
        ReplicaDisk disk = rd.disk(o.disk(), rd.manifest().map(ReplicaManifest::retention).orElse(retention));
        Path partial;
        long have;
        try (AutoCloseable lock = rd.lock()) {
            refuseIfPromoted(rd);
            disk.recover();
            partial = disk.prepareIncoming(o.basePoint(), o.newPoint(), o.size(), o.sha256());
            if (partial == null) {
                // applied before, but the ACK never arrived: acknowledge again, send nothing
                WireCodec.write(out, new Ack(o.domain(), o.disk(), o.newPoint()));
                return true;
            }
            have = java.nio.file.Files.exists(partial) ? DeltaScanner.validPrefix(partial) : 0;
        } catch (StandbyRefusal r) {
            WireCodec.write(out, new Refuse(r.code(), r.getMessage()));
            return true;
        } catch (IOException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException(e);
        }
        try (FileChannel ch = FileChannel.open(partial, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            ch.truncate(have);
            ch.position(have);
            WireCodec.write(out, new Resume(have));
            long unsynced = 0;
            long firstData = System.nanoTime(); // the sender starts as soon as the RESUME reaches it
            while (true) {
                WireMessage m = WireCodec.read(in);
                if (m == null) {
                    ch.force(true);
                    return false;
                }
                if (m instanceof Data d) {
                    if (d.offset() != ch.position() || d.offset() + d.bytes().length > o.size()) {
                        ch.force(true);
                        WireCodec.write(out, new Refuse(Refuse.PROTOCOL, "DATA at " + d.offset() + " while holding " + ch.position()
                                + " of " + o.size() + " bytes"));
                        return false;
                    }
                    ch.write(java.nio.ByteBuffer.wrap(d.bytes()));
                    unsynced += d.bytes().length;
                    if (unsynced >= SYNC_EVERY) {
                        ch.force(true);
                        unsynced = 0;
                    }
                } else if (m instanceof Commit) {
                    double seconds = (System.nanoTime() - firstData) / 1e9;
                    long got = ch.position() - have;
                    ch.force(true);
                    log.info("received {} bytes of {} {} {}->{} in {} s: {} Mbit/s of delta on the link", got,
                            o.domain(), o.disk(), o.basePoint(), o.newPoint(), String.format("%.2f", seconds),
                            String.format("%.3f", seconds == 0 ? 0 : got * 8 / seconds / 1e6));
                    break;
                } else {
                    WireCodec.write(out, new Refuse(Refuse.PROTOCOL, "expected DATA or COMMIT"));
                    return false;
                }
            }
        }
        try (AutoCloseable lock = rd.lock()) {
            refuseIfPromoted(rd); // a failover while the bytes came: they stay unapplied
            int point = disk.complete(partial, o.basePoint(), o.newPoint(), o.size(), o.sha256());
            WireCodec.write(out, new Ack(o.domain(), o.disk(), point));
        } catch (io.amirror.delta.DeltaFiles.StaleSourceException e) {
            log.warn("{} {} {}->{}: {}", o.domain(), o.disk(), o.basePoint(), o.newPoint(), e.getMessage());
            java.util.List<long[]> ranges = e.ranges();
            WireCodec.write(out, new WireMessage.Stale(o.domain(), o.disk(), o.newPoint(),
                    ranges.subList(0, Math.min(ranges.size(), WireMessage.Stale.MAX_RANGES))));
        } catch (StandbyRefusal r) {
            WireCodec.write(out, new Refuse(r.code(), r.getMessage()));
        } catch (Exception e) {
            log.error("applying {} {} {}->{} failed", o.domain(), o.disk(), o.basePoint(), o.newPoint(), e);
            WireCodec.write(out, new Refuse(Refuse.INTERNAL, "apply failed: " + e.getMessage()));
        }
        return true;
    }

    @Override
    public void close() throws IOException {
        server.close();
        connections.shutdownNow();
    }
}
