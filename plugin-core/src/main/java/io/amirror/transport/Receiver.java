package io.amirror.transport;

import io.amirror.delta.DeltaScanner;
import io.amirror.image.DiskImage;
import io.amirror.standby.ReplicaDisk;
import io.amirror.standby.StandbyRefusal;
import io.amirror.transport.WireMessage.Ack;
import io.amirror.transport.WireMessage.Commit;
import io.amirror.transport.WireMessage.Data;
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
    /** One transfer per disk at a time: a second connection for the same disk waits its turn. */
    private final ConcurrentHashMap<String, Object> diskLocks = new ConcurrentHashMap<>();
    private final Thread acceptor;

    public Receiver(SSLServerSocket server, Path replicaRoot, DiskImage.Tools tools, int keepPoints) {
        this(server, replicaRoot, tools, ReplicaDisk.Retention.count(keepPoints));
    }

    public Receiver(SSLServerSocket server, Path replicaRoot, DiskImage.Tools tools, ReplicaDisk.Retention retention) {
        this.server = server;
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
                if (!(m instanceof Offer o)) {
                    WireCodec.write(out, new Refuse(Refuse.PROTOCOL, "expected OFFER, got " + m.getClass().getSimpleName()));
                    return;
                }
                Object lock = diskLocks.computeIfAbsent(o.domain() + "/" + o.disk(), k -> new Object());
                synchronized (lock) {
                    if (!receive(o, in, out)) {
                        return;
                    }
                }
            }
        } catch (IOException e) {
            log.info("connection from {} ended: {}", s.getRemoteSocketAddress(), e.getMessage());
        }
    }

    /** Handles one offer to its ACK or REFUSE; false when the connection must end. */
    private boolean receive(Offer o, InputStream in, OutputStream out) throws IOException {
        ReplicaDisk disk = new ReplicaDisk(root, o.domain(), o.disk(), tools, retention);
        Path partial;
        long have;
        try {
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
        try {
            int point = disk.complete(partial, o.basePoint(), o.newPoint(), o.size(), o.sha256());
            WireCodec.write(out, new Ack(o.domain(), o.disk(), point));
        } catch (StandbyRefusal r) {
            WireCodec.write(out, new Refuse(r.code(), r.getMessage()));
        } catch (IOException e) {
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
