package io.amirror.bridge;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.nbd.NbdConstants;
import jdk.net.ExtendedSocketOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The bridge as a running server: one {@link BridgeVolume}, its NBD export on a unix socket (and
 * optionally TCP) for the guest and for point readers, and {@code control.sock} in the state
 * directory for cutting and deleting points ({@link BridgeControl}). One thread per connection;
 * connections are few (the guest's launcher, one capture at a time).
 *
 * <p>The export is the live disk, writable, so every door is bounded ({@link Limits}): each socket
 * admits at most {@code maxConnections} at once and closes any further one at once; a handshake
 * (and a control request) must finish within {@code handshake}; a request, once its first byte
 * came, must arrive and be answered within {@code request}; a request over {@code maxRequestBytes}
 * (the maximum block size announced in NBD_INFO_BLOCK_SIZE) is refused before anything is
 * allocated; an idle connection is closed after {@code idle} if that is not zero. TCP connections
 * get keepalive probes, so a peer that vanished frees its slot within about two minutes.
 *
 * <p>TCP is served on loopback addresses only, unless {@link BridgeTls} is given: then TLS is
 * required on TCP before any option but NBD_OPT_ABORT (FORCEDTLS), with client certificates. The
 * unix sockets stay plain: file permissions guard them. {@link #checkExposure} is the rule, for
 * callers to check before they change anything.
 */
public final class BridgeServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BridgeServer.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    public static final String CONTROL_SOCKET = "control.sock";

    /** The bounds of every door; see the class comment. */
    public record Limits(int maxConnections, int maxRequestBytes, Duration handshake, Duration request, Duration idle) {
        public static final Limits DEFAULTS = new Limits(8, 8 << 20, Duration.ofSeconds(30), Duration.ofMinutes(2),
                Duration.ZERO);

        public Limits {
            if (maxConnections < 1 || maxConnections > 1024) {
                throw new IllegalArgumentException("--max-connections " + maxConnections + ": give 1 to 1024");
            }
            if (maxRequestBytes < DirtyMap.BLOCK || maxRequestBytes > NbdConstants.DEFAULT_MAX_BLOCK
                    || maxRequestBytes % DirtyMap.BLOCK != 0) {
                throw new IllegalArgumentException("a request bound of " + maxRequestBytes + " bytes: give a multiple of "
                        + DirtyMap.BLOCK + " up to " + NbdConstants.DEFAULT_MAX_BLOCK);
            }
            if (handshake.isNegative() || handshake.isZero() || request.isNegative() || request.isZero()
                    || idle.isNegative()) {
                throw new IllegalArgumentException("handshake and request deadlines must be positive, idle not negative");
            }
        }

        public Limits withMaxConnections(int n) {
            return new Limits(n, maxRequestBytes, handshake, request, idle);
        }

        public Limits withIdle(Duration d) {
            return new Limits(maxConnections, maxRequestBytes, handshake, request, d);
        }

        /** How often deadlines are looked at: often enough for the shortest of them. */
        Duration sweep() {
            Duration s = Duration.ofSeconds(1);
            for (Duration d : List.of(handshake, request, idle)) {
                if (!d.isZero() && d.dividedBy(4).compareTo(s) < 0) {
                    s = d.dividedBy(4);
                }
            }
            return s;
        }
    }

    private final BridgeVolume volume;
    private final BridgeTls tls;
    private final Limits limits;
    private final Deadlines deadlines;
    private final List<ServerSocketChannel> listeners = new ArrayList<>();
    private final List<Path> socketFiles = new ArrayList<>();
    private volatile boolean closed;

    private BridgeServer(BridgeVolume volume, BridgeTls tls, Limits limits) {
        this.volume = volume;
        this.tls = tls;
        this.limits = limits;
        this.deadlines = new Deadlines(limits.sweep());
    }

    /** {@link #start(BridgeVolume, Path, Path, InetSocketAddress, BridgeTls, Limits)} without TLS, default limits. */
    public static BridgeServer start(BridgeVolume volume, Path stateDir, Path socket, InetSocketAddress tcp)
            throws IOException {
        return start(volume, stateDir, socket, tcp, null, Limits.DEFAULTS);
    }

    /**
     * Refuses to serve the disk on a TCP address other than loopback without TLS; the message
     * names the option that fixes it.
     */
    public static void checkExposure(InetSocketAddress tcp, BridgeTls tls) {
        if (tcp != null && tls == null && !loopback(tcp)) {
            throw new IllegalArgumentException("--tcp " + (tcp.getAddress() == null ? tcp.getHostString()
                    : tcp.getAddress().getHostAddress()) + ":" + tcp.getPort() + " is not a loopback address, and "
                    + "the bridge serves the guest's live disk read-write: add --tls-dir DIR (ca-cert.pem, "
                    + "server-cert.pem, server-key.pem; clients need a certificate signed by that CA), or serve on "
                    + "127.0.0.1");
        }
    }

    static boolean loopback(InetSocketAddress a) {
        return a.getAddress() != null && a.getAddress().isLoopbackAddress();
    }

    /**
     * Serves {@code volume} on {@code socket} (unix), on {@code tcp} when not null (with TLS when
     * {@code tls} is not null), and its control socket in {@code stateDir}, within {@code limits}.
     * Stale socket files of an earlier run are replaced.
     */
    public static BridgeServer start(BridgeVolume volume, Path stateDir, Path socket, InetSocketAddress tcp,
                                     BridgeTls tls, Limits limits) throws IOException {
        checkExposure(tcp, tls);
        BridgeServer s = new BridgeServer(volume, tls, limits);
        try {
            s.listen(s.unix(socket), "nbd-unix", Door.NBD_UNIX);
            if (tcp != null) {
                ServerSocketChannel t = ServerSocketChannel.open();
                t.bind(tcp);
                s.listen(t, "nbd-tcp", Door.NBD_TCP);
            }
            s.listen(s.unix(stateDir.resolve(CONTROL_SOCKET)), "control", Door.CONTROL);
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
        return s;
    }

    /** The TCP address actually bound (port 0 picks one), if serving TCP. */
    public InetSocketAddress tcpAddress() throws IOException {
        for (ServerSocketChannel l : listeners) {
            if (l.getLocalAddress() instanceof InetSocketAddress a) {
                return a;
            }
        }
        return null;
    }

    private ServerSocketChannel unix(Path path) throws IOException {
        if (path.toString().getBytes(StandardCharsets.UTF_8).length > 107) {
            throw new IOException("socket path " + path + " is longer than the 107 bytes a unix socket allows");
        }
        Files.deleteIfExists(path);
        ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        ch.bind(UnixDomainSocketAddress.of(path));
        socketFiles.add(path);
        return ch;
    }

    private enum Door { NBD_UNIX, NBD_TCP, CONTROL }

    private void listen(ServerSocketChannel ch, String what, Door door) {
        listeners.add(ch);
        Thread t = new Thread(() -> acceptLoop(ch, what, door), "bridge-" + what);
        t.setDaemon(true);
        t.start();
    }

    private void acceptLoop(ServerSocketChannel ch, String what, Door door) {
        AtomicInteger open = new AtomicInteger();
        long refused = 0;
        while (!closed) {
            SocketChannel c;
            try {
                c = ch.accept();
            } catch (IOException e) {
                if (!closed) {
                    log.warn("{} listener failed: {}", what, e.getMessage());
                }
                return;
            }
            if (open.incrementAndGet() > limits.maxConnections()) {
                open.decrementAndGet();
                if (refused++ % 100 == 0) {
                    log.warn("{}: {} connections already open, the most allowed; further ones are closed at once "
                            + "({} so far)", what, limits.maxConnections(), refused);
                }
                closeQuietly(c);
                continue;
            }
            Deadlines.Deadline deadline = deadlines.open(c, what + " connection");
            Runnable r;
            if (door == Door.CONTROL) {
                r = () -> control(c, deadline);
            } else {
                if (door == Door.NBD_TCP) {
                    keepAlive(c);
                }
                r = new NbdSession(volume, c, door == Door.NBD_TCP ? tls : null, limits, deadline);
            }
            Thread t = new Thread(() -> {
                try {
                    r.run();
                } finally {
                    deadline.close();
                    closeQuietly(c);
                    open.decrementAndGet();
                }
            }, "bridge-" + what + "-conn");
            t.setDaemon(true);
            t.start();
        }
    }

    /** Probes an idle TCP peer after 60 s, every 10 s, 6 times: a vanished one is gone in about two minutes. */
    private static void keepAlive(SocketChannel c) {
        try {
            c.setOption(StandardSocketOptions.SO_KEEPALIVE, true);
            c.setOption(ExtendedSocketOptions.TCP_KEEPIDLE, 60);
            c.setOption(ExtendedSocketOptions.TCP_KEEPINTERVAL, 10);
            c.setOption(ExtendedSocketOptions.TCP_KEEPCOUNT, 6);
        } catch (IOException | UnsupportedOperationException e) {
            log.debug("keepalive not set: {}", e.getMessage());
        }
    }

    private static void closeQuietly(SocketChannel c) {
        try {
            c.close();
        } catch (IOException e) {
            log.debug("close: {}", e.getMessage());
        }
    }

    /** One control request: a line in, a line out, within the handshake deadline. */
    private void control(SocketChannel c, Deadlines.Deadline deadline) {
        deadline.arm(limits.handshake(), "a control request");
        try (c) {
            BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(c), StandardCharsets.UTF_8));
            String line = readLine(in);
            BridgeControl.Answer a;
            try {
                a = new BridgeControl.Answer(true, execute(BridgeControl.decode(line)));
            } catch (IllegalArgumentException e) {
                a = new BridgeControl.Answer(false, e.getMessage());
            } catch (IOException e) {
                log.warn("control request '{}' failed: {}", BridgeControl.printable(line), e.getMessage());
                a = new BridgeControl.Answer(false, "failed: " + e.getMessage());
            }
            var out = Channels.newOutputStream(c);
            out.write((a.encode() + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (IOException e) {
            log.debug("control connection ended: {}", e.getMessage());
        }
    }

    private static String readLine(BufferedReader in) throws IOException {
        StringBuilder b = new StringBuilder();
        int ch;
        while ((ch = in.read()) >= 0 && ch != '\n') {
            if (b.length() >= BridgeControl.MAX_LINE) {
                throw new IOException("control request longer than " + BridgeControl.MAX_LINE + " bytes");
            }
            b.append((char) ch);
        }
        return b.toString();
    }

    private String execute(BridgeControl.Request r) throws IOException {
        if (r instanceof BridgeControl.Cut c) {
            int n = volume.cut(c.atLeast());
            log.info("point {} cut", n);
            return Integer.toString(n);
        }
        if (r instanceof BridgeControl.Release x) {
            volume.release(x.point());
            return "";
        }
        if (r instanceof BridgeControl.Delete x) {
            volume.delete(x.point());
            log.info("point {} deleted", x.point());
            return "";
        }
        return JSON.writeValueAsString(volume.state());
    }

    @Override
    public void close() throws IOException {
        closed = true;
        deadlines.close();
        for (ServerSocketChannel l : listeners) {
            l.close();
        }
        for (Path p : socketFiles) {
            Files.deleteIfExists(p);
        }
    }
}
