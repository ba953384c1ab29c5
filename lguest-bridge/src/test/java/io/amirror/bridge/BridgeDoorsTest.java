package io.amirror.bridge;

import io.amirror.nbd.NbdCodec;
import io.amirror.nbd.NbdMessages.Request;
import io.amirror.util.Exec;
import io.amirror.util.FileDigest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static io.amirror.nbd.NbdConstants.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The bridge's doors: TLS on TCP with client certificates against real qemu-io and qemu-img
 * (certificates made by openssl for the test), plaintext and unknown clients refused, loopback
 * only without TLS, and the bounds: connections, request sizes, deadlines for silent clients.
 */
@Tag("real") // real qemu-io, qemu-img, nbdinfo, openssl, real sockets
class BridgeDoorsTest {
    private static final int MIB = 1 << 20;

    @TempDir
    static Path pki;
    static Path serverDir;
    static Path clientDir;
    static Path strangerDir;
    static Path otherClientDir;

    @TempDir
    Path dir;
    Path image;
    Path socket;
    Path state;
    BridgeVolume volume;
    BridgeServer server;

    /** A CA, the server's certificate for 127.0.0.1, two clients it signed, and one of another CA. */
    @BeforeAll
    static void certificates() throws IOException {
        Path cnf = pki.resolve("min.cnf");
        Files.writeString(cnf, "[req]\ndistinguished_name=dn\n[dn]\n");
        serverDir = Files.createDirectory(pki.resolve("server"));
        clientDir = Files.createDirectory(pki.resolve("client"));
        otherClientDir = Files.createDirectory(pki.resolve("other-client"));
        strangerDir = Files.createDirectory(pki.resolve("stranger"));
        Path ca = ca(cnf, "ca");
        Path strangeCa = ca(cnf, "strange-ca");
        issue(cnf, ca, "bridge", "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
                serverDir.resolve("server-cert.pem"), serverDir.resolve("server-key.pem"));
        Files.copy(ca.resolve("ca-cert.pem"), serverDir.resolve("ca-cert.pem"));
        for (Path d : List.of(clientDir, otherClientDir)) {
            issue(cnf, ca, "launcher-" + d.getFileName(), "extendedKeyUsage=clientAuth\n", d.resolve("client-cert.pem"),
                    d.resolve("client-key.pem"));
            Files.copy(ca.resolve("ca-cert.pem"), d.resolve("ca-cert.pem"));
        }
        issue(cnf, strangeCa, "stranger", "extendedKeyUsage=clientAuth\n", strangerDir.resolve("client-cert.pem"),
                strangerDir.resolve("client-key.pem"));
        Files.copy(ca.resolve("ca-cert.pem"), strangerDir.resolve("ca-cert.pem")); // it trusts the server's CA
    }

