package io.amirror.transport;

import io.amirror.transport.Receiver.Drop;
import io.amirror.transport.Receiver.Limits;
import io.amirror.transport.WireMessage.Data;
import io.amirror.transport.WireMessage.Describe;
import io.amirror.transport.WireMessage.Described;
import io.amirror.transport.WireMessage.Hello;
import io.amirror.transport.WireMessage.Offer;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.transport.WireMessage.SeedQuery;
import io.amirror.transport.WireMessage.Verify;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLSocket;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * What a connection may cost the standby before it has authenticated, on real sockets: held
 * connections beyond the bounds are closed at once and take no thread while a pinned primary is
 * still served; a peer that stalls or trickles its handshake or HELLO is dropped at the deadline;
 * authenticated connections are bounded too; and the accept loop outlives a failing handler
 * factory and threads that cannot be made.
 */
@Tag("real") // real sockets and TLS handshakes; keytool makes the identities
class StandbyConnectionBoundsTest {
    static final UUID DOM = UUID.fromString("0b6c3c1e-8f0a-4d43-9e0e-5b8d2f7a9c11");
    static final byte[] MANIFEST = {1, 2, 3};
    static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    @TempDir
    static Path keys;
    static Identity standby;
    static Identity primary;

    private final List<AutoCloseable> open = new ArrayList<>();

