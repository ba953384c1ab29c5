package io.amirror.standby;

import io.amirror.image.DiskImage;
import io.amirror.util.Exec;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code seed adopt} of real images: a copy that holds its whole disk itself is adopted; one whose
 * header reaches for a host file (a backing file, an external data file) or that is too large, of
 * another format, encrypted or not an image file is refused before anything of the replica is made.
 */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class SeedAdoptTest {
    static final UUID DOM = UUID.fromString("5eed0000-0000-4000-8000-0000000000ad");
    static final Duration T = Duration.ofMinutes(1);
    static DiskImage.Tools tools;

    @BeforeAll
    static void tools() {
        tools = new DiskImage.Tools(Path.of(Exec.tool("qemu-img")), Path.of(Exec.tool("qemu-nbd")));
    }

    static void qemuImg(String... args) {
        String[] cmd = new String[args.length + 1];
        cmd[0] = Exec.tool("qemu-img");
        System.arraycopy(args, 0, cmd, 1, args.length);
        for (int attempt = 1; ; attempt++) {
            Exec.Result r = Exec.run(T, cmd);
            // LUKS sizes its key derivation by timing it on the thread's CPU clock, which on a VM with tick-based
            // accounting can read the same before and after ("Unable to get accurate CPU usage"): try again
            if (r.exitCode() != 0 && r.stderr().contains("accurate CPU usage") && attempt < 10) {
                continue;
            }
            r.orThrow();
            return;
        }
    }

    static boolean same(Path a, String fa, Path b, String fb) {
        return Exec.run(T, Exec.tool("qemu-img"), "compare", "-q", "-f", fa, "-F", fb, a.toString(), b.toString())
                .exitCode() == 0;
    }

    static Path raw(Path dir, String name, int mib) throws IOException {
        byte[] b = new byte[mib << 20];
        new Random(mib).nextBytes(b);
        java.util.Arrays.fill(b, 1 << 20, Math.min(b.length, 2 << 20), (byte) 0); // a run of zeros too
        Path p = dir.resolve(name);
        Files.write(p, b);
        return p;
    }

    @Test
    void aRawOrQcow2CopyIsAdoptedAndHashed(@TempDir Path dir) throws Exception {
        Path raw = raw(dir, "disk.raw", 4);
        Path replicas = dir.resolve("replicas");
        ReplicaDisk r = new ReplicaDomain(replicas, DOM, tools).disk("vda");
        SeedSource s = SeedSource.probe(raw, null, 16L << 40, tools);
        assertEquals("raw", s.format());
        assertEquals(4L << 20, s.virtualSize());
        r.adopt(s);
        assertTrue(same(raw, "raw", r.image(), "qcow2"), "the replica holds the copy");
        assertTrue(Files.exists(r.seedMap()));
        assertEquals(4L << 20, r.state().virtualSize());
        assertEquals("qcow2", DiskImage.format(r.image(), tools));

        // a qcow2 copy, through a symbolic link (as an LVM volume's name is one)
        Path q = dir.resolve("disk.qcow2");
        qemuImg("convert", "-q", "-f", "raw", "-O", "qcow2", raw.toString(), q.toString());
        Path link = dir.resolve("link.qcow2");
        Files.createSymbolicLink(link, q);
        ReplicaDisk r2 = new ReplicaDomain(replicas, DOM, tools).disk("vdb");
        r2.adopt(link);
        assertTrue(same(raw, "raw", r2.image(), "qcow2"));
        assertEquals(q.toRealPath(), SeedSource.probe(link, "qcow2", 16L << 40, tools).path());
    }

    @Test
    void aCopyThatReachesForAHostFileIsRefusedAndNothingIsMade(@TempDir Path dir) throws Exception {
        Path data = dir.resolve("data.raw");
        qemuImg("create", "-q", "-f", "raw", data.toString(), "1M");
        Map<String, Path> hostile = new LinkedHashMap<>();
        Path shadow = dir.resolve("shadow.qcow2");
        qemuImg("create", "-q", "-f", "qcow2", "-b", "/etc/shadow", "-F", "raw", shadow.toString());
        hostile.put("a backing file /etc/shadow", shadow);
        Path sda = dir.resolve("sda.qcow2");
        qemuImg("create", "-q", "-f", "qcow2", "-u", "-b", "/dev/sda", "-F", "raw", sda.toString(), "1G");
        hostile.put("a backing file /dev/sda", sda);
        Path json = dir.resolve("json.qcow2");
        qemuImg("create", "-q", "-f", "qcow2", "-u", "-b", "json:{\"driver\":\"raw\",\"file\":{\"driver\":\"file\","
                + "\"filename\":\"/etc/shadow\"}}", "-F", "raw", json.toString(), "1M");
        hostile.put("a json: backing file", json);
        Path chain = dir.resolve("chain.qcow2");
        qemuImg("create", "-q", "-f", "qcow2", "-b", shadow.toString(), "-F", "qcow2", chain.toString());
        hostile.put("a chain ending in /etc/shadow", chain);
        Path external = dir.resolve("external.qcow2");
        qemuImg("create", "-q", "-f", "qcow2", "-o", "data_file=" + data, external.toString(), "1M");
        hostile.put("an external data file", external);
        Path vmdk = dir.resolve("x.vmdk");
        qemuImg("create", "-q", "-f", "vmdk", vmdk.toString(), "1M");
        hostile.put("a vmdk", vmdk);
        Path luks = dir.resolve("luks.qcow2");
        qemuImg("create", "-q", "--object", "secret,id=s0,data=pass", "-f", "qcow2", "-o",
                "encrypt.format=luks,encrypt.key-secret=s0", luks.toString(), "1M");
        hostile.put("an encrypted qcow2", luks);
        Path fifo = dir.resolve("fifo");
        Exec.run(T, "mkfifo", fifo.toString()).orThrow();
        hostile.put("a fifo", fifo);
        hostile.put("a directory", dir);
        hostile.put("nothing", dir.resolve("missing.qcow2"));

        Path replicas = dir.resolve("replicas");
        for (var e : hostile.entrySet()) {
            ReplicaDisk r = new ReplicaDomain(replicas, DOM, tools).disk("vda");
            IOException x = assertThrows(IOException.class, () -> r.adopt(e.getValue()), e.getKey());
            assertFalse(x.getMessage().contains("root:"), "nothing of the host file in the error: " + x.getMessage());
            assertFalse(Files.exists(replicas), e.getKey() + ": nothing is made under the replicas (" + x.getMessage() + ")");
        }
        IOException x = assertThrows(IOException.class, () -> SeedSource.probe(shadow, null, 16L << 40, tools));
        assertTrue(x.getMessage().contains("backing file ('/etc/shadow')"), x.getMessage());
        x = assertThrows(IOException.class, () -> SeedSource.probe(external, null, 16L << 40, tools));
        assertTrue(x.getMessage().contains("external file"), x.getMessage());
        x = assertThrows(IOException.class, () -> SeedSource.probe(vmdk, null, 16L << 40, tools));
        assertTrue(x.getMessage().contains("vmdk"), x.getMessage());
        x = assertThrows(IOException.class, () -> SeedSource.probe(data, "vmdk", 16L << 40, tools));
        assertTrue(x.getMessage().contains("raw or qcow2"), x.getMessage());
        x = assertThrows(IOException.class, () -> SeedSource.probe(data, "qcow2", 16L << 40, tools),
                "a raw file named qcow2");
        assertTrue(x.getMessage().contains("as qcow2"), x.getMessage());
    }

    @Test
    void aRawDiskWhoseGuestWroteAQcow2HeaderIsTakenAsRawOnlyWhenSaid(@TempDir Path dir) throws Exception {
        // the guest of a raw disk wrote, at its start, a qcow2 header naming /etc/shadow as backing file
        Path header = dir.resolve("header.qcow2");
        qemuImg("create", "-q", "-f", "qcow2", "-b", "/etc/shadow", "-F", "raw", header.toString());
        byte[] disk = new byte[2 << 20];
        byte[] h = Files.readAllBytes(header);
        System.arraycopy(h, 0, disk, 0, Math.min(h.length, disk.length));
        Path raw = dir.resolve("guest.raw");
        Files.write(raw, disk);
        Path replicas = dir.resolve("replicas");
        ReplicaDisk r = new ReplicaDomain(replicas, DOM, tools).disk("vda");
        IOException x = assertThrows(IOException.class, () -> r.adopt(raw), "probed, it looks like a qcow2 with backing");
        assertTrue(x.getMessage().contains("--format raw"), x.getMessage());
        assertFalse(Files.exists(replicas));
        r.adopt(SeedSource.probe(raw, "raw", 16L << 40, tools));
        assertTrue(same(raw, "raw", r.image(), "qcow2"), "the guest's bytes, not /etc/shadow");
        try (DiskImage img = DiskImage.open(r.image(), false, tools)) {
            byte[] first = new byte[h.length];
            img.read(0, first, first.length);
            assertArrayEquals(h, first);
        }
    }

    @Test
    void aCopyLargerThanTheStandbyTakesIsRefused(@TempDir Path dir) throws Exception {
        Path big = dir.resolve("big.qcow2");
        qemuImg("create", "-q", "-f", "qcow2", big.toString(), "3G");
        IOException x = assertThrows(IOException.class, () -> SeedSource.probe(big, null, 2L << 30, tools));
        assertTrue(x.getMessage().contains("limits.maxDiskBytes"), x.getMessage());
        assertEquals(3L << 30, SeedSource.probe(big, null, 3L << 30, tools).virtualSize(), "the limit itself is fine");
    }

    @Test
    void aReplicaThatHoldsSomethingTakesNoSeed(@TempDir Path dir) throws Exception {
        Path raw = raw(dir, "disk.raw", 2);
        ReplicaDisk r = new ReplicaDomain(dir.resolve("replicas"), DOM, tools).disk("vda");
        r.adopt(raw);
        byte[] before = Files.readAllBytes(r.image());
        assertThrows(IOException.class, () -> r.adopt(raw));
        assertArrayEquals(before, Files.readAllBytes(r.image()));
    }

    @Test
    void aBlockDeviceIsReadAsOne(@TempDir Path dir) throws Exception {
        assumeTrue(Exec.which("losetup", Exec.SYSTEM_PATH) != null && "root".equals(System.getProperty("user.name")),
                "needs losetup and root");
        Path raw = raw(dir, "backing.raw", 2);
        Exec.Result attached = Exec.run(T, Exec.tool("losetup"), "-f", "--show", raw.toString());
        assumeTrue(attached.ok(), "no free loop device: " + attached.stderr());
        String dev = attached.stdout().strip();
        try {
            SeedSource s = SeedSource.probe(Path.of(dev), "raw", 16L << 40, tools);
            assertTrue(s.blockDevice());
            assertTrue(s.descriptor().contains("\"host_device\""), s.descriptor());
            ReplicaDisk r = new ReplicaDomain(dir.resolve("replicas"), DOM, tools).disk("vda");
            r.adopt(s);
            assertTrue(same(raw, "raw", r.image(), "qcow2"));
        } finally {
            Exec.run(T, Exec.tool("losetup"), "-d", dev);
        }
    }
}
