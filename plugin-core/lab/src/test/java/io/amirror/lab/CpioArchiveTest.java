package io.amirror.lab;

import io.amirror.util.Exec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The archive is checked by the real {@code cpio} tool, which unpacks it like the kernel would. */
class CpioArchiveTest {

    @Test
    void realCpioUnpacksWhatWeWrite(@TempDir Path dir) throws IOException {
        byte[] odd = new byte[4099]; // not a multiple of 4: exercises the padding
        for (int i = 0; i < odd.length; i++) {
            odd[i] = (byte) (i * 31);
        }
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        CpioArchive cpio = new CpioArchive(buf);
        cpio.directory("bin", 0755);
        cpio.file("bin/tool", 0755, odd);
        cpio.file("a", 0644, "x".getBytes(StandardCharsets.UTF_8));
        cpio.symlink("bin/link", "tool");
        cpio.finish();
        assertEquals(0, buf.size() % 4, "entries are padded to four bytes");

        Path archive = dir.resolve("a.cpio");
        Files.write(archive, buf.toByteArray());
        Path out = Files.createDirectory(dir.resolve("out"));
        Exec.run(List.of("sh", "-c", "cpio -id --quiet < ../a.cpio"), out, Map.of(), Duration.ofSeconds(30)).orThrow();

        assertArrayEquals(odd, Files.readAllBytes(out.resolve("bin/tool")));
        assertTrue(Files.isExecutable(out.resolve("bin/tool")));
        assertEquals("x", Files.readString(out.resolve("a")));
        assertEquals(Path.of("tool"), Files.readSymbolicLink(out.resolve("bin/link")));
    }
}