    private static Path ca(Path cnf, String name) throws IOException {
        Path d = Files.createDirectory(pki.resolve(name));
        openssl(cnf, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d.resolve("ca-key.pem").toString(),
                "-out", d.resolve("ca-cert.pem").toString(), "-days", "3", "-subj", "/CN=" + name,
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        return d;
    }

    private static void issue(Path cnf, Path ca, String cn, String ext, Path cert, Path key) throws IOException {
        Path csr = pki.resolve(cn + ".csr");
        Path extFile = pki.resolve(cn + ".ext");
        Files.writeString(extFile, "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n" + ext);
        openssl(cnf, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key.toString(), "-out", csr.toString(),
                "-subj", "/CN=" + cn);
        openssl(cnf, "x509", "-req", "-in", csr.toString(), "-CA", ca.resolve("ca-cert.pem").toString(), "-CAkey",
                ca.resolve("ca-key.pem").toString(), "-CAcreateserial", "-out", cert.toString(), "-days", "3",
                "-extfile", extFile.toString());
        Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));
    }

    private static void openssl(Path cnf, String... args) {
        List<String> cmd = new ArrayList<>(List.of("openssl"));
        cmd.addAll(List.of(args));
        Exec.run(cmd, null, Map.of("OPENSSL_CONF", cnf.toString()), Duration.ofSeconds(60)).orThrow();
    }

    @BeforeEach
    void image() throws IOException {
        image = dir.resolve("guest.raw");
        Files.write(image, new byte[4 * MIB]);
        socket = dir.resolve("nbd.sock");
        state = dir.resolve("state");
        volume = BridgeVolume.open(image, state, null, "guest", "vda", List.of());
    }

    @AfterEach
    void stop() throws IOException {
        if (server != null) {
            server.close();
        }
        volume.close();
    }

    private void serve(InetSocketAddress tcp, BridgeTls tls, BridgeServer.Limits limits) throws IOException {
        server = BridgeServer.start(volume, state, socket, tcp, tls, limits);
    }

    private static InetSocketAddress anyAddress() {
        return new InetSocketAddress("0.0.0.0", 0);
    }

    /** qemu-io on the bridge's TCP port, with TLS credentials from {@code creds} (null: plain). */
    private Exec.Result qemuIo(Path creds, String command) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Exec.tool("qemu-io")));
        String opts = "driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=" + server.tcpAddress().getPort();
        if (creds != null) {
            cmd.addAll(List.of("--object", "tls-creds-x509,id=tls0,dir=" + creds + ",endpoint=client"));
            opts += ",tls-creds=tls0";
        }
        cmd.addAll(List.of("--image-opts", "-c", command, opts));
        return Exec.run(cmd, null, Map.of(), Duration.ofSeconds(60));
    }

    // ------------------------------------------------------------------ TLS

    @Test
    void qemuWithACertificateOfTheCaWritesOverTlsAndOthersAreRefused() throws Exception {
        serve(anyAddress(), BridgeTls.load(serverDir, Set.of()), BridgeServer.Limits.DEFAULTS);

        Exec.Result w = qemuIo(clientDir, "write -P 0x42 64k 128k");
        assertEquals(0, w.exitCode(), w.stdout() + w.stderr());
        assertEquals(0x42, Files.readAllBytes(image)[64 * 1024], "the write reached the image over TLS");
        Exec.Result r = qemuIo(clientDir, "read -P 0x42 64k 128k");
        assertEquals(0, r.exitCode(), r.stdout() + r.stderr());
        assertFalse(r.stdout().contains("Pattern verification failed"), r.stdout());
        // qemu-img too, with the same credentials
        List<String> info = List.of(Exec.tool("qemu-img"), "info", "--object",
                "tls-creds-x509,id=tls0,dir=" + clientDir + ",endpoint=client", "--image-opts",
                "driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=" + server.tcpAddress().getPort()
                        + ",tls-creds=tls0");
        Exec.Result i = Exec.run(info, null, Map.of(), Duration.ofSeconds(60));
        assertEquals(0, i.exitCode(), i.stderr());
        assertTrue(i.stdout().contains("virtual size: 4 MiB"), i.stdout());

        byte[] before = FileDigest.sha256(image);
        Exec.Result plain = qemuIo(null, "write -P 0x66 0 4k");
        assertNotEquals(0, plain.exitCode(), "a plaintext client is refused");
        assertTrue((plain.stdout() + plain.stderr()).contains("TLS"), plain.stderr());
        Exec.Result stranger = qemuIo(strangerDir, "write -P 0x66 0 4k");
        assertNotEquals(0, stranger.exitCode(), "a client certificate of another CA is refused");
        assertArrayEquals(before, FileDigest.sha256(image), "neither changed the image");
    }

    @Test
    void pinsNarrowTheClientsTheCaAdmits() throws Exception {
        String pin = Exec.run(List.of("openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in",
                otherClientDir.resolve("client-cert.pem").toString()), null, Map.of(), Duration.ofSeconds(30))
                .orThrow().stdout().strip().replaceFirst("^.*=", "");
        serve(anyAddress(), BridgeTls.load(serverDir, Set.of(pin)), BridgeServer.Limits.DEFAULTS);
        assertNotEquals(0, qemuIo(clientDir, "write -P 0x42 0 4k").exitCode(), "signed by the CA, but not pinned");
        assertEquals(0, Files.readAllBytes(image)[0]);
        Exec.Result ok = qemuIo(otherClientDir, "write -P 0x43 0 4k");
        assertEquals(0, ok.exitCode(), ok.stderr());
        assertEquals(0x43, Files.readAllBytes(image)[0]);
        assertThrows(IllegalArgumentException.class, () -> BridgeTls.load(serverDir, Set.of("sha256:12")));
    }

    @Test
    void onATlsPortOptionsBeforeStartTlsAreRefusedAndExportNameCloses() throws Exception {
        serve(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), BridgeTls.load(serverDir, Set.of()),
                BridgeServer.Limits.DEFAULTS);
        try (Raw c = new Raw(server.tcpAddress())) {
            assertEquals(REP_ERR_TLS_REQD, c.option(OPT_GO, NbdCodec.encodeGoData("")));
            assertEquals(REP_ERR_TLS_REQD, c.option(OPT_LIST, new byte[0]));
            assertEquals(REP_ERR_TLS_REQD, c.option(OPT_STRUCTURED_REPLY, new byte[0]));
            assertEquals(REP_ERR_INVALID, c.option(OPT_STARTTLS, new byte[] {1}), "STARTTLS has no data");
            c.send(NbdCodec.encodeOption(OPT_EXPORT_NAME, new byte[0]));
            c.assertClosed();
        }
        try (Raw c = new Raw(UnixDomainSocketAddress.of(socket))) {
            assertEquals(REP_ERR_UNSUP, c.option(OPT_STARTTLS, new byte[0]), "the unix socket stays plain");
            assertEquals(REP_ACK, c.option(OPT_GO, NbdCodec.encodeGoData("")));
        }
    }

    @Test
    void keysInOtherFormatsAndOpenModes() throws Exception {
        Path d = Files.createDirectory(dir.resolve("pkcs1"));
        for (String f : List.of("ca-cert.pem", "server-cert.pem")) {
            Files.copy(serverDir.resolve(f), d.resolve(f));
        }
        Path cnf = pki.resolve("min.cnf");
        openssl(cnf, "rsa", "-in", serverDir.resolve("server-key.pem").toString(), "-traditional", "-out",
                d.resolve("server-key.pem").toString());
        assertTrue(Files.readString(d.resolve("server-key.pem")).startsWith("-----BEGIN RSA PRIVATE KEY-----"));
        Files.setPosixFilePermissions(d.resolve("server-key.pem"), PosixFilePermissions.fromString("rw-r--r--"));
        IllegalArgumentException open = assertThrows(IllegalArgumentException.class, () -> BridgeTls.load(d, Set.of()));
        assertTrue(open.getMessage().contains("chmod 600"), open.getMessage());
        Files.setPosixFilePermissions(d.resolve("server-key.pem"), PosixFilePermissions.fromString("rw-------"));
        serve(anyAddress(), BridgeTls.load(d, Set.of()), BridgeServer.Limits.DEFAULTS);
        Exec.Result w = qemuIo(clientDir, "write -P 0x44 0 4k");
        assertEquals(0, w.exitCode(), w.stderr());
        Files.delete(d.resolve("ca-cert.pem"));
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class, () -> BridgeTls.load(d, Set.of()));
        assertTrue(missing.getMessage().contains("ca-cert.pem"), missing.getMessage());
    }

    @Test
    void anAddressBeyondLoopbackWithoutTlsIsRefusedNamingTheOption() throws Exception {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> serve(anyAddress(), null, BridgeServer.Limits.DEFAULTS));
        assertTrue(e.getMessage().contains("--tls-dir"), e.getMessage());
        assertTrue(e.getMessage().contains("0.0.0.0"), e.getMessage());
        assertFalse(Files.exists(socket), "nothing was bound");
        serve(new InetSocketAddress("127.0.0.1", 0), null, BridgeServer.Limits.DEFAULTS); // loopback is fine
    }

    // ------------------------------------------------------------------ bounds

    @Test
    void connectionsBeyondTheBoundAreClosedAtOnce() throws Exception {
        serve(null, null, BridgeServer.Limits.DEFAULTS.withMaxConnections(2));
        try (Raw a = new Raw(UnixDomainSocketAddress.of(socket)); Raw b = new Raw(UnixDomainSocketAddress.of(socket))) {
            long t0 = System.nanoTime();
            try (SocketChannel third = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
                DataInputStream in = new DataInputStream(Channels.newInputStream(third));
                assertThrows(IOException.class, () -> in.readFully(new byte[18]), "no greeting for the third");
            }
            assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(2).toNanos(), "at once");
            assertEquals(REP_ACK, a.option(OPT_GO, NbdCodec.encodeGoData("")), "the first two still work");
        }
        // the slots are free again
        Thread.sleep(200);
        try (Raw c = new Raw(UnixDomainSocketAddress.of(socket))) {
            assertEquals(REP_ACK, c.option(OPT_GO, NbdCodec.encodeGoData("")));
        }
    }

    @Test
    void requestsOverTheBoundAreRefusedWithoutAllocating() throws Exception {
        BridgeServer.Limits limits = new BridgeServer.Limits(4, MIB, Duration.ofSeconds(30), Duration.ofSeconds(30),
                Duration.ZERO);
        serve(null, null, limits);
        String json = Exec.run(List.of(Exec.tool("nbdinfo"), "--json", "nbd+unix:///?socket=" + socket), null, Map.of(),
                Duration.ofSeconds(30)).orThrow().stdout();
        assertTrue(json.replace(" ", "").contains("\"block_size_maximum\":" + MIB), "the bound is announced: " + json);

        byte[] before = FileDigest.sha256(image);
        try (Raw c = new Raw(UnixDomainSocketAddress.of(socket))) {
            assertEquals(REP_ACK, c.option(OPT_GO, NbdCodec.encodeGoData("")));
            Thread session = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.getName().equals("bridge-nbd-unix-conn")).findFirst().orElseThrow();
            var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            long allocated = threads.getThreadAllocatedBytes(session.getId());
            assertEquals(EINVAL, c.request(CMD_READ, 0, 3 * MIB, null), "a read over the bound: EINVAL");
            assertEquals(EINVAL, c.request(CMD_READ, 0, 0xffffffff, null));
            long grew = threads.getThreadAllocatedBytes(session.getId()) - allocated;
            assertTrue(grew < MIB, "refusing 3 MiB and 4 GiB reads allocated " + grew + " bytes");
            assertEquals(0, c.request(CMD_READ, 0, MIB, null), "the bound itself is served");
            // a write over the bound: its payload cannot be skipped safely, so the server leaves
            c.send(NbdCodec.encodeRequest(new Request(0, CMD_WRITE, 78, 0, 2 * MIB)));
            try {
                c.send(ByteBuffer.wrap(new byte[64 * 1024]));
            } catch (IOException alreadyDropped) {
                // the server may leave before these bytes
            }
            c.assertClosed();
        }
        assertArrayEquals(before, FileDigest.sha256(image));
    }

    @Test
    void silentAndHalfSentClientsLoseTheirSlotAtTheDeadline() throws Exception {
        BridgeServer.Limits limits = new BridgeServer.Limits(1, MIB, Duration.ofMillis(600), Duration.ofMillis(600),
                Duration.ZERO);
        serve(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), null, limits);

        // a client that connects and says nothing holds the only slot until the handshake deadline
        try (SocketChannel silent = SocketChannel.open(server.tcpAddress())) {
            long t0 = System.nanoTime();
            DataInputStream in = new DataInputStream(Channels.newInputStream(silent));
            in.readFully(new byte[18]);
            assertThrows(IOException.class, () -> in.readFully(new byte[1]));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(ms >= 500 && ms < 3000, "closed at the deadline, after " + ms + " ms");
        }
        Thread.sleep(100);
        // one that stops in the middle of a request is closed too; a request in time is not
        try (Raw c = new Raw(server.tcpAddress())) {
            assertEquals(REP_ACK, c.option(OPT_GO, NbdCodec.encodeGoData("")));
            Thread.sleep(900); // idle between requests: allowed (idle is 0: keepalive's job on TCP)
            assertEquals(0, c.request(CMD_READ, 0, 4096, null));
            long t0 = System.nanoTime();
            c.send(ByteBuffer.wrap(NbdCodec.encodeRequest(new Request(0, CMD_WRITE, 9, 0, 4096)).array(), 0, 10));
            c.assertClosed();
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(ms >= 500 && ms < 3000, "closed at the request deadline, after " + ms + " ms");
        }
        Thread.sleep(100);
        try (Raw c = new Raw(server.tcpAddress())) {
            assertEquals(REP_ACK, c.option(OPT_GO, NbdCodec.encodeGoData("")), "the slot is free again");
        }
    }

    @Test
    void anIdleDeadlineClosesAQuietConnection() throws Exception {
        serve(null, null, BridgeServer.Limits.DEFAULTS.withIdle(Duration.ofMillis(500)));
        try (Raw c = new Raw(UnixDomainSocketAddress.of(socket))) {
            assertEquals(REP_ACK, c.option(OPT_GO, NbdCodec.encodeGoData("")));
            assertEquals(0, c.request(CMD_READ, 0, 4096, null));
            c.assertClosed();
        }
    }

    /** A client that speaks the protocol by hand. */
    private static final class Raw implements AutoCloseable {
        final SocketChannel ch;
        final DataInputStream in;

        Raw(SocketAddress at) throws IOException {
            ch = SocketChannel.open(at);
            in = new DataInputStream(Channels.newInputStream(ch));
            in.readFully(new byte[18]);
            send(NbdCodec.encodeClientFlags(CLIENT_FLAG_FIXED_NEWSTYLE | CLIENT_FLAG_NO_ZEROES));
        }

        void send(ByteBuffer b) throws IOException {
            while (b.hasRemaining()) {
                ch.write(b);
            }
        }

        /** Sends an option and returns its final reply type. */
        int option(int option, byte[] data) throws IOException {
            send(NbdCodec.encodeOption(option, data));
            while (true) {
                byte[] h = new byte[20];
                in.readFully(h);
                int type = ByteBuffer.wrap(h).getInt(12);
                in.readFully(new byte[ByteBuffer.wrap(h).getInt(16)]);
                if (type == REP_ACK || (type & REP_FLAG_ERROR) != 0) {
                    return type;
                }
            }
        }

        int request(int type, long offset, int length, byte[] payload) throws IOException {
            send(NbdCodec.encodeRequest(new Request(0, type, 77, offset, length)));
            if (payload != null) {
                send(ByteBuffer.wrap(payload));
            }
            assertEquals(SIMPLE_REPLY_MAGIC, in.readInt());
            int error = in.readInt();
            assertEquals(77, in.readLong());
            if (error == 0 && type == CMD_READ) {
                in.readFully(new byte[length]);
            }
            return error;
        }

        void assertClosed() {
            IOException e = assertThrows(IOException.class, () -> {
                while (true) {
                    in.readByte();
                }
            });
            assertTrue(e instanceof EOFException || String.valueOf(e.getMessage()).contains("reset"), "closed, not " + e);
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }
}
