package io.amirror.cli;

import io.amirror.util.Exec;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;

import static io.amirror.cli.NbdMapCommandTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code amirror seed adopt} as the admin runs it, on real images. */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class SeedCommandTest {
    static final Duration T = Duration.ofMinutes(1);
    static final String UUID = "5eed0000-0000-4000-8000-0000000000c1";

    @Test
    void adoptRefusesABackingFileAndTakesARawDisk(@TempDir Path dir) throws Exception {
        Path state = dir.resolve("state");
        Path config = dir.resolve("standby.json"); // missing: the defaults, whatever this host's /etc holds
        Path shadow = dir.resolve("x.qcow2");
        Exec.run(T, Exec.tool("qemu-img"), "create", "-q", "-f", "qcow2", "-b", "/etc/shadow", "-F", "raw",
                shadow.toString()).orThrow();
        var refused = run("seed", "adopt", "--state", state.toString(), "--config", config.toString(), UUID,
                "--disk", "vda", "--image", shadow.toString());
        assertEquals(ExitCodes.FAILED, refused.status());
        assertTrue(refused.err().contains("has a backing file ('/etc/shadow')"), refused.err());
        assertFalse(Files.exists(state), "nothing made, not even the replica's directory or lock");

        byte[] b = new byte[2 << 20];
        new Random(3).nextBytes(b);
        Path raw = dir.resolve("disk.raw");
        Files.write(raw, b);
        var badFormat = run("seed", "adopt", "--state", state.toString(), "--config", config.toString(), UUID,
                "--disk", "vda", "--image", raw.toString(), "--format", "vmdk");
        assertEquals(ExitCodes.FAILED, badFormat.status());
        assertTrue(badFormat.err().contains("raw or qcow2"), badFormat.err());
        // a standby whose configuration takes disks of 1 MiB at most
        Path small = dir.resolve("small.json");
        Files.writeString(small, "{\"limits\": {\"maxDiskBytes\": 1048576}}");
        var tooLarge = run("seed", "adopt", "--state", state.toString(), "--config", small.toString(), UUID,
                "--disk", "vda", "--image", raw.toString());
        assertEquals(ExitCodes.FAILED, tooLarge.status());
        assertTrue(tooLarge.err().contains("limits.maxDiskBytes"), tooLarge.err());
        assertFalse(Files.exists(state));

        var adopted = run("seed", "adopt", "--state", state.toString(), "--config", config.toString(), UUID,
                "--disk", "vda", "--image", raw.toString(), "--format", "raw");
        assertEquals(0, adopted.status(), adopted.err());
        assertTrue(adopted.out().contains("(raw, 2097152 bytes)"), adopted.out());
        Path image = state.resolve("replicas").resolve(UUID).resolve("vda").resolve("replica.qcow2");
        assertEquals(0, Exec.run(T, Exec.tool("qemu-img"), "compare", "-q", "-f", "raw", "-F", "qcow2", raw.toString(),
                image.toString()).exitCode());
    }
}
