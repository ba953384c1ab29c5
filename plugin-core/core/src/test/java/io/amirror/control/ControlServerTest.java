package io.amirror.control;

import io.amirror.config.ConfigError;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The control API over real sockets: only requests for a loopback {@code Host}, the token on
 * metrics when asked for, and no wedge from silent, trickling or too many connections.
 */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class ControlServerTest {
    static final InetSocketAddress ANY_PORT = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    /** A short request timeout, so the tests that wait for it are quick. */
    static final ControlHttp.Limits QUICK = new ControlHttp.Limits(Duration.ofSeconds(2), Duration.ofSeconds(5),
            16 << 10, 64 << 10, 64, 4, 16);

    /** A daemon with one guest; {@code verify} blocks until {@link #release} when {@link #blockVerify} is set. */
    static final class FakeDaemon implements PrimaryControl {
        final AtomicBoolean blockVerify = new AtomicBoolean();
        final CountDownLatch release = new CountDownLatch(1);

        @Override
        public StatusReport status() {
            return new StatusReport("host", "0.1", "2026-01-01T00:00:00Z", Instant.now().toString(), List.of("office"),
                    List.of(), List.of(new StatusReport.Domain("files", "5eed0000-0000-4000-8000-000000000001", "office",
                    "10.0.0.2:10809", "idle", 3, "2026-01-01T00:00:00Z", 60L, 900, 1800, "ok", 0, 0, 0, null, null,
                    "CRASH", 3, 0, null, null, null, null, null, null, null, null, null, 1000, 3, 2.0, 70L, null, null, null, null, 72L, "sha256:00")));
        }

        @Override
        public Optional<Instant> requestSync(String guest) {
            return guest.equals("files") ? Optional.of(Instant.now()) : Optional.empty();
        }

        @Override
        public VerifyReport verify(String guest) throws Exception {
            if (blockVerify.get()) {
                release.await();
            }
            return new VerifyReport(guest, 3, List.of(), 0.1);
        }

        @Override
        public List<ConfigError> reload() {
            return List.of();
        }
    }

    /** A raw HTTP exchange: what the server answered (status line, headers, body) to exactly these bytes. */
    record Raw(int code, String head, String body) {
    }

    static Raw raw(ControlServer s, String request) throws IOException {
        try (Socket c = connect(s)) {
            c.setSoTimeout(10_000);
            c.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            c.getOutputStream().flush();
            String all = new String(c.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            int split = all.indexOf("\r\n\r\n");
            assertTrue(split > 0, "an HTTP response: " + all);
            return new Raw(Integer.parseInt(all.substring(9, 12)), all.substring(0, split), all.substring(split + 4));
        }
    }

    static Socket connect(ControlServer s) throws IOException {
        return new Socket(InetAddress.getLoopbackAddress(), s.endpoint().url().getPort());
    }

    static String get(String path, String host, String token) {
        return "GET " + path + " HTTP/1.1\r\n" + (host == null ? "" : "Host: " + host + "\r\n")
                + (token == null ? "" : "Authorization: Bearer " + token + "\r\n") + "\r\n";
    }

    @Test
    void onlyRequestsForALoopbackNameAreAnswered(@TempDir Path state) throws Exception {
        try (ControlServer s = new ControlServer(new FakeDaemon(), ANY_PORT, state)) {
            int port = s.endpoint().url().getPort();
            String token = s.endpoint().token();
            // a page whose name was rebound to 127.0.0.1 sends its own name: refused, and nothing of the metrics
            for (String host : List.of("evil.example", "evil.example:" + port, "127.0.0.1.evil.example:" + port,
                    "localhost.evil.example", "10.0.0.1:" + port, "[::2]:" + port, "127.0.0.256", "0x7f.0.0.1",
                    "localhost:99999", "localhost:" + port + "@evil.example", "")) {
                Raw r = raw(s, get("/metrics", host, null));
                assertEquals(403, r.code(), host);
                assertFalse(r.body().contains("amirror_"), "no metric for " + host + ": " + r.body());
                assertTrue(r.body().contains("loopback"), r.body());
                Raw st = raw(s, get("/v1/status", host, token));
                assertEquals(403, st.code(), "not even with the token: " + host);
                assertFalse(st.body().contains("files"), st.body());
            }
            Raw none = raw(s, get("/metrics", null, null));
            assertEquals(403, none.code(), "HTTP/1.1 without Host");
            assertTrue(none.body().contains("no Host"), none.body());
            assertEquals(400, raw(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n").code(),
                    "two Host headers");
            assertEquals(400, raw(s, "GET http://evil.example/metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").code(),
                    "an absolute target, whose host would override the header");
            // the loopback names, with and without the port; HTTP/1.0 may leave Host out
            for (String host : List.of("localhost", "localhost:" + port, "LOCALHOST:" + port, "127.0.0.1",
                    "127.0.0.1:" + port, "127.1.2.3:" + port, "[::1]", "[::1]:" + port)) {
                Raw r = raw(s, get("/metrics", host, null));
                assertEquals(200, r.code(), host);
                assertTrue(r.body().contains("amirror_rpo_seconds{domain=\"files\",policy=\"office\"} 60.0"), r.body());
                assertEquals(200, raw(s, get("/v1/status", host, token)).code(), host);
            }
            assertEquals(200, raw(s, "GET /metrics HTTP/1.0\r\n\r\n").code());
            // the CLI's client sends what passes
            ControlClient client = new ControlClient(s.endpoint());
            assertEquals(200, client.status().code());
            assertEquals("files", client.status().body().path("domains").path(0).path("domain").asText());
            assertEquals(202, client.sync("files").code());
            assertEquals(404, client.sync("other").code());
            assertEquals(200, client.reload().code());
            assertEquals(200, client.verify("files").code());
            assertTrue(client.metrics().contains("amirror_cycles_total"));
            assertEquals(401, new ControlClient(new ControlEndpoint(s.endpoint().url(), "0".repeat(64))).status().code());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"localhost", "localhost:9750", "127.0.0.1", "127.0.0.1:9750", "127.255.0.1:1", "[::1]",
            "[::1]:9750", "LocalHost:0"})
    void loopbackHosts(String host) {
        assertTrue(ControlServer.loopbackHost(host), host);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "evil.example", "evil.example:9750", "localhost.", "localhost.evil", "localhost:",
            "localhost:abc", "localhost:65536", "localhost:1:2", "127.0.0.01", "127.0.0", "127.0.0.1.5", "128.0.0.1",
            "[::1", "[::1]x", "[::2]", "[0:0:0:0:0:0:0:1]x", "::1", " localhost", "localhost ", "127.0.0.1:9750/x"})
    void otherHosts(String host) {
        assertFalse(ControlServer.loopbackHost(host), host);
    }

    @Test
    void curlReadsTheStatusWithTheHeaderFileAndNoTokenOnItsCommandLine(@TempDir Path state) throws Exception {
        try (ControlServer s = new ControlServer(new FakeDaemon(), ANY_PORT, state)) {
            Path header = state.resolve("control").resolve(ControlEndpoint.AUTHORIZATION);
            assertEquals("Authorization: Bearer " + s.endpoint().token() + "\n", Files.readString(header));
            assertEquals(PosixFilePermissions.fromString("rw-------"), Files.getPosixFilePermissions(header));
            String url = Files.readString(state.resolve("control/endpoint")).strip() + "/v1/status";
            io.amirror.util.Exec.Result r = io.amirror.util.Exec.run(java.time.Duration.ofSeconds(20), "curl", "-sf",
                    "-H", "@" + header, url);
            assertEquals(0, r.exitCode(), r.stderr());
            com.fasterxml.jackson.databind.JsonNode doc = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.stdout());
            assertEquals("files", doc.path("domains").path(0).path("domain").asText(), r.stdout());
            assertEquals(22, io.amirror.util.Exec.run(java.time.Duration.ofSeconds(20), "curl", "-sf", url).exitCode(),
                    "without the header: 401, curl -f exits 22");
        }
    }

    @Test
    void metricsAskForTheTokenWhenConfigured(@TempDir Path state) throws Exception {
        try (ControlServer s = new ControlServer(new FakeDaemon(), ANY_PORT, state,
                ControlServer.Options.DEFAULT.withMetricsToken(true))) {
            Raw without = raw(s, get("/metrics", "localhost", null));
            assertEquals(401, without.code());
            assertFalse(without.body().contains("amirror_"), without.body());
            assertEquals(401, raw(s, get("/metrics", "localhost", "f".repeat(64))).code(), "a wrong token");
            // what Prometheus sends with authorization: {credentials_file: STATE/control/token}
            Raw with = raw(s, get("/metrics", "127.0.0.1:" + s.endpoint().url().getPort(),
                    ControlEndpoint.read(state).token()));
            assertEquals(200, with.code());
            assertTrue(with.head().contains("Content-Type: text/plain"), with.head());
            assertTrue(with.body().contains("amirror_cycles_total{domain=\"files\",policy=\"office\"} 3.0"), with.body());
            assertTrue(new ControlClient(s.endpoint()).metrics().contains("amirror_cycles_total"), "the CLI sends it");
        }
        try (ControlServer s = new ControlServer(new FakeDaemon(), ANY_PORT, state)) {
            assertEquals(200, raw(s, get("/metrics", "localhost", null)).code(), "by default metrics need no token");
        }
    }

    @Test
    void silentAndTricklingConnectionsNeitherWedgeStatusNorStayOpen(@TempDir Path state) throws Exception {
        ExecutorService trickle = Executors.newSingleThreadExecutor();
        List<Socket> silent = new ArrayList<>();
        try (ControlServer s = new ControlServer(new FakeDaemon(), ANY_PORT, state,
                new ControlServer.Options(false, QUICK))) {
            ControlClient client = new ControlClient(s.endpoint());
            long normal = normalTime(client);
            for (int i = 0; i < 20; i++) {
                silent.add(connect(s));
            }
            // a client that sends its request one byte every 200 ms: it never completes within the timeout
            Socket slow = connect(s);
            long slowStart = System.nanoTime();
            Future<Boolean> trickled = trickle.submit(() -> {
                byte[] req = get("/v1/status", "localhost", s.endpoint().token()).getBytes(StandardCharsets.US_ASCII);
                try {
                    OutputStream out = slow.getOutputStream();
                    for (byte b : req) {
                        out.write(b);
                        out.flush();
                        Thread.sleep(200);
                    }
                    return false;
                } catch (SocketException e) {
                    return true; // closed by the server
                }
            });
            Thread.sleep(300);
            for (int i = 0; i < 5; i++) {
                long t = timed(client::status);
                assertTrue(t < Math.max(500, 10 * normal), "status answers in " + t + " ms beside 21 half-open "
                        + "connections (alone: " + normal + " ms)");
                assertTrue(raw(s, get("/metrics", "localhost", null)).body().contains("amirror_rpo_seconds"));
            }
            // the silent ones are closed after the request timeout (2 s here, 5 s by default)
            for (Socket c : silent) {
                c.setSoTimeout(5000);
                long t0 = System.nanoTime();
                assertEquals(-1, readOrReset(c.getInputStream()), "the server closes a silent connection");
                assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - slowStart) >= 1500,
                        "not before its time: " + (System.nanoTime() - t0) / 1_000_000 + " ms");
            }
            slow.setSoTimeout(5000);
            assertEquals(-1, readOrReset(slow.getInputStream()), "the trickling one too, though it kept sending");
            long slowFor = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - slowStart);
            assertTrue(slowFor < 4000, "closed at its deadline, not at its last byte: " + slowFor + " ms");
            assertTrue(trickled.get(10, TimeUnit.SECONDS), "its writes fail once closed");
            assertTrue(s.drops()[0] >= 21, "counted as timed out");
            assertEquals(200, client.status().code());
        } finally {
            trickle.shutdownNow();
            for (Socket c : silent) {
                c.close();
            }
        }
    }

    @Test
    void moreConnectionsThanTheBoundEvictTheOldestAndStatusStillAnswers(@TempDir Path state) throws Exception {
        List<Socket> flood = new ArrayList<>();
        try (ControlServer s = new ControlServer(new FakeDaemon(), ANY_PORT, state,
                new ControlServer.Options(false, ControlHttp.Limits.DEFAULT))) {
            ControlClient client = new ControlClient(s.endpoint());
            long normal = normalTime(client);
            for (int i = 0; i < 300; i++) { // the bound is 128
                flood.add(connect(s));
            }
            Thread.sleep(200);
            for (int i = 0; i < 5; i++) {
                long t = timed(client::status);
                assertTrue(t < Math.max(500, 10 * normal), "status beside 300 silent connections: " + t + " ms");
            }
            assertTrue(s.drops()[1] >= 300 - 128, "the oldest readers were evicted");
        } finally {
            for (Socket c : flood) {
                c.close();
            }
        }
    }

    @Test
    void longVerifiesLeaveWorkersForStatus(@TempDir Path state) throws Exception {
        FakeDaemon daemon = new FakeDaemon();
        daemon.blockVerify.set(true);
        ExecutorService callers = Executors.newFixedThreadPool(8);
        try (ControlServer s = new ControlServer(daemon, ANY_PORT, state, new ControlServer.Options(false, QUICK))) {
            ControlClient client = new ControlClient(s.endpoint());
            List<Future<ControlClient.Reply>> verifies = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                verifies.add(callers.submit(() -> client.verify("files")));
            }
            Thread.sleep(500);
            long t = timed(client::status);
            assertTrue(t < 1000, "status while 6 verifies wait: " + t + " ms");
            daemon.release.countDown();
            int ok = 0;
            int busy = 0;
            for (Future<ControlClient.Reply> f : verifies) {
                int code = f.get(10, TimeUnit.SECONDS).code();
                ok += code == 200 ? 1 : 0;
                busy += code == 503 ? 1 : 0;
            }
            assertEquals(2, ok, "half of the 4 workers run verifies");
            assertEquals(4, busy, "the others are told to try again");
        } finally {
            daemon.release.countDown();
            callers.shutdownNow();
        }
    }

    @Test
    void malformedOrOversizedRequestsGetAClearErrorAndAreClosed(@TempDir Path state) throws Exception {
        try (ControlServer s = new ControlServer(new FakeDaemon(), ANY_PORT, state)) {
            assertEquals(400, raw(s, "HELLO\r\n\r\n").code());
            assertEquals(505, raw(s, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").code());
            assertEquals(505, raw(s, "GET /metrics HTTP/1.2\r\nHost: localhost\r\n\r\n").code());
            assertEquals(400, raw(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n folded: header\r\n\r\n").code());
            assertEquals(400, raw(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nno colon\r\n\r\n").code());
            Raw big = raw(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + "a".repeat(20_000) + "\r\n\r\n");
            assertEquals(431, big.code());
            assertTrue(big.body().contains("16384 bytes"), big.body());
            assertEquals(413, raw(s, "POST /v1/reload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000000\r\n\r\n")
                    .code());
            assertEquals(501, raw(s, "POST /v1/reload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
                    .code());
            assertEquals(400, raw(s, "POST /v1/reload HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n").code());
            // a small body is read and ignored; the call still needs its token
            assertEquals(200, raw(s, "POST /v1/reload HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "
                    + s.endpoint().token() + "\r\nContent-Length: 5\r\n\r\nhello").code());
            assertEquals(401, raw(s, "POST /v1/reload HTTP/1.1\r\nHost: localhost\r\n\r\n").code());
            Raw unknown = raw(s, get("/v1/nothing", "localhost", s.endpoint().token()));
            assertEquals(404, unknown.code());
            assertTrue(unknown.head().contains("Connection: close"), unknown.head());
        }
    }

    private interface Call {
        ControlClient.Reply call() throws IOException;
    }

    /** How long a status call takes on its own, once the client is warm (the slowest of three). */
    private static long normalTime(ControlClient client) throws IOException {
        for (int i = 0; i < 3; i++) {
            timed(client::status);
        }
        long normal = 0;
        for (int i = 0; i < 3; i++) {
            normal = Math.max(normal, timed(client::status));
        }
        return normal;
    }

    /** Milliseconds of one call, which must succeed. */
    private static long timed(Call c) throws IOException {
        long t0 = System.nanoTime();
        assertEquals(200, c.call().code());
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    }

    /** Reads until the end; a reset counts as the end (the server closed with bytes unread). */
    private static int readOrReset(InputStream in) throws IOException {
        try {
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            for (int b; ; ) {
                b = in.read();
                if (b < 0) {
                    assertEquals(0, got.size(), "nothing is answered to a request that never completed: " + got);
                    return -1;
                }
                got.write(b);
            }
        } catch (SocketTimeoutException e) {
            return 0;
        } catch (SocketException e) {
            return -1;
        }
    }
}
