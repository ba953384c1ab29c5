package io.amirror.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.nbd.NbdAddress;
import io.amirror.nbd.QemuNbd;
import io.amirror.util.Exec;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code amirror nbd map} as an admin runs it: against qemu-nbd, and against broken servers. */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class NbdMapCommandTest {

    @TempDir
    Path dir;

    record Run(int status, String out, String err) {
    }

    static Run run(String... args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int status = Main.execute(args);
            return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }


    @Test
    void printsTheSameMapAsNbdinfo() throws Exception {
        Path img = dir.resolve("m.qcow2");
        Duration t = Duration.ofSeconds(30);
        Exec.run(t, Exec.tool("qemu-img"), "create", "-q", "-f", "qcow2", img.toString(), "8M").orThrow();
        Exec.run(t, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write 1M 64k", "-c", "write -z 4M 1M",
                img.toString()).orThrow();
        try (QemuNbd s = QemuNbd.start(Path.of(Exec.tool("qemu-nbd")), img, NbdAddress.unix(dir.resolve("m.sock"), "disk"),
                QemuNbd.Options.readWrite("qcow2"), t)) {
            String uri = s.address().toString();
            Run r = run("nbd", "map", uri);
            assertEquals(0, r.status(), r.err());
            String theirs = Exec.run(t, Exec.tool("nbdinfo"), "--map", uri).orThrow().stdout();
            assertEquals(normalise(theirs), normalise(r.out()));

            Run json = run("nbd", "map", "--json", uri);
            JsonNode doc = new ObjectMapper().readTree(json.out());
            assertEquals(8 << 20, doc.get("size").asLong());
            assertEquals("data", doc.get("extents").get(1).get("description").asText());
            assertEquals(1 << 20, doc.get("extents").get(1).get("offset").asLong());
        }
    }

    private static String normalise(String table) {
        return table.strip().replaceAll("[ \\t]+", " ").replaceAll("(?m)^ ", "");
    }

    @Test
    void aServerThatIsNotNbdGivesOneLineAndStatusOne() throws Exception {
        Path sock = dir.resolve("bad.sock");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(sock));
            Thread t = new Thread(() -> {
                try (SocketChannel c = server.accept()) {
                    c.write(ByteBuffer.wrap("SSH-2.0-OpenSSH_9.2\r\n\r\n\r\n".getBytes(StandardCharsets.US_ASCII)));
                    Thread.sleep(2000);
                } catch (Exception ignored) {
                    // the client hung up
                }
            });
            t.setDaemon(true);
            t.start();
            Run r = run("nbd", "map", "--timeout", "2", "nbd+unix:///disk?socket=" + sock);
            assertEquals(1, r.status());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().contains("protocol violation") && r.err().contains("not an NBD server"), r.err());
        }
    }

    @Test
    void aSilentServerTimesOutWithStatusOne() throws Exception {
        Path sock = dir.resolve("mute.sock");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(sock));
            long t0 = System.nanoTime();
            Run r = run("nbd", "map", "--timeout", "1", "nbd+unix:///disk?socket=" + sock);
            assertEquals(1, r.status());
            assertTrue(r.err().contains("no progress"), r.err());
            assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(10).toNanos());
        }
    }

    @Test
    void aBadUriIsAUsageError() {
        Run r = run("nbd", "map", "nbd+unix:///disk");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("?socket=PATH"), r.err());
    }
}
