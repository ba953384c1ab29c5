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
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
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
 *
 * <p>Anyone may open a connection, so what a connection costs before it has authenticated is
 * bounded ({@link Limits}): a connection beyond the bound of those in their TLS handshake, in total
 * or from one address, is closed as soon as it is accepted, without a thread; the handshake and
 * HELLO must be over within a short timeout, for each read and in total, so a peer that stalls or
 * trickles bytes is dropped too. After HELLO a silent peer is dropped after the longer idle
 * timeout. Authenticated connections are bounded as well: beyond the bound one is answered REFUSE
 * (INTERNAL) instead of HELLO and closed. Drops are counted by reason ({@link #stats()}) and
 * logged at most once a minute per reason and address. No error of the accept loop ends it: it
 * backs off briefly and accepts again.
 */
public final class Receiver implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Receiver.class);
    /** The accept loop's pause after a failure, doubling while failures follow each other. */
    private static final long BACKOFF_MIN_MILLIS = 50;
    private static final long BACKOFF_MAX_MILLIS = 1_000;
    /**
     * Threads beyond the two bounds: a connection refused for the authenticated bound still holds
     * its thread while it writes the REFUSE, and a thread ending its connection is briefly busy.
     */
    private static final int SPARE_THREADS = 8;
    /** Where a connection is: its deadline acts only while it is in its TLS handshake. */
    private static final int HANDSHAKING = 0;
    private static final int HANDSHAKEN = 1;
    private static final int EXPIRED = 2;

    /**
     * The receiver's bounds: connections in their TLS handshake ({@code pending}, of which at most
     * {@code pendingPerAddress} from one remote address), authenticated connections, the time the
     * TLS handshake and HELLO may take (each read, and all of it), and the time a peer may stay
     * silent after HELLO (a transfer that resumes later loses nothing).
     */
    public record Limits(int pending, int pendingPerAddress, int authenticated, Duration handshakeTimeout,
                         Duration idleTimeout) {
        public static final Limits DEFAULT = new Limits(64, 8, 256, Duration.ofSeconds(10), Duration.ofMinutes(2));

        public Limits {
            if (pending < 1 || pendingPerAddress < 1 || pendingPerAddress > pending || authenticated < 1) {
                throw new IllegalArgumentException("connection bounds must be positive, per address at most the total: "
                        + pending + " pending, " + pendingPerAddress + " per address, " + authenticated + " authenticated");
            }
            millis(handshakeTimeout, "handshake timeout");
            millis(idleTimeout, "idle timeout");
        }

        int handshakeMillis() {
            return millis(handshakeTimeout, "handshake timeout");
        }

        int idleMillis() {
            return millis(idleTimeout, "idle timeout");
        }

        private static int millis(Duration d, String what) {
            if (d.compareTo(Duration.ofMillis(1)) < 0 || d.compareTo(Duration.ofMillis(Integer.MAX_VALUE)) > 0) {
                throw new IllegalArgumentException(what + " must be from 1 ms to about 24 days: " + d);
            }
            return (int) d.toMillis();
        }
    }

    /** Why a connection was dropped before it was served. */
    public enum Drop {
        /** Accepted while {@link Limits#pending()} connections were in their handshake. */
        PENDING_FULL,
        /** Accepted while {@link Limits#pendingPerAddress()} connections from its address were in their handshake. */
        ADDRESS_FULL,
        /** Handshaken while {@link Limits#authenticated()} connections were served: refused. */
        AUTHENTICATED_FULL,
        /** Its TLS handshake and HELLO outlasted {@link Limits#handshakeTimeout()}. */
        HANDSHAKE_TIMEOUT,
        /** Its TLS handshake failed: a peer neither pinned nor signed by the CA, or not speaking TLS 1.3. */
        HANDSHAKE_FAILED,
        /** No thread could be had for it (the pool at its bound, or none could be created). */
        NO_THREAD;

        String describe(Limits l) {
            return switch (this) {
                case PENDING_FULL -> l.pending() + " connections are in their TLS handshake already";
                case ADDRESS_FULL -> l.pendingPerAddress() + " connections from there are in their TLS handshake already";
                case AUTHENTICATED_FULL -> l.authenticated() + " authenticated connections are served already";
                case HANDSHAKE_TIMEOUT -> "no TLS handshake and HELLO within " + l.handshakeTimeout().toMillis() + " ms";
                case HANDSHAKE_FAILED -> "the TLS handshake failed";
                case NO_THREAD -> "no thread to serve it";
            };
        }
    }

    /** The connections now in their handshake and served, and those dropped so far by reason. */
    public record Stats(int pending, int authenticated, Map<Drop, Long> dropped) {
        public Stats {
            dropped = Map.copyOf(dropped);
        }
    }

    private final SSLServerSocket server;
    private final Function<Peer, ? extends ConnectionHandler> handlers;
    private final Limits limits;
    private final Admission admission;
    private final ThreadPoolExecutor connections;
    /** Closes a connection whose handshake outlasts its deadline, even one that keeps sending bytes. */
    private final ScheduledThreadPoolExecutor deadlines;
    private final Thread acceptor;

    /**
     * Serves {@code server} within {@link Limits#DEFAULT}; {@code handlers} makes the handler of each
     * accepted connection, for the peer its certificate proved it to be.
     */
    public Receiver(SSLServerSocket server, Function<Peer, ? extends ConnectionHandler> handlers) {
        this(server, handlers, Limits.DEFAULT);
    }

    /** As {@link #Receiver(SSLServerSocket, Function)}, within {@code limits}. */
    public Receiver(SSLServerSocket server, Function<Peer, ? extends ConnectionHandler> handlers, Limits limits) {
        this(server, handlers, limits, Thread::new);
    }

    /** With {@code threads} making the connections' threads (a test makes them fail). */
    Receiver(SSLServerSocket server, Function<Peer, ? extends ConnectionHandler> handlers, Limits limits,
             ThreadFactory threads) {
        this.server = server;
        this.handlers = handlers;
        this.limits = limits;
        this.admission = new Admission(limits);
        String name = "standby-connection-" + server.getLocalPort() + "-";
        AtomicInteger made = new AtomicInteger();
        // no queue: a connection has a thread at once or none, and never more threads than the bounds allow
        this.connections = new ThreadPoolExecutor(0, limits.pending() + limits.authenticated() + SPARE_THREADS,
                30, TimeUnit.SECONDS, new SynchronousQueue<>(), r -> {
                    Thread t = threads.newThread(r);
                    if (t != null) {
                        t.setName(name + made.incrementAndGet());
                        t.setDaemon(true);
                    }
                    return t;
                });
        this.deadlines = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "standby-handshake-deadlines-" + server.getLocalPort());
            t.setDaemon(true);
            return t;
        });
        deadlines.setRemoveOnCancelPolicy(true); // a cancelled deadline does not wait out its delay in the queue
        this.acceptor = new Thread(this::acceptLoop, "standby-accept-" + server.getLocalPort());
        acceptor.setDaemon(true);
    }

    public Receiver start() {
        acceptor.start();
        return this;
    }

    public int port() {
        return server.getLocalPort();
    }

    public Limits limits() {
        return limits;
    }

    /** The connections now in their handshake and served, and how many were dropped, by reason. */
    public Stats stats() {
        return admission.stats();
    }

    private void acceptLoop() {
        int failures = 0;
        while (!server.isClosed()) {
            try {
                if (admit((SSLSocket) server.accept())) {
                    failures = 0;
                    continue;
                }
            } catch (Throwable e) { // out of file descriptors, or anything at all: the loop must outlive it
                if (server.isClosed()) {
                    return;
                }
                long unlogged = admission.throttled("accept failed");
                if (unlogged >= 0) {
                    String since = unlogged == 0 ? "" : " (and " + unlogged + " times since the last such line)";
                    if (e instanceof IOException) {
                        log.warn("accept failed{}: {}", since, e.toString());
                    } else {
                        log.error("accept failed{}", since, e); // not the system's limits: a bug, with its trace
                    }
                }
            }
            pause(++failures); // whatever failed is likely to fail again at once: no busy loop
        }
    }

    /**
     * Gives {@code s} a thread for its handshake if the bounds allow, else closes it at once; false
     * when no thread could be had, so the accept loop backs off.
     */
    private boolean admit(SSLSocket s) {
        InetAddress from = s.getInetAddress();
        Drop full = admission.enter(from);
        if (full != null) {
            drop(s, full, from, "");
            return true;
        }
        try {
            connections.execute(() -> serve(s, from));
            return true;
        } catch (RuntimeException | Error e) { // RejectedExecutionException; OutOfMemoryError when no native thread
            admission.handshaken(from);
            drop(s, Drop.NO_THREAD, from, e.toString());
            return false;
        }
    }

    private void drop(Socket s, Drop why, InetAddress from, String detail) {
        admission.drop(why, from, detail);
        abort(s);
    }

    /** Closes {@code s} with a reset: nothing is sent or waited for, and no closing state stays behind. */
    private static void abort(Socket s) {
        try {
            s.setSoLinger(true, 0);
        } catch (IOException ignored) {
            // closed already
        }
        try {
            s.close();
        } catch (IOException ignored) {
            // closed anyway
        }
    }

    private void pause(int failures) {
        long millis = Math.min(BACKOFF_MAX_MILLIS, BACKOFF_MIN_MILLIS << Math.min(failures - 1, 10));
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            // close() wakes the loop; it ends when it sees the server closed
        }
    }

    private void serve(SSLSocket s, InetAddress from) {
        long deadline = System.nanoTime() + limits.handshakeTimeout().toNanos();
        AtomicInteger stage = new AtomicInteger(HANDSHAKING);
        ScheduledFuture<?> expiry = null;
        boolean handshaken = false;
        boolean authenticated = false;
        boolean greeted = false;
        try (s) {
            // the deadline closes the socket from another thread only during the TLS handshake, which
            // a close does not wait for; from then on the reads themselves keep it
            expiry = deadlines.schedule(() -> {
                if (stage.compareAndSet(HANDSHAKING, EXPIRED)) {
                    abort(s);
                }
            }, limits.handshakeTimeout().toNanos(), TimeUnit.NANOSECONDS);
            s.setSoTimeout(limits.handshakeMillis());
            s.startHandshake(); // a peer that is not pinned fails here, before any byte is read
            if (!stage.compareAndSet(HANDSHAKING, HANDSHAKEN)) {
                throw new SocketTimeoutException("deadline passed");
            }
            expiry.cancel(false);
            admission.handshaken(from);
            handshaken = true;
            OutputStream out = new BufferedOutputStream(s.getOutputStream(), 1 << 16);
            if (!admission.authenticate()) {
                admission.drop(Drop.AUTHENTICATED_FULL, from, Peer.of(s.getSession(), s.getRemoteSocketAddress()).shortName());
                WireCodec.write(out, new Refuse(Refuse.INTERNAL, "the standby serves " + limits.authenticated()
                        + " connections at most, and has that many: try again later"));
                return;
            }
            authenticated = true;
            Deadline timed = new Deadline(s.getInputStream(), s, deadline);
            InputStream in = new BufferedInputStream(timed, 1 << 16);
            WireCodec.write(out, new Hello(WireCodec.VERSION, Sender.HOST));
            WireMessage first = WireCodec.read(in);
            if (!(first instanceof Hello h) || h.version() != WireCodec.VERSION) {
                WireCodec.write(out, new Refuse(Refuse.PROTOCOL, "expected HELLO version " + WireCodec.VERSION + ", got " + first));
                return;
            }
            greeted = true;
            timed.lift();
            s.setSoTimeout(limits.idleMillis());
            try (ConnectionHandler handler = handlers.apply(Peer.of(s.getSession(), s.getRemoteSocketAddress()))) {
                converse(handler, in, out);
            }
        } catch (IOException e) {
            if (!greeted && (e instanceof SocketTimeoutException || stage.get() == EXPIRED)) {
                drop(s, Drop.HANDSHAKE_TIMEOUT, from, "");
            } else if (!handshaken) {
                drop(s, Drop.HANDSHAKE_FAILED, from, String.valueOf(e.getMessage()));
            } else {
                log.info("connection from {} ended: {}", s.getRemoteSocketAddress(), e.getMessage());
            }
        } catch (RuntimeException e) { // a handler's bug ends its connection, not the receiver
            log.error("connection from {} failed", s.getRemoteSocketAddress(), e);
        } finally {
            if (expiry != null) {
                expiry.cancel(false);
            }
            if (!handshaken) {
                admission.handshaken(from);
            }
            if (authenticated) {
                admission.leave();
            }
        }
    }

    /**
     * The peer's bytes until HELLO, each read allowed only the time left to the deadline: a peer
     * that trickles its HELLO cannot outlast it. Lifted after HELLO.
     */
    private static final class Deadline extends FilterInputStream {
        private final Socket socket;
        private final long deadline;
        private boolean lifted;

        Deadline(InputStream in, Socket socket, long deadline) {
            super(in);
            this.socket = socket;
            this.deadline = deadline;
        }

        void lift() {
            lifted = true;
        }

        private void keep() throws IOException {
            if (lifted) {
                return;
            }
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (left <= 0) {
                throw new SocketTimeoutException("no HELLO before the deadline");
            }
            socket.setSoTimeout((int) Math.min(left, Integer.MAX_VALUE));
        }

        @Override
        public int read() throws IOException {
            keep();
            return super.read();
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            keep();
            return super.read(b, off, len);
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
            } else if (m instanceof WireMessage.Switchover s) {
                WireCodec.write(out, handler.switchover(s));
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
        acceptor.interrupt();
        connections.shutdownNow();
        deadlines.shutdownNow();
    }
}
