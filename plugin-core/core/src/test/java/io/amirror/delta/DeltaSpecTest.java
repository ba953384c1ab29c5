package io.amirror.delta;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link DeltaFormat} and {@code schemas/delta-stream.md} agree on the versions and the result records. */
class DeltaSpecTest {

    @Test
    void theSpecStatesTheVersionsAndTheResultRecords() throws IOException {
        String spec = spec();
        assertTrue(spec.startsWith("# amirror delta stream, version " + DeltaFormat.VERSION + "\n"), "the version");
        assertEquals(3, DeltaFormat.VERSION);
        assertEquals(1, DeltaFormat.OLDEST_READABLE_VERSION);
        assertContains(spec, "| 8 | 2 | version | 3 (written); 1, 2 or 3 (read); any other is refused |");
        assertEquals(96, DeltaCodec.headerMin(3) - 1);
        assertEquals(88, DeltaCodec.headerMin(2) - 1);
        assertContains(spec, "| 10 | 4 | header length *H* | 96 + *n* in version 3, 88 + *n* in versions 1 and 2");
        assertContains(spec, "| 56+*n* | 8 | cut time | version 3 only");
        assertContains(spec, String.format("| DATA | one per 4 KiB block it covers | `%02x`, block index u64",
                DeltaFormat.RESULT_BLOCK));
        assertContains(spec, String.format("| COPY | one per block | `%02x`, block index u64", DeltaFormat.RESULT_BLOCK));
        assertContains(spec, String.format("| ZERO | **one per frame** | `%02x`, offset u64, length u64",
                DeltaFormat.RESULT_ZERO));
        assertEquals(1L << 44, DeltaFormat.V1_MAX_ZERO_BYTES);
        assertContains(spec, "cover more than 2^44 bytes (16 TiB) in all is refused");
    }

    private static void assertContains(String text, String part) {
        assertTrue(text.contains(part), "the spec should say \"" + part + "\"");
    }

    /** The spec, found from the module's directory upwards. */
    private static String spec() throws IOException {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path p = dir.resolve("schemas/delta-stream.md");
            if (Files.isRegularFile(p)) {
                return Files.readString(p);
            }
        }
        throw new AssertionError("schemas/delta-stream.md not found above " + Path.of("").toAbsolutePath());
    }
}
