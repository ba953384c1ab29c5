package io.amirror.transport;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The codec table is complete, and it and {@link WireConstants} agree with
 * {@code schemas/wire-protocol.md}: a message added without its codec, or a limit changed in one
 * place only, fails here rather than on a live connection.
 */
class WireSpecTest {
    private static final Pattern TYPE_ROW = Pattern.compile("^\\| (\\d+) \\| ([A-Z_]+) \\| [^|]+ \\| (.*) \\|$");

    @Test
    void everyMessageRecordHasExactlyOneCodecWithADistinctTypeCode() {
        Set<Class<?>> records = Set.of(WireMessage.class.getPermittedSubclasses());
        Map<Class<?>, Long> codecsPerRecord = MessageCodecs.ALL.stream()
                .collect(Collectors.groupingBy(c -> c.messageClass, Collectors.counting()));
        for (Class<?> r : records) {
            assertEquals(1L, codecsPerRecord.getOrDefault(r, 0L), r.getSimpleName() + " needs exactly one codec");
        }
        assertEquals(records, codecsPerRecord.keySet(), "codecs of classes that are not wire messages");
        assertEquals(MessageCodecs.ALL.size(), MessageCodecs.ALL.stream().mapToInt(c -> c.type).distinct().count(),
                "type codes are distinct");
        for (MessageCodec<?> c : MessageCodecs.ALL) {
            assertTrue(c.type >= 1 && c.type <= 0xff, c.name + " has a u8 type code");
        }
    }

    @Test
    void theFacadeFindsEachCodecByTypeAndByClass() throws Exception {
        for (MessageCodec<?> c : MessageCodecs.ALL) {
            assertEquals(c, WireCodec.codecFor(c.type));
        }
        for (WireMessage m : WireGoldenTest.golden().keySet()) {
            assertEquals(m.getClass(), WireCodec.codecOf(m).messageClass);
        }
    }

    @Test
    void theSpecsTypeTableIsTheCodecTable() throws IOException {
        Map<Integer, String> spec = new TreeMap<>();
        for (String line : spec()) {
            Matcher m = TYPE_ROW.matcher(line);
            if (m.matches()) {
                spec.put(Integer.parseInt(m.group(1)), m.group(2));
            }
        }
        Map<Integer, String> code = new TreeMap<>();
        MessageCodecs.ALL.forEach(c -> code.put(c.type, c.name));
        assertEquals(code, spec);
    }

    @Test
    void theSpecStatesTheCodesLimits() throws IOException {
        String spec = String.join("\n", spec());
        assertTrue(spec.startsWith("# amirror wire protocol, version " + WireConstants.VERSION + " "), "the version");
        assertContains(spec, "at most " + number(WireConstants.MAX_PAYLOAD) + " (1 MiB + 64)");
        assertEquals((1 << 20) + 64, WireConstants.MAX_PAYLOAD);
        assertContains(spec, "at most " + number(WireConstants.MAX_STRING) + " bytes");
        assertContains(spec, "of at most " + WireConstants.MAX_DISK_NAME + " characters");
        assertContains(row("DATA"), "up to 1 MiB (" + number(WireConstants.MAX_CHUNK) + " bytes)");
        assertContains(row("DESCRIBE"), "1 byte to 1 MiB");
        assertEquals(1 << 20, WireConstants.MAX_CHUNK);
        assertContains(row("VERIFY"), "(≥ " + WireConstants.MIN_GROUP_BLOCKS + ")");
        assertContains(row("VERIFIED"), WireConstants.GROUP_DIGEST_LENGTH + " bytes per group (0 to "
                + number(WireConstants.MAX_GROUPS) + " groups)");
        assertContains(row("SEED_PART"), "block count u32 (1 to " + number(WireConstants.SEED_BLOCKS) + ")");
        assertContains(row("STALE"), "range count u32 (1 to " + number(WireConstants.MAX_STALE_RANGES) + ")");
        assertContains(row("OFFER"), "delta SHA-256 (" + WireConstants.SHA256_LENGTH + ")");
    }

    private static String row(String message) throws IOException {
        return spec().stream().filter(l -> l.matches("^\\| \\d+ \\| " + message + " \\|.*")).findFirst()
                .orElseThrow(() -> new AssertionError("no row for " + message + " in the spec's type table"));
    }

    private static void assertContains(String text, String part) {
        assertTrue(text.contains(part), "the spec should say \"" + part + "\"");
    }

    /** 1,048,640: numbers as the spec writes them. */
    private static String number(int n) {
        return String.format(Locale.ROOT, "%,d", n);
    }

    /** The spec, found from the module's directory upwards, wherever the module sits in the tree. */
    private static List<String> spec() throws IOException {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path p = dir.resolve("schemas/wire-protocol.md");
            if (Files.isRegularFile(p)) {
                return Files.readAllLines(p);
            }
        }
        throw new AssertionError("schemas/wire-protocol.md not found above " + Path.of("").toAbsolutePath());
    }
}
