package io.amirror.transport;

import io.amirror.transport.WireMessage.Commit;
import io.amirror.transport.WireMessage.Data;
import io.amirror.transport.WireMessage.Describe;
import io.amirror.transport.WireMessage.Hello;
import io.amirror.transport.WireMessage.Offer;
import io.amirror.transport.WireMessage.Progress;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.transport.WireMessage.Resume;
import io.amirror.transport.WireMessage.SeedQuery;
import io.amirror.transport.WireMessage.Verify;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Function;

/**
 * The standby's end of the link: accepts TLS connections from pinned primaries, shakes hands,
 * decodes their requests and hands each to a {@link ConnectionHandler} (one per connection), whose
 * answers it writes back. Only authenticated peers get past the handshake, so no unauthenticated
 * byte reaches a handler.
 *
 * <p>The receiver keeps the protocol's order: a connection opens with HELLO both ways; then OFFER,
 * DESCRIBE, SEED_QUERY or VERIFY; after an OFFER answered by RESUME only DATA, each following on
 * the last and within the offered size, and then COMMIT. Anything else is refused (PROTOCOL) and
 * ends the connection. What a request means to the replicas is the handler's business alone.
 */
public final class Receiver implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Receiver.class);
    /** A silent peer is dropped after this long; a transfer that resumes later loses nothing. */
    private static final int IDLE_MILLIS = 120_000;

    private final SSLServerSocket server;
    private final Function<Peer, ? extends ConnectionHandler> handlers;
    private final ExecutorService connections = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "standby-connection");
        t.setDaemon(true);
        return t;
    });
    private final Thread acceptor;

    /**
     * Serves {@code server}; {@code handlers} makes the handler of each accepted connection, for the
     * peer its certificate proved it to be.
     */
    public Receiver(SSLServerSocket server, Function<Peer, ? extends ConnectionHandler> handlers) {
        this.server = server;
        this.handlers = handlers;
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
            s.setSoTimeout(IDLE_MILLIS);
            s.startHandshake(); // a peer that is not pinned fails here, before any byte is read
            InputStream in = new BufferedInputStream(s.getInputStream(), 1 << 16);
            OutputStream out = new BufferedOutputStream(s.getOutputStream(), 1 << 16);
            WireCodec.write(out, new Hello(WireCodec.VERSION, Sender.HOST));
            WireMessage first = WireCodec.read(in);
            if (!(first instanceof Hello h) || h.version() != WireCodec.VERSION) {
                WireCodec.write(out, new Refuse(Refuse.PROTOCOL, "expected HELLO version " + WireCodec.VERSION + ", got " + first));
                return;
            }
            try (ConnectionHandler handler = handlers.apply(Peer.of(s.getSession(), s.getRemoteSocketAddress()))) {
                converse(handler, in, out);
            }
        } catch (IOException e) {
            log.info("connection from {} ended: {}", s.getRemoteSocketAddress(), e.getMessage());
        }
    }

    /** The requests of one connection after HELLO, until the peer hangs up or breaks the protocol. */
    private static void converse(ConnectionHandler handler, InputStream in, OutputStream out) throws IOException {
        while (true) {
            WireMessage m = WireCodec.read(in);
            if (m == null) {
                return;
            }
            if (m instanceof Describe d) {
                WireCodec.write(out, handler.describe(d));
                handler.described(d);
            } else if (m instanceof SeedQuery q) {
                WireCodec.write(out, handler.seedQuery(q));
            } else if (m instanceof Verify v) {
                WireCodec.write(out, handler.verify(v, (done, total) -> WireCodec.write(out, new Progress(done, total))));
            } else if (m instanceof Offer o) {
                WireMessage answer = handler.offer(o);
                WireCodec.write(out, answer);
                if (answer instanceof Resume r && !transfer(handler, o, r.offset(), in, out)) {
                    return;
                }
            } else {
                WireCodec.write(out, new Refuse(Refuse.PROTOCOL, "expected OFFER or DESCRIBE, got "
                        + m.getClass().getSimpleName()));
                return;
            }
        }
    }

    /** The DATA of offer {@code o} from {@code offset} to its COMMIT and answer; false when the connection must end. */
    private static boolean transfer(ConnectionHandler handler, Offer o, long offset, InputStream in, OutputStream out)
            throws IOException {
        long held = offset;
        long firstData = System.nanoTime(); // the sender starts as soon as the RESUME reaches it
        while (true) {
            WireMessage m = WireCodec.read(in);
            if (m == null) {
                return false;
            }
            if (m instanceof Data d) {
                if (d.offset() != held || d.offset() + d.bytes().length > o.size()) {
                    WireCodec.write(out, new Refuse(Refuse.PROTOCOL, "DATA at " + d.offset() + " while holding " + held
                            + " of " + o.size() + " bytes"));
                    return false;
                }
                handler.data(d);
                held += d.bytes().length;
            } else if (m instanceof Commit) {
                double seconds = (System.nanoTime() - firstData) / 1e9;
                long got = held - offset;
                log.info("received {} bytes of {} {} {}->{} in {} s: {} Mbit/s of delta on the link", got,
                        o.domain(), o.disk(), o.basePoint(), o.newPoint(), String.format("%.2f", seconds),
                        String.format("%.3f", seconds == 0 ? 0 : got * 8 / seconds / 1e6));
                WireCodec.write(out, handler.commit());
                return true;
            } else {
                WireCodec.write(out, new Refuse(Refuse.PROTOCOL, "expected DATA or COMMIT"));
                return false;
            }
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
        connections.shutdownNow();
    }
}
