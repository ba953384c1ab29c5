package io.amirror.nbd;

import io.amirror.nbd.NbdMessages.Extent;
import io.amirror.util.Exec;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static io.amirror.nbd.NbdConstants.CONTEXT_BASE_ALLOCATION;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The client against the real qemu-nbd, cross-checked with nbdinfo (libnbd). */
@Tag("real")
class QemuNbdClientTest {

    private static final Duration T = Duration.ofSeconds(30);
    private static final long MIB = 1 << 20;

    @TempDir
    Path dir;


    private static void sh(String... cmd) {
        Exec.run(T, cmd).orThrow();
    }

    /** A 64 MiB qcow2 written with qemu-io, and the same content as a Java array. */
    private byte[] makeImage(Path img) {
        sh(Exec.tool("qemu-img"), "create", "-q", "-f", "qcow2", "-o", "compat=1.1", img.toString(), "64M");
        byte[] expect = new byte[(int) (64 * MIB)];
        qemuIoWrite(img, expect, 0x11, 0, (int) MIB);
        qemuIoWrite(img, expect, 0x22, 5 * MIB + 512, 3000);
        qemuIoWrite(img, expect, 0x33, 31 * MIB, (int) (3 * MIB)); // across the 32 MiB request limit
        sh(Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -z " + 10 * MIB + " " + MIB, img.toString());
        return expect;
    }

    private static void qemuIoWrite(Path img, byte[] expect, int pattern, long offset, int length) {
        sh(Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P " + pattern + " " + offset + " " + length,
                img.toString());
        Arrays.fill(expect, (int) offset, (int) offset + length, (byte) pattern);
    }

    @Test
    void readsPipelinedAndMapsExactlyLikeNbdinfo() throws Exception {
        Path img = dir.resolve("a.qcow2");
        byte[] expect = makeImage(img);
        NbdAddress at = NbdAddress.unix(dir.resolve("a.sock"), "disk");
        try (QemuNbd server = QemuNbd.start(Path.of(Exec.tool("qemu-nbd")), img, at, QemuNbd.Options.readWrite("qcow2"), T);
             NbdClient c = NbdClient.connect(server.address(), List.of(CONTEXT_BASE_ALLOCATION), T)) {
            assertEquals(64 * MIB, c.export().size());
            assertTrue(c.export().maxBlock() <= 32 * MIB);
            assertArrayEquals(expect, c.read(0, expect.length));
            assertArrayEquals(Arrays.copyOfRange(expect, 5 * (int) MIB + 100, 5 * (int) MIB + 5000),
                    c.read(5 * MIB + 100, 4900));

            List<Extent> ours = c.extents(CONTEXT_BASE_ALLOCATION);
            assertEquals(nbdinfoMap(server.address().toString()), ours);
            assertEquals(64 * MIB, ours.stream().mapToLong(Extent::length).sum());
        }
    }

    @Test
    void worksOverTcp() throws Exception {
        Path img = dir.resolve("t.qcow2");
        byte[] expect = makeImage(img);
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        NbdAddress at = NbdAddress.tcp("127.0.0.1", port, "disk");
        try (QemuNbd server = QemuNbd.start(Path.of(Exec.tool("qemu-nbd")), img, at, QemuNbd.Options.readWrite("qcow2"), T);
             NbdClient c = NbdClient.connect(NbdAddress.parse("nbd://127.0.0.1:" + port + "/disk"),
                     List.of(CONTEXT_BASE_ALLOCATION), T)) {
            assertArrayEquals(Arrays.copyOf(expect, (int) (8 * MIB)), c.read(0, (int) (8 * MIB)));
            assertEquals(nbdinfoMap("nbd://127.0.0.1:" + port + "/disk"), c.extents(CONTEXT_BASE_ALLOCATION));
        }
    }

    @Test
    void writesZeroesTrimsAndFlushes() throws Exception {
        Path img = dir.resolve("w.qcow2");
        byte[] expect = makeImage(img);
        NbdAddress at = NbdAddress.unix(dir.resolve("w.sock"), "disk");
        byte[] data = new byte[(int) (MIB + 1234)];
        new Random(5).nextBytes(data);
        try (QemuNbd server = QemuNbd.start(Path.of(Exec.tool("qemu-nbd")), img, at, QemuNbd.Options.readWrite("qcow2"), T)) {
            try (NbdClient c = NbdClient.connect(server.address(), List.of(), T)) {
                c.write(40 * MIB + 7, data);
                System.arraycopy(data, 0, expect, (int) (40 * MIB + 7), data.length);
                c.writeZeroes(0, 512 * 1024, true);
                Arrays.fill(expect, 0, 512 * 1024, (byte) 0);
                c.trim(31 * MIB, 2 * MIB);          // trimmed ranges of qcow2 read back as zeroes
                Arrays.fill(expect, (int) (31 * MIB), (int) (33 * MIB), (byte) 0);
                c.flush();
            }
            try (NbdClient c = NbdClient.connect(server.address(), List.of(CONTEXT_BASE_ALLOCATION), T)) {
                assertArrayEquals(expect, c.read(0, expect.length));
                List<Extent> map = c.extents(CONTEXT_BASE_ALLOCATION);
                assertTrue(zeroAt(map, 31 * MIB + 4096), "trimmed range reads as zero: " + map);
                assertTrue(zeroAt(map, 100), "zeroed range reads as zero: " + map);
            }
        }
        // and it reached the image file itself
        Exec.Result cmp = Exec.run(T, Exec.tool("qemu-io"), "-r", "-f", "qcow2", "-c",
                "read -P 0 " + 31 * MIB + " " + 2 * MIB, img.toString());
        assertTrue(cmp.stdout().contains("read 2097152/2097152"), cmp.stdout() + cmp.stderr());
    }

    @Test
    void exposesAPersistentDirtyBitmapOfAShutOffImage() throws Exception {
        Path img = dir.resolve("b.qcow2");
        sh(Exec.tool("qemu-img"), "create", "-q", "-f", "qcow2", "-o", "compat=1.1", img.toString(), "16M");
        sh(Exec.tool("qemu-img"), "bitmap", "--add", img.toString(), "b0");
        sh(Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 1 100000 4096", "-c", "write -P 2 3145729 10",
                img.toString());
        NbdAddress at = NbdAddress.unix(dir.resolve("b.sock"), "disk");
        String ctx = "qemu:dirty-bitmap:b0";
        try (QemuNbd server = QemuNbd.start(Path.of(Exec.tool("qemu-nbd")), img, at, QemuNbd.Options.readOnlyWithBitmap("qcow2", "b0"), T);
             NbdClient c = NbdClient.connect(server.address(), List.of(ctx), T)) {
            List<Extent> dirty = c.extents(ctx).stream().filter(e -> e.flags() == NbdConstants.STATE_DIRTY).toList();
            // 64 KiB granularity: [98304, 102400) lies in cluster 1; 3145729 lies in cluster 48
            assertEquals(List.of(new Extent(65536, 65536, 1), new Extent(3145728, 65536, 1)), dirty);
            assertTrue(c.export().readOnly());
        }
    }

    /** Parses {@code nbdinfo --map} output: offset, length, type, description. */
    private static List<Extent> nbdinfoMap(String uri) {
        String out = Exec.run(T, Exec.tool("nbdinfo"), "--map", uri).orThrow().stdout();
        List<Extent> extents = new ArrayList<>();
        for (String line : out.strip().split("\n")) {
            String[] f = line.trim().split("\\s+");
            extents.add(new Extent(Long.parseLong(f[0]), Long.parseLong(f[1]), Integer.parseInt(f[2])));
        }
        return extents;
    }

    private static boolean zeroAt(List<Extent> map, long offset) {
        return map.stream().anyMatch(e -> e.offset() <= offset && offset < e.end()
                && (e.flags() & NbdConstants.STATE_ZERO) != 0);
    }
}
