package io.amirror.cli;

import io.amirror.util.Exec;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;

import static io.amirror.cli.NbdMapCommandTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code amirror delta} on real qcow2 and raw images, checked with qemu-img compare. */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class DeltaCommandTest {
    static final Duration T = Duration.ofMinutes(1);

    @TempDir
    Path dir;

    static String sh(String... cmd) {
        return Exec.run(T, cmd).orThrow().stdout();
    }


    static String sha(Path f) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f)));
    }

    @Test
    void createThenApplyMakesTheOldImageEqualTheNewOne() throws Exception {
        Path old = dir.resolve("old.qcow2");
        Path now = dir.resolve("new.qcow2");
        sh(Exec.tool("qemu-img"), "create", "-q", "-f", "qcow2", old.toString(), "32M");
        sh(Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 3 0 4M", "-c", "write -P 4 10M 2M", old.toString());
        Files.copy(old, now);
        sh(Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 9 8192 4096", "-c", "write -z 10M 1M",
                "-c", "write -P 5 20M 128k", now.toString());
        Path delta = dir.resolve("d.amd");
        var created = run("delta", "create", "--from", old.toString(), "--to", now.toString(), "--link-rate", "1mbit",
                delta.toString());
        assertEquals(0, created.status(), created.err());
        assertTrue(created.out().contains("33 data, 256 zero"), created.out());

        var inspected = run("delta", "inspect", "--frames", delta.toString());
        assertEquals(0, inspected.status());
        assertTrue(inspected.out().contains("ZERO       10485760      1048576") && inspected.out().contains("verification: OK"),
                inspected.out());

        // into a raw copy of OLD, to show the format does not matter
        Path raw = dir.resolve("old.raw");
        sh(Exec.tool("qemu-img"), "convert", "-O", "raw", old.toString(), raw.toString());
        assertEquals(0, run("delta", "apply", delta.toString(), raw.toString()).status());
        assertEquals(0, Exec.run(T, Exec.tool("qemu-img"), "compare", "-q", raw.toString(), now.toString()).exitCode());
        assertEquals(0, run("delta", "apply", delta.toString(), old.toString()).status());
        assertEquals(0, Exec.run(T, Exec.tool("qemu-img"), "compare", "-q", old.toString(), now.toString()).exitCode());
    }

    @Test
    void aCorruptDeltaIsRefusedAndTheImageStaysUntouched() throws Exception {
        Path old = dir.resolve("a.raw");
        Path now = dir.resolve("b.raw");
        sh(Exec.tool("qemu-img"), "create", "-q", "-f", "raw", old.toString(), "4M");
        Files.write(now, new byte[4 << 20]);
        byte[] b = Files.readAllBytes(now);
        for (int i = 0; i < 65536; i++) {
            b[(1 << 20) + i] = (byte) (i * 7);
        }
        Files.write(now, b);
        Path delta = dir.resolve("d.amd");
        assertEquals(0, run("delta", "create", "--from", old.toString(), "--to", now.toString(), delta.toString()).status());
        byte[] d = Files.readAllBytes(delta);
        d[d.length / 2] ^= 1;
        Files.write(delta, d);
        String before = sha(old);
        var verify = run("delta", "verify", delta.toString());
        assertEquals(1, verify.status());
        assertTrue(verify.err().contains("corrupt") || verify.err().contains("mismatch"), verify.err());
        var apply = run("delta", "apply", delta.toString(), old.toString());
        assertEquals(1, apply.status());
        assertTrue(apply.err().contains("not touched"), apply.err());
        assertEquals(before, sha(old));
    }

    @Test
    void aDeltaForAnotherSizeIsRefused() throws Exception {
        Path a = dir.resolve("a.raw");
        Path b = dir.resolve("b.raw");
        Path c = dir.resolve("c.raw");
        Files.write(a, new byte[1 << 20]);
        Files.write(b, new byte[1 << 20]);
        Files.write(c, new byte[2 << 20]);
        Path delta = dir.resolve("d.amd");
        assertEquals(0, run("delta", "create", "--from", a.toString(), "--to", b.toString(), delta.toString()).status());
        String before = sha(c);
        var r = run("delta", "apply", delta.toString(), c.toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("not applied"), r.err());
        assertEquals(before, sha(c));
    }
}