    @BeforeAll
    static void identities() throws IOException {
        standby = Identity.loadOrCreate(keys.resolve("standby"), "standby");
        primary = Identity.loadOrCreate(keys.resolve("primary"), "primary");
    }

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
    }

    @Test
    void heldConnectionsBeyondTheBoundPerAddressAreClosedAtOnceWithoutAThread() throws Exception {
        Limits limits = new Limits(16, 4, 8, Duration.ofSeconds(60), Duration.ofMinutes(2));
        Receiver r = start(limits, peer -> new Describing());
        int threadsBefore = ManagementFactory.getThreadMXBean().getThreadCount();
        InetAddress hostile = InetAddress.getByName("127.0.0.2");
        List<Socket> held = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            held.add(raw(hostile, r));
        }
        await(() -> r.stats().pending() == 4, () -> String.valueOf(r.stats()));
        long t0 = System.nanoTime();
        for (int i = 4; i < 200; i++) {
            assertTrue(droppedAtOnce(hostile, r), "a connection beyond the bound is closed");
        }
        assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(10).toNanos(), "closed at once, not at the timeout");
        for (Socket s : held.subList(0, 4)) {
            assertTrue(open(s), "the first connections within the bound are held");
        }
        await(() -> r.stats().dropped().get(Drop.ADDRESS_FULL) == 196, () -> "196 dropped: " + r.stats());
        assertEquals(4, r.stats().pending());
        assertTrue(connectionThreads(r) <= limits.pendingPerAddress(), connectionThreads(r) + " connection threads");
        int grown = ManagementFactory.getThreadMXBean().getThreadCount() - threadsBefore;
        assertTrue(grown < limits.pendingPerAddress() + 12, "200 held connections grew the process by " + grown + " threads");

        // meanwhile a pinned primary from another address is served
        primarySender(r).describe(DOM, 1, MANIFEST);
        assertTrue(open(held.get(0)), "still held");

        for (Socket s : held) {
            s.close();
        }
        await(() -> r.stats().pending() == 0, () -> "their handshakes ended with them: " + r.stats());
    }

    @Test
    void connectionsBeyondTheTotalBoundAreClosedAtOnceUntilSlotsFreeUp() throws Exception {
        Receiver r = start(new Limits(6, 2, 8, Duration.ofSeconds(60), Duration.ofMinutes(2)), peer -> new Describing());
        List<Socket> held = new ArrayList<>();
        for (int a = 2; a <= 4; a++) {
            InetAddress from = InetAddress.getByName("127.0.0." + a);
            held.add(raw(from, r));
            held.add(raw(from, r));
        }
        await(() -> r.stats().pending() == 6, () -> String.valueOf(r.stats()));
        assertTrue(droppedAtOnce(InetAddress.getByName("127.0.0.5"), r), "beyond the total bound, from a fresh address too");
        assertEquals(1, r.stats().dropped().get(Drop.PENDING_FULL));
        assertThrows(IOException.class, () -> primarySender(r).describe(DOM, 1, MANIFEST),
                "while the bound is full, a primary waits like anyone");
        for (Socket s : held) {
            assertTrue(open(s));
        }
        held.get(0).close();
        held.get(1).close();
        await(() -> r.stats().pending() == 4, () -> String.valueOf(r.stats()));
        primarySender(r).describe(DOM, 1, MANIFEST);
    }

    @Test
    void aPeerThatStallsInItsClientHelloIsDroppedAtTheTimeout() throws Exception {
        Receiver r = start(new Limits(8, 4, 8, Duration.ofSeconds(1), Duration.ofMinutes(2)), peer -> new Describing());
        Socket s = raw(LOOPBACK, r);
        long t0 = System.nanoTime();
        s.getOutputStream().write(CLIENT_HELLO_START);
        assertTrue(closedByPeer(s, Duration.ofSeconds(5)));
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertTrue(seconds > 0.8 && seconds < 3, "dropped after " + seconds + " s");
        await(() -> r.stats().dropped().get(Drop.HANDSHAKE_TIMEOUT) == 1 && r.stats().pending() == 0,
                () -> String.valueOf(r.stats()));
    }

    @Test
    void aPeerThatTricklesItsClientHelloIsDroppedAtTheDeadline() throws Exception {
        Receiver r = start(new Limits(8, 4, 8, Duration.ofSeconds(1), Duration.ofMinutes(2)), peer -> new Describing());
        Socket s = raw(LOOPBACK, r);
        long t0 = System.nanoTime();
        OutputStream out = s.getOutputStream();
        out.write(CLIENT_HELLO_START);
        // one byte every 200 ms: each read returns long before the 1 s timeout, and the record is
        // 512 bytes long, so without a deadline this handshake would last about 100 s
        AtomicLong trickled = new AtomicLong();
        Thread trickler = new Thread(() -> {
            try {
                for (int i = 0; i < 100; i++) {
                    Thread.sleep(200);
                    out.write(0);
                    out.flush();
                    trickled.incrementAndGet();
                }
            } catch (IOException | InterruptedException e) {
                // dropped, or the test ended
            }
        });
        trickler.setDaemon(true);
        trickler.start();
        try {
            assertTrue(closedByPeer(s, Duration.ofSeconds(5)));
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(seconds > 0.8 && seconds < 3, "dropped after " + seconds + " s");
            assertTrue(trickled.get() >= 3, "the peer kept sending: " + trickled.get() + " bytes");
            await(() -> r.stats().dropped().get(Drop.HANDSHAKE_TIMEOUT) == 1 && r.stats().pending() == 0,
                    () -> String.valueOf(r.stats()));
        } finally {
            trickler.interrupt();
        }
    }

    @Test
    void aPinnedPeerThatTricklesItsHelloIsDroppedAtTheDeadlineButMayIdleAfterIt() throws Exception {
        Receiver r = start(new Limits(8, 4, 8, Duration.ofSeconds(1), Duration.ofMinutes(2)), peer -> new Describing());
        ByteArrayOutputStream frame = new ByteArrayOutputStream();
        WireCodec.write(frame, new Hello(WireCodec.VERSION, "a-primary-that-trickles-its-hello"));
        byte[] hello = frame.toByteArray(); // sent whole, about 8 s

        long t0 = System.nanoTime();
        try (SSLSocket s = tls(r)) {
            InputStream in = new BufferedInputStream(s.getInputStream());
            OutputStream out = s.getOutputStream();
            assertInstanceOf(Hello.class, WireCodec.read(in), "the standby's HELLO");
            boolean answered;
            try {
                for (byte b : hello) { // a TLS record per byte, each in time for the 1 s timeout
                    out.write(b);
                    out.flush();
                    Thread.sleep(200);
                }
                answered = WireCodec.read(in) != null;
            } catch (IOException e) {
                answered = false;
            }
            assertFalse(answered, "the standby answered a HELLO that came after the deadline");
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertTrue(seconds < 4, "dropped after " + seconds + " s");
        await(() -> r.stats().dropped().get(Drop.HANDSHAKE_TIMEOUT) == 1, () -> String.valueOf(r.stats()));

        // HELLO in time, then a silence longer than the handshake timeout: the idle timeout applies
        try (SSLSocket s = tls(r)) {
            InputStream in = new BufferedInputStream(s.getInputStream());
            OutputStream out = s.getOutputStream();
            WireCodec.write(out, new Hello(WireCodec.VERSION, "idle"));
            assertInstanceOf(Hello.class, WireCodec.read(in));
            Thread.sleep(1_500);
            WireCodec.write(out, new Describe(DOM, 1, MANIFEST));
            Described d = assertInstanceOf(Described.class, WireCodec.read(in));
            assertArrayEquals(sha256(MANIFEST), d.sha256());
        }
        assertEquals(1, r.stats().dropped().get(Drop.HANDSHAKE_TIMEOUT));
    }

    @Test
    void authenticatedConnectionsBeyondTheirBoundAreRefused() throws Exception {
        Receiver r = start(new Limits(8, 4, 2, Duration.ofSeconds(5), Duration.ofMinutes(2)), peer -> new Describing());
        List<SSLSocket> served = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            SSLSocket s = tls(r);
            served.add(s);
            WireCodec.write(s.getOutputStream(), new Hello(WireCodec.VERSION, "holder"));
            assertInstanceOf(Hello.class, WireCodec.read(new BufferedInputStream(s.getInputStream())));
        }
        await(() -> r.stats().authenticated() == 2, () -> String.valueOf(r.stats()));
        try (SSLSocket third = tls(r)) {
            Refuse refuse = assertInstanceOf(Refuse.class, WireCodec.read(new BufferedInputStream(third.getInputStream())),
                    "the third is refused in place of HELLO");
            assertEquals(Refuse.INTERNAL, refuse.code());
            assertTrue(refuse.reason().contains("2 connections at most"), refuse.reason());
        }
        assertEquals(1, r.stats().dropped().get(Drop.AUTHENTICATED_FULL));
        served.get(0).close();
        await(() -> r.stats().authenticated() == 1, () -> String.valueOf(r.stats()));
        primarySender(r).describe(DOM, 1, MANIFEST);
        for (SSLSocket s : served) {
            s.close();
        }
    }

    @Test
    void theAcceptLoopOutlivesAHandlerFactoryThatThrows() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        Receiver r = start(Limits.DEFAULT, peer -> switch (calls.incrementAndGet()) {
            case 1 -> throw new IllegalStateException("handler factory broke");
            case 2 -> throw new AssertionError("handler factory broke worse");
            default -> new Describing();
        });
        Sender s = primarySender(r);
        assertThrows(IOException.class, () -> s.describe(DOM, 1, MANIFEST));
        assertThrows(IOException.class, () -> s.describe(DOM, 1, MANIFEST));
        s.describe(DOM, 1, MANIFEST);
        s.describe(DOM, 1, MANIFEST);
        assertEquals(4, calls.get());
        await(() -> r.stats().authenticated() == 0 && r.stats().pending() == 0, () -> "all released: " + r.stats());
    }

    @Test
    void theAcceptLoopOutlivesThreadsThatCannotBeMade() throws Exception {
        AtomicInteger made = new AtomicInteger();
        ThreadFactory failing = task -> switch (made.incrementAndGet()) {
            case 1 -> throw new OutOfMemoryError("unable to create native thread: possibly out of memory (test)");
            case 2 -> null; // the pool rejects the task
            default -> new Thread(task);
        };
        Receiver r = start(Limits.DEFAULT, peer -> new Describing(), failing);
        Sender s = primarySender(r);
        assertThrows(IOException.class, () -> s.describe(DOM, 1, MANIFEST));
        assertThrows(IOException.class, () -> s.describe(DOM, 1, MANIFEST));
        s.describe(DOM, 1, MANIFEST);
        assertEquals(2, r.stats().dropped().get(Drop.NO_THREAD));
        await(() -> r.stats().pending() == 0, () -> String.valueOf(r.stats()));
    }

    @Test
    void anUnpinnedPeerIsCountedAsAFailedHandshake() throws Exception {
        Identity stranger = Identity.loadOrCreate(keys.resolve("stranger"), "stranger");
        Receiver r = start(Limits.DEFAULT, peer -> new Describing());
        Sender intruder = new Sender(Tls.context(stranger, Set.of(standby.fingerprint())),
                new InetSocketAddress(LOOPBACK, r.port()), new TokenBucket(() -> 1e12), 10_000);
        assertThrows(IOException.class, () -> intruder.describe(DOM, 1, MANIFEST));
        await(() -> r.stats().dropped().get(Drop.HANDSHAKE_FAILED) == 1 && r.stats().pending() == 0,
                () -> String.valueOf(r.stats()));
        primarySender(r).describe(DOM, 1, MANIFEST);
    }

    @Test
    void limitsAreChecked() {
        assertThrows(IllegalArgumentException.class, () -> new Limits(0, 0, 1, Duration.ofSeconds(1), Duration.ofSeconds(1)));
        assertThrows(IllegalArgumentException.class, () -> new Limits(4, 8, 1, Duration.ofSeconds(1), Duration.ofSeconds(1)));
        assertThrows(IllegalArgumentException.class, () -> new Limits(4, 2, 0, Duration.ofSeconds(1), Duration.ofSeconds(1)));
        assertThrows(IllegalArgumentException.class, () -> new Limits(4, 2, 1, Duration.ZERO, Duration.ofSeconds(1)));
        assertThrows(IllegalArgumentException.class, () -> new Limits(4, 2, 1, Duration.ofSeconds(1), Duration.ofDays(30)));
    }

    // -- fixture

    /**
     * The first bytes of a ClientHello: a handshake record of 512 bytes announced, of which only the
     * handshake header follows.
     */
    static final byte[] CLIENT_HELLO_START = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, (byte) 0xfc};

    private Receiver start(Limits limits, Function<Peer, ConnectionHandler> handlers) throws IOException {
        return start(limits, handlers, Thread::new);
    }

    private Receiver start(Limits limits, Function<Peer, ConnectionHandler> handlers, ThreadFactory threads)
            throws IOException {
        Receiver r = new Receiver(Tls.listen(Tls.context(standby, Set.of(primary.fingerprint())),
                new InetSocketAddress(LOOPBACK, 0)), handlers, limits, threads).start();
        open.add(r);
        return r;
    }

    private static Sender primarySender(Receiver r) throws IOException {
        return new Sender(Tls.context(primary, Set.of(standby.fingerprint())), new InetSocketAddress(LOOPBACK, r.port()),
                new TokenBucket(() -> 1e12), 10_000);
    }

    /** A TCP connection to {@code r} from {@code from} that sends nothing. */
    private Socket raw(InetAddress from, Receiver r) throws IOException {
        Socket s = new Socket();
        open.add(s);
        s.bind(new InetSocketAddress(from, 0));
        s.connect(new InetSocketAddress(LOOPBACK, r.port()), 10_000);
        return s;
    }

    /**
     * Whether a TCP connection to {@code r} from {@code from} is closed by {@code r} within 5 s
     * (much less than the timeouts of the tests), or reset before the connect returned.
     */
    private boolean droppedAtOnce(InetAddress from, Receiver r) throws IOException {
        Socket s = new Socket();
        open.add(s);
        s.bind(new InetSocketAddress(from, 0));
        try {
            s.connect(new InetSocketAddress(LOOPBACK, r.port()), 10_000);
        } catch (SocketException e) { // the reset came first
            return true;
        }
        return closedByPeer(s, Duration.ofSeconds(5));
    }

    /** The primary's TLS connection to {@code r}, handshake done. */
    private SSLSocket tls(Receiver r) throws IOException {
        Socket plain = new Socket();
        plain.connect(new InetSocketAddress(LOOPBACK, r.port()), 10_000);
        SSLSocket s = Tls.connect(Tls.context(primary, Set.of(standby.fingerprint())), plain, "standby", 10_000);
        open.add(s);
        return s;
    }

    /** Whether the peer closes {@code s} (end of stream or reset) within {@code within}, whatever it sent before. */
    private static boolean closedByPeer(Socket s, Duration within) throws IOException {
        long end = System.nanoTime() + within.toNanos();
        byte[] b = new byte[512];
        try {
            while (true) {
                long left = (end - System.nanoTime()) / 1_000_000;
                if (left <= 0) {
                    return false;
                }
                s.setSoTimeout((int) left);
                if (s.getInputStream().read(b) < 0) {
                    return true;
                }
            }
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) { // a reset
            return true;
        }
    }

    /** Whether {@code s} is still open: the peer neither sends nor closes for a while. */
    private static boolean open(Socket s) throws IOException {
        s.setSoTimeout(100);
        try {
            s.getInputStream().read();
            return false;
        } catch (SocketTimeoutException e) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static long connectionThreads(Receiver r) {
        String prefix = "standby-connection-" + r.port() + "-";
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith(prefix)).count();
    }

    private static void await(BooleanSupplier condition, Supplier<String> message) throws InterruptedException {
        long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) {
                fail(message.get());
            }
            Thread.sleep(10);
        }
    }

    static byte[] sha256(byte[] b) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(b);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A handler that answers DESCRIBE, and refuses the rest. */
    static final class Describing implements ConnectionHandler {
        @Override
        public WireMessage offer(Offer offer) {
            return new Refuse(Refuse.INTERNAL, "not here");
        }

        @Override
        public void data(Data data) throws IOException {
            throw new IOException("no transfer");
        }

        @Override
        public WireMessage commit() throws IOException {
            throw new IOException("no transfer");
        }

        @Override
        public WireMessage describe(Describe describe) {
            return new Described(describe.domain(), sha256(describe.manifestXz()));
        }

        @Override
        public WireMessage seedQuery(SeedQuery query) {
            return new Refuse(Refuse.NO_SEED, "none");
        }

        @Override
        public WireMessage verify(Verify verify, ProgressReport progress) {
            return new Refuse(Refuse.INTERNAL, "not here");
        }

        @Override
        public void close() {
        }
    }
}
