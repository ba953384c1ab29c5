package io.amirror.cli;

import io.amirror.delta.DeltaFormat;
import io.amirror.delta.DeltaHeader;
import io.amirror.delta.DeltaWriter;
import io.amirror.delta.XzBlockCodec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static io.amirror.cli.NbdMapCommandTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code amirror delta verify} and {@code inspect} on a valid 292-byte delta that zeroes a disk of
 * 2^62 bytes: done at once (versions 2 and 3 hash a ZERO frame once, not per 4 KiB block). The timeout
 * only guards against a hang.
 */
class DeltaVerifyBombTest {
    @TempDir
    Path dir;

    @Test
    @Timeout(5)
    void verifyAndInspectOfAHugeZeroDeltaAnswerAtOnce() throws Exception {
        Path f = dir.resolve("bomb.amd");
        DeltaHeader h = new DeltaHeader(UUID.randomUUID(), "vda", 1L << 62, 0, 1, DeltaFormat.BLOCK_SIZE,
                DeltaFormat.CODEC_NONE, DeltaFormat.DEFAULT_BLOCK_RAW);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (OutputStream out = Files.newOutputStream(f);
             DeltaWriter w = new DeltaWriter(out, h, new XzBlockCodec.Preset(0, false), pool, 1,
                     DeltaWriter.ResultListener.NONE)) {
            w.zero(0, 1L << 62);
            w.finish();
        } finally {
            pool.shutdownNow();
        }
        assertEquals(292, Files.size(f));
        var verified = run("delta", "verify", f.toString());
        assertEquals(0, verified.status(), verified.err());
        assertTrue(verified.out().contains(": OK ("), verified.out());
        var inspected = run("delta", "inspect", "--frames", f.toString());
        assertEquals(0, inspected.status(), inspected.err());
        assertTrue(inspected.out().contains("format version 3") && inspected.out().contains("verification: OK")
                && inspected.out().matches("(?s).*ZERO +0 4611686018427387904\n.*"), inspected.out());
    }
}
