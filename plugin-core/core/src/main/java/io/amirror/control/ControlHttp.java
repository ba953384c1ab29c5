package io.amirror.control;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The control API's HTTP/1.1 server: small and strict, so that no local client can make it wait.
 *
 * <p>One selector thread reads every connection's request without blocking, against a deadline:
 * a request (line, headers and a small body) must arrive whole within {@link Limits#requestTimeout}
 * of the connection's accept, however slowly its bytes trickle in, or the connection is closed. Only
 * complete requests reach the handler, on a bounded pool of workers; the response goes back through
 * the selector, which drops a client that does not take it within {@link Limits#writeTimeout}. So
 * silent or trickling connections cost a buffer each and no thread, and when
 * {@link Limits#maxConnections} are open, the one reading longest is closed for a new one. Every
 * response closes its connection ({@code Connection: close}).
 *
 * <p>(The JDK's {@code com.sun.net.httpserver}, used before, reads a request on a worker thread
 * with no deadline of its own; its only timeouts are JVM-wide system properties read once.)
 */
final class ControlHttp implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ControlHttp.class);

    /** A complete request. Header names are lower case; the target is in origin form ({@code /path?query}). */
    record Request(String method, String target, String version, Map<String, List<String>> headers, byte[] body) {
        /** The path of the target, without the query. */
        String path() {
            int q = target.indexOf('?');
            return q < 0 ? target : target.substring(0, q);
        }

        /** The header's values ({@code name} in lower case); empty when absent. */
        List<String> header(String name) {
            return headers.getOrDefault(name, List.of());
        }
    }

    /** What the handler answers. */
    record Response(int code, String contentType, byte[] body, Map<String, String> headers) {
        Response(int code, String contentType, byte[] body) {
            this(code, contentType, body, Map.of());
        }
    }

    /** Answers a request; called on a worker thread. Must return, not throw. */
    interface Handler {
        Response handle(Request request);
    }

    /**
     * The bounds of the server.
     *
     * @param requestTimeout from accept to the last byte of the request
     * @param writeTimeout   for the client to take the whole response
     * @param maxHeadBytes   the request line and headers
     * @param maxBodyBytes   a request body (no call needs one; a small one is read and ignored)
     * @param maxConnections connections open at once, in every phase
     * @param workers        threads running handlers
     * @param queue          complete requests waiting for a worker, beyond which 503 is answered
     */
    record Limits(Duration requestTimeout, Duration writeTimeout, int maxHeadBytes, int maxBodyBytes, int maxConnections,
                  int workers, int queue) {
        static final Limits DEFAULT = new Limits(Duration.ofSeconds(5), Duration.ofSeconds(30), 16 << 10, 64 << 10, 128,
                8, 64);

        Limits {
            if (requestTimeout.isNegative() || requestTimeout.isZero() || writeTimeout.isNegative() || writeTimeout.isZero()
                    || maxHeadBytes < 256 || maxBodyBytes < 0 || maxConnections < 1 || workers < 1 || queue < 1) {
                throw new IllegalArgumentException("bad limits: timeouts " + requestTimeout + " and " + writeTimeout
                        + ", head " + maxHeadBytes + ", body " + maxBodyBytes + ", connections " + maxConnections
                        + ", workers " + workers + ", queue " + queue);
            }
        }
    }

    private enum Phase { READING, HANDLING, WRITING, DRAINING }

    private static final long DRAIN_NANOS = TimeUnit.MILLISECONDS.toNanos(500);
    private static final long REPORT_EVERY_NANOS = TimeUnit.MINUTES.toNanos(1);

    private final Limits limits;
    private final Handler handler;
    private final Selector selector;
    private final ServerSocketChannel server;
    private final ThreadPoolExecutor pool;
    private final Thread loop;
    private final Set<Conn> conns = new HashSet<>();
    private final ConcurrentLinkedQueue<Conn> answered = new ConcurrentLinkedQueue<>();
    private volatile boolean open = true;
    /** Connections closed by the server: silent or too slow, evicted, refused. */
    private final AtomicLong timedOut = new AtomicLong();
    private final AtomicLong evicted = new AtomicLong();
    private final AtomicLong refused = new AtomicLong();
    private long reportedAt = System.nanoTime();
    private long reportedDrops;

    ControlHttp(InetSocketAddress listen, Limits limits, Handler handler) throws IOException {
        this.limits = limits;
        this.handler = handler;
        this.selector = Selector.open();
        this.server = ServerSocketChannel.open();
        try {
            server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            server.bind(listen, 64);
            server.configureBlocking(false);
            server.register(selector, SelectionKey.OP_ACCEPT);
        } catch (IOException | RuntimeException e) {
            server.close();
            selector.close();
            throw e;
        }
        AtomicInteger n = new AtomicInteger();
        this.pool = new ThreadPoolExecutor(limits.workers(), limits.workers(), 1, TimeUnit.MINUTES,
                new ArrayBlockingQueue<>(limits.queue()), r -> {
                    Thread t = new Thread(r, "control-api-" + n.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
        this.loop = new Thread(this::run, "control-api-io");
        loop.setDaemon(true);
        loop.start();
    }

    /** The bound address (the port, when 0 was asked for). */
    InetSocketAddress address() throws IOException {
        return (InetSocketAddress) server.getLocalAddress();
    }

    /** Connections the server closed: [timed out, evicted for a newer one, refused at accept]. */
    long[] drops() {
        return new long[]{timedOut.get(), evicted.get(), refused.get()};
    }

    private final class Conn {
        final SocketChannel ch;
        final SelectionKey key;
        Phase phase = Phase.READING;
        long deadline;
        byte[] buf = new byte[1024];
        int have;
        int headEnd = -1;
        int bodyLength;
        Request request;
        volatile ByteBuffer out;

        Conn(SocketChannel ch, SelectionKey key, long now) {
            this.ch = ch;
            this.key = key;
            this.deadline = now + limits.requestTimeout().toNanos();
        }

        void close() {
            conns.remove(this);
            key.cancel();
            try {
                ch.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    private void run() {
        ByteBuffer scratch = ByteBuffer.allocate(8192);
        while (open) {
            try {
                long now = System.nanoTime();
                long wait = TimeUnit.NANOSECONDS.toMillis(nextDeadline(now) - now) + 1;
                selector.select(Math.max(1, Math.min(wait, 1000)));
                if (!open) {
                    break;
                }
                now = System.nanoTime();
                for (Conn c; (c = answered.poll()) != null; ) {
                    startWriting(c, now);
                }
                for (SelectionKey k : selector.selectedKeys()) {
                    if (!k.isValid()) {
                        continue;
                    }
                    if (k.isAcceptable()) {
                        accept(now);
                    } else if (k.attachment() instanceof Conn c) {
                        if (k.isReadable()) {
                            read(c, scratch, now);
                        } else if (k.isWritable()) {
                            write(c, now);
                        }
                    }
                }
                selector.selectedKeys().clear();
                expire(System.nanoTime());
                report(System.nanoTime());
            } catch (IOException | RuntimeException e) {
                if (open) {
                    log.warn("control API: {}", e.toString());
                    try {
                        Thread.sleep(50); // an accept loop that outlives any error, without spinning
                    } catch (InterruptedException ie) {
                        return;
                    }
                }
            }
        }
    }

    private long nextDeadline(long now) {
        long next = now + TimeUnit.SECONDS.toNanos(1);
        for (Conn c : conns) {
            if (c.phase != Phase.HANDLING && c.deadline - next < 0) {
                next = c.deadline;
            }
        }
        return next;
    }

    private void accept(long now) throws IOException {
        for (SocketChannel ch; (ch = server.accept()) != null; ) {
            if (conns.size() >= limits.maxConnections() && !evictOldestReader()) {
                refused.incrementAndGet();
                ch.close();
                continue;
            }
            try {
                ch.configureBlocking(false);
                ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                SelectionKey key = ch.register(selector, SelectionKey.OP_READ);
                Conn c = new Conn(ch, key, now);
                key.attach(c);
                conns.add(c);
            } catch (IOException e) {
                ch.close();
            }
        }
    }

    /** Closes the connection that has been reading its request longest; false when none is reading. */
    private boolean evictOldestReader() {
        Conn oldest = null;
        for (Conn c : conns) {
            if (c.phase == Phase.READING && (oldest == null || c.deadline - oldest.deadline < 0)) {
                oldest = c;
            }
        }
        if (oldest == null) {
            return false;
        }
        evicted.incrementAndGet();
        oldest.close();
        return true;
    }

    private void read(Conn c, ByteBuffer scratch, long now) {
        try {
            if (c.phase == Phase.DRAINING) {
                scratch.clear();
                if (c.ch.read(scratch) < 0) {
                    c.close();
                }
                return;
            }
            if (c.phase != Phase.READING) {
                return;
            }
            scratch.clear();
            int room = (c.headEnd < 0 ? limits.maxHeadBytes() : c.headEnd + c.bodyLength) - c.have;
            scratch.limit(Math.min(scratch.capacity(), Math.max(1, room)));
            int n = c.ch.read(scratch);
            if (n < 0) {
                c.close(); // the client gave up before its request was complete
                return;
            }
            if (n == 0) {
                return;
            }
            if (c.have + n > c.buf.length) {
                c.buf = Arrays.copyOf(c.buf, Math.max(c.have + n, Math.min(c.buf.length * 2,
                        limits.maxHeadBytes() + limits.maxBodyBytes())));
            }
            System.arraycopy(scratch.array(), 0, c.buf, c.have, n);
            int from = Math.max(0, c.have - 3);
            c.have += n;
            if (c.headEnd < 0) {
                int end = headEnd(c.buf, from, c.have);
                if (end < 0) {
                    if (c.have >= limits.maxHeadBytes()) {
                        answerNow(c, error(431, "the request line and headers exceed " + limits.maxHeadBytes() + " bytes"), now);
                    }
                    return;
                }
                c.headEnd = end;
                Object parsed = parseHead(c.buf, end);
                if (parsed instanceof Response r) {
                    answerNow(c, r, now);
                    return;
                }
                c.request = (Request) parsed;
                List<String> te = c.request.header("transfer-encoding");
                List<String> cl = c.request.header("content-length");
                if (!te.isEmpty()) {
                    answerNow(c, error(501, "request bodies with Transfer-Encoding are not accepted"), now);
                    return;
                }
                if (cl.size() > 1 || (cl.size() == 1 && !cl.get(0).matches("[0-9]{1,9}"))) {
                    answerNow(c, error(400, "a bad Content-Length"), now);
                    return;
                }
                c.bodyLength = cl.isEmpty() ? 0 : Integer.parseInt(cl.get(0));
                if (c.bodyLength > limits.maxBodyBytes()) {
                    answerNow(c, error(413, "no call takes a body; at most " + limits.maxBodyBytes() + " bytes are read"),
                            now);
                    return;
                }
            }
            if (c.have >= c.headEnd + c.bodyLength) {
                Request r = c.request;
                byte[] body = Arrays.copyOfRange(c.buf, c.headEnd, c.headEnd + c.bodyLength);
                c.buf = null;
                dispatch(c, new Request(r.method(), r.target(), r.version(), r.headers(), body), now);
            }
        } catch (IOException e) {
            c.close();
        }
    }

    private void dispatch(Conn c, Request r, long now) {
        c.phase = Phase.HANDLING;
        c.key.interestOps(0);
        try {
            pool.execute(() -> {
                Response out;
                try {
                    out = handler.handle(r);
                } catch (RuntimeException e) {
                    log.warn("control call failed", e);
                    out = error(500, String.valueOf(e.getMessage()));
                }
                c.out = ByteBuffer.wrap(encode(out));
                answered.add(c);
                selector.wakeup();
            });
        } catch (RejectedExecutionException e) {
            answerNow(c, error(503, "the control API is busy (" + limits.workers() + " calls running, "
                    + limits.queue() + " waiting); try again"), now);
        }
    }

    /** Answers on the selector thread, without the handler: refusals of the request itself. */
    private void answerNow(Conn c, Response r, long now) {
        c.phase = Phase.HANDLING;
        c.buf = null;
        c.out = ByteBuffer.wrap(encode(r));
        startWriting(c, now);
    }

    private void startWriting(Conn c, long now) {
        if (!c.ch.isOpen()) {
            return;
        }
        c.phase = Phase.WRITING;
        c.deadline = now + limits.writeTimeout().toNanos();
        try {
            c.key.interestOps(SelectionKey.OP_WRITE);
        } catch (RuntimeException e) {
            c.close();
            return;
        }
        write(c, now);
    }

    private void write(Conn c, long now) {
        try {
            c.ch.write(c.out);
            if (!c.out.hasRemaining()) {
                // Closing at once with bytes of the client unread would reset the connection and could
                // lose the response: half-close, and read what is left for a moment.
                c.ch.shutdownOutput();
                c.phase = Phase.DRAINING;
                c.deadline = now + DRAIN_NANOS;
                c.key.interestOps(SelectionKey.OP_READ);
            }
        } catch (IOException | RuntimeException e) {
            c.close();
        }
    }

    private void expire(long now) {
        for (Conn c : new ArrayList<>(conns)) {
            if (c.phase != Phase.HANDLING && now - c.deadline >= 0) {
                if (c.phase == Phase.READING || c.phase == Phase.WRITING) {
                    timedOut.incrementAndGet();
                }
                c.close();
            }
        }
    }

    /** At most once a minute, how many connections were dropped since the last report. */
    private void report(long now) {
        if (now - reportedAt < REPORT_EVERY_NANOS) {
            return;
        }
        long drops = timedOut.get() + evicted.get() + refused.get();
        if (drops > reportedDrops) {
            log.warn("control API: {} connection(s) dropped in the last minute (in all: {} sent no complete request "
                            + "within {} s or did not take the response, {} evicted for newer ones, {} refused)",
                    drops - reportedDrops, timedOut.get(), limits.requestTimeout().toSeconds(), evicted.get(), refused.get());
            reportedDrops = drops;
        }
        reportedAt = now;
    }

    /** The offset after the blank line that ends the head, or -1; {@code from} is where to start looking. */
    static int headEnd(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] == '\n') {
                if (i + 1 < to && b[i + 1] == '\n') {
                    return i + 2;
                }
                if (i + 2 < to && b[i + 1] == '\r' && b[i + 2] == '\n') {
                    return i + 3;
                }
            }
        }
        return -1;
    }

    /** The request head, or the response that refuses it. */
    static Object parseHead(byte[] b, int end) {
        String head = new String(b, 0, end, StandardCharsets.ISO_8859_1);
        String[] lines = head.split("\r?\n", -1);
        String[] line = lines[0].split(" ", -1);
        if (line.length != 3 || !line[0].matches("[A-Z]{1,16}")) {
            return error(400, "not an HTTP request line");
        }
        String version = line[2];
        if (!version.equals("HTTP/1.1") && !version.equals("HTTP/1.0")) {
            return error(505, "only HTTP/1.1 and HTTP/1.0 are spoken here");
        }
        String target = line[1];
        if (!target.startsWith("/") || target.length() > 2048 || !target.chars().allMatch(ch -> ch > 0x20 && ch < 0x7f)) {
            return error(400, "the request target must be a path (origin form), not " + (target.startsWith("/")
                    ? "this one" : "'" + shorten(target) + "'"));
        }
        Map<String, List<String>> headers = new LinkedHashMap<>();
        int count = 0;
        for (int i = 1; i < lines.length; i++) {
            String h = lines[i];
            if (h.isEmpty()) {
                continue;
            }
            if (++count > 100) {
                return error(431, "more than 100 header fields");
            }
            int colon = h.indexOf(':');
            if (colon <= 0 || !h.substring(0, colon).matches("[!#$%&'*+.^_`|~0-9A-Za-z-]+")) {
                return error(400, "a malformed header line");
            }
            String value = h.substring(colon + 1).strip();
            if (!value.chars().allMatch(ch -> ch == '\t' || (ch >= 0x20 && ch != 0x7f))) {
                return error(400, "a header value with control characters");
            }
            headers.computeIfAbsent(h.substring(0, colon).toLowerCase(Locale.ROOT), k -> new ArrayList<>()).add(value);
        }
        headers.replaceAll((k, v) -> Collections.unmodifiableList(v));
        return new Request(line[0], target, version, Collections.unmodifiableMap(headers), new byte[0]);
    }

    static Response error(int code, String message) {
        byte[] body = ("{\"error\": " + jsonString(message) + "}\n").getBytes(StandardCharsets.UTF_8);
        return new Response(code, "application/json", body);
    }

    static String shorten(String s) {
        return s.length() <= 80 ? s : s.substring(0, 80) + "...";
    }

    private static String jsonString(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                default -> {
                    if (ch < 0x20 || ch == 0x7f) {
                        b.append(String.format("\\u%04x", (int) ch));
                    } else {
                        b.append(ch);
                    }
                }
            }
        }
        return b.append('"').toString();
    }

    static byte[] encode(Response r) {
        StringBuilder h = new StringBuilder("HTTP/1.1 ").append(r.code()).append(' ').append(reason(r.code())).append("\r\n");
        h.append("Content-Type: ").append(r.contentType()).append("\r\n");
        h.append("Content-Length: ").append(r.body().length).append("\r\n");
        h.append("Cache-Control: no-store\r\n");
        h.append("X-Content-Type-Options: nosniff\r\n");
        r.headers().forEach((k, v) -> h.append(k).append(": ").append(v).append("\r\n"));
        h.append("Connection: close\r\n\r\n");
        byte[] head = h.toString().getBytes(StandardCharsets.ISO_8859_1);
        byte[] all = Arrays.copyOf(head, head.length + r.body().length);
        System.arraycopy(r.body(), 0, all, head.length, r.body().length);
        return all;
    }

    private static String reason(int code) {
        return switch (code) {
            case 200 -> "OK";
            case 202 -> "Accepted";
            case 400 -> "Bad Request";
            case 401 -> "Unauthorized";
            case 403 -> "Forbidden";
            case 404 -> "Not Found";
            case 409 -> "Conflict";
            case 413 -> "Content Too Large";
            case 431 -> "Request Header Fields Too Large";
            case 500 -> "Internal Server Error";
            case 501 -> "Not Implemented";
            case 503 -> "Service Unavailable";
            case 505 -> "HTTP Version Not Supported";
            default -> "Status";
        };
    }

    @Override
    public void close() {
        open = false;
        selector.wakeup();
        try {
            loop.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        pool.shutdownNow();
        for (Conn c : new ArrayList<>(conns)) {
            c.close();
        }
        try {
            server.close();
            selector.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }
}
