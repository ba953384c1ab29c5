package io.amirror.bridge;

import io.amirror.nbd.NbdAddress;
import io.amirror.nbd.NbdClient;
import io.amirror.nbd.NbdCodec;
import io.amirror.nbd.NbdConstants;
import io.amirror.nbd.NbdMessages.Extent;
import io.amirror.nbd.NbdMessages.Request;
import io.amirror.util.Exec;
import io.amirror.util.FileDigest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static io.amirror.nbd.NbdConstants.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The bridge's NBD server against real clients (qemu-io, qemu-img, nbdinfo and amirror's own
 * client) and against hostile hand-made byte streams, on real unix and TCP sockets.
 */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class BridgeServerTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;
    Path image;
    Path socket;
    Path state;
    BridgeVolume volume;
    BridgeServer server;


    @BeforeEach
    void serve() throws IOException {
        image = dir.resolve("guest.raw");
        byte[] initial = new byte[8 * MIB];
        new Random(7).nextBytes(initial);
        Arrays.fill(initial, 4 * MIB, 8 * MIB, (byte) 0);
        Files.write(image, initial);
        socket = dir.resolve("nbd.sock");
        state = dir.resolve("state");
        volume = BridgeVolume.open(image, state, null, "guest", "vda", List.of());
        server = BridgeServer.start(volume, state, socket,
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    }

    @AfterEach
    void stop() throws IOException {
        server.close();
        volume.close();
    }

    private String uri(String export) {
        return "nbd+unix:///" + export + "?socket=" + socket;
    }

    private Exec.Result qemuIo(String export, String... commands) {
        List<String> cmd = new ArrayList<>(List.of(Exec.tool("qemu-io"), "-f", "raw"));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(uri(export));
        return Exec.run(cmd, null, Map.of(), Duration.ofSeconds(60)).orThrow();
    }

    @Test
    void qemuWritesThroughTheBridgeAndPointsReadAsTheyWereCut() throws Exception {
        BridgeClient control = new BridgeClient(state);
        assertEquals(1, control.cut(0));
        control.release(1);
        qemuIo("", "write -P 0x11 64k 128k", "write -z 1M 64k", "discard 2M 64k", "flush");
        byte[] atTwo = Files.readAllBytes(image);
        assertEquals(2, control.cut(0));
        qemuIo("", "write -P 0x22 64k 4k", "write -P 0x33 6M 4k");

        // point 2 reads as the image was at its cut, while the disk itself moved on
        Path copy = dir.resolve("point-2.raw");
        Exec.run(List.of(Exec.tool("qemu-img"), "convert", "-f", "raw", "-O", "raw", uri("point-2"), copy.toString()), null,
                Map.of(), Duration.ofSeconds(60)).orThrow();
        assertArrayEquals(atTwo, Files.readAllBytes(copy));
        byte[] now = Files.readAllBytes(image);
        assertEquals(0x22, now[64 * 1024]);
        assertEquals(0x33, now[6 * MIB]);
        for (int i = 2 * MIB; i < 2 * MIB + 65536; i++) {
            assertEquals(0, atTwo[i], "the discarded range reads as zero");
        }

        // the dirty map of point 1, as the point-2 export's context: exactly the ranges written between
        String bitmap = NbdConstants.CONTEXT_DIRTY_BITMAP_PREFIX + BridgeVolume.pointName(1);
        try (NbdClient c = NbdClient.connect(NbdAddress.unix(socket, "point-2"),
                List.of(CONTEXT_BASE_ALLOCATION, bitmap), Duration.ofSeconds(10))) {
            assertTrue(c.export().readOnly());
            List<Extent> dirty = c.extents(bitmap).stream().filter(e -> e.flags() == STATE_DIRTY).toList();
            assertEquals(List.of(new Extent(64 * 1024, 128 * 1024, 1), new Extent(MIB, 64 * 1024, 1),
                    new Extent(2 * MIB, 64 * 1024, 1)), dirty);
            assertArrayEquals(Arrays.copyOfRange(atTwo, 64 * 1024, 64 * 1024 + 4096), c.read(64 * 1024, 4096));
        }
        // a real third-party client agrees
        String map = Exec.run(List.of(Exec.tool("nbdinfo"), "--map=" + bitmap, uri("point-2")), null, Map.of(),
                Duration.ofSeconds(30)).orThrow().stdout();
        assertTrue(map.lines().anyMatch(l -> l.trim().matches("65536\\s+131072\\s+1.*")), map);

        // the TCP listener serves the same disk
        int port = server.tcpAddress().getPort();
        Exec.run(List.of(Exec.tool("qemu-io"), "-f", "raw", "-c", "read -P 0x33 6M 4k",
                "nbd://127.0.0.1:" + port + "/"), null, Map.of(), Duration.ofSeconds(30)).orThrow();

        control.release(2);
        assertThrows(IOException.class, () -> NbdClient.connect(NbdAddress.unix(socket, "point-2"), List.of(),
                Duration.ofSeconds(5)), "a released point is no longer exported");
        control.delete(1);
        assertEquals(List.of(2), control.state().points());
    }

    // ------------------------------------------------------------------ hostile clients

    /** A client that speaks the protocol by hand, to say what a well-behaved one never would. */
    private final class RawClient implements AutoCloseable {
        final SocketChannel ch;
        final DataInputStream in;

        RawClient() throws IOException {
            ch = SocketChannel.open(UnixDomainSocketAddress.of(socket));
            in = new DataInputStream(Channels.newInputStream(ch));
            in.readFully(new byte[18]);
            send(NbdCodec.encodeClientFlags(CLIENT_FLAG_FIXED_NEWSTYLE | CLIENT_FLAG_NO_ZEROES));
        }

        void send(ByteBuffer b) throws IOException {
            while (b.hasRemaining()) {
                ch.write(b);
            }
        }

        /** Sends an option and returns the reply types up to and including the final one. */
        List<Integer> option(int option, byte[] data) throws IOException {
            send(NbdCodec.encodeOption(option, data));
            List<Integer> types = new ArrayList<>();
            while (true) {
                byte[] h = new byte[20];
                in.readFully(h);
                int type = ByteBuffer.wrap(h).getInt(12);
                in.readFully(new byte[ByteBuffer.wrap(h).getInt(16)]);
                types.add(type);
                if (type == REP_ACK || (type & REP_FLAG_ERROR) != 0) {
                    return types;
                }
            }
        }

        RawClient go(String export) throws IOException {
            List<Integer> r = option(OPT_GO, NbdCodec.encodeGoData(export));
            assertEquals(REP_ACK, r.get(r.size() - 1), "GO " + export);
            return this;
        }

        /** Sends a request (and payload) and returns the simple reply's error. */
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

        /**
         * The server closed the connection: the end of the stream, or a reset when it closed with
         * bytes of ours still unread (the kernel then resets rather than ends the connection).
         */
        void assertClosed() {
            IOException e = assertThrows(IOException.class, () -> {
                while (true) {
                    in.readByte();
                }
            });
            assertTrue(e instanceof EOFException || String.valueOf(e.getMessage()).contains("reset"),
                    "closed, not " + e);
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }

    @Test
    void hostileClientsGetErrorsOrAreDroppedAndTheImageIsUntouched() throws Exception {
        BridgeClient control = new BridgeClient(state);
        control.cut(0);
        byte[] before = FileDigest.sha256(image);

        try (RawClient c = new RawClient()) {
            assertEquals(REP_ERR_UNKNOWN, c.option(OPT_GO, NbdCodec.encodeGoData("no-such-disk")).get(0));
            assertEquals(REP_ERR_UNKNOWN, c.option(OPT_GO, NbdCodec.encodeGoData("point-99")).get(0));
            assertEquals(REP_ERR_INVALID, c.option(OPT_GO, new byte[] {0, 0, 0, 50, 1}).get(0), "a name longer than its option");
            assertEquals(REP_ERR_UNSUP, c.option(42, new byte[0]).get(0));
            c.go("");
            long size = volume.size();
            assertEquals(22, c.request(CMD_READ, size - 4096, 8192, null), "read past the end: EINVAL");
            assertEquals(22, c.request(CMD_READ, -4096, 4096, null), "offset beyond 2^63: EINVAL");
            assertEquals(28, c.request(CMD_WRITE, size, 4096, new byte[4096]), "write past the end: ENOSPC");
            assertEquals(28, c.request(CMD_WRITE_ZEROES, size - 4096, 1 << 20, null));
            assertEquals(22, c.request(42, 0, 4096, null), "unknown command: EINVAL");
            assertEquals(22, c.request(CMD_BLOCK_STATUS, 0, 4096, null), "block status without contexts: EINVAL");
            assertEquals(0, c.request(CMD_READ, 0, 4096, null), "the connection still works");
            // a write announcing 1 GiB: the server cannot know where the next request starts, so it leaves
            c.send(NbdCodec.encodeRequest(new Request(0, CMD_WRITE, 78, 0, 1 << 30)));
            try {
                c.send(ByteBuffer.wrap(new byte[4096]));
            } catch (IOException alreadyDropped) {
                // the server may leave before these bytes: that is the point
            }
            c.assertClosed();
        }
        try (RawClient c = new RawClient()) {
            c.go("point-1");
            assertEquals(1, c.request(CMD_WRITE, 0, 4096, new byte[4096]), "write to a point: EPERM");
            assertEquals(1, c.request(CMD_TRIM, 0, 4096, null));
        }
        try (RawClient c = new RawClient()) {
            c.go("");
            c.send(ByteBuffer.allocate(28).putInt(0xdeadbeef).put(new byte[24]).flip());
            c.assertClosed();
        }
        try (RawClient c = new RawClient()) {
            c.send(ByteBuffer.allocate(16).putLong(0x1122334455667788L).putInt(OPT_GO).putInt(0).flip());
            c.assertClosed();
        }
        try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            DataInputStream in = new DataInputStream(Channels.newInputStream(ch));
            in.readFully(new byte[18]);
            ch.write(ByteBuffer.allocate(4).putInt(0x80).flip()); // client flags it does not know
            assertThrows(EOFException.class, () -> in.readFully(new byte[1]));
        }
        try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(state.resolve(BridgeServer.CONTROL_SOCKET)))) {
            ch.write(ByteBuffer.wrap("DELETE ../../etc\n".getBytes(StandardCharsets.UTF_8)));
            ByteBuffer b = ByteBuffer.allocate(200);
            while (ch.read(b) >= 0) {
                // until the bridge closes
            }
            assertTrue(new String(b.array(), 0, b.position(), StandardCharsets.UTF_8).startsWith("ERR "));
        }
        assertArrayEquals(before, FileDigest.sha256(image), "no hostile request changed the image");
        assertTrue(volume.changedAfter(1).isEmpty(), "nor marked anything dirty");
        assertEquals(List.of(1), control.state().points());
        qemuIo("", "read 0 64k"); // and the server still serves
    }

    @Test
    void theControlProtocolIsStrict() {
        assertEquals(new BridgeControl.Cut(0), BridgeControl.decode("CUT"));
        assertEquals(new BridgeControl.Cut(7), BridgeControl.decode("CUT 7"));
        assertEquals(new BridgeControl.Delete(3), BridgeControl.decode(BridgeControl.encode(new BridgeControl.Delete(3))));
        for (String bad : List.of("", "CUT 0", "CUT -1", "DELETE", "DELETE 1 2", "RELEASE x", "STATE now", "cut",
                "DELETE 99999999999")) {
            assertThrows(IllegalArgumentException.class, () -> BridgeControl.decode(bad), bad);
        }
        assertThrows(IllegalArgumentException.class, () -> BridgeControl.Answer.decode("MAYBE"));
    }
}
