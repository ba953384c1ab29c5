package io.amirror.util;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Quoting for POSIX sh checked by a real {@code /bin/sh}, and the stripping of terminal controls. */
class ShellTextTest {

    /** Odd names: quotes, spaces, newlines, shell syntax, escape sequences, C1 controls, other scripts. */
    @Provide
    Arbitrary<String> oddNames() {
        Arbitrary<String> fragments = Arbitraries.of("'", "\"", "\\", "$HOME", "`id`", "$(id)", " ", "\t", "\n", "\r",
                "*", "?", "[a]", "{a,b}", ";", "&", "|", "<", ">", "#", "~", "!", "-n", "--", "=", "%", "\u001b[2J",
                "\u001b[31m", "\u001b]0;owned\u0007", "\u001b]8;;http://x\u001b\\", "\u001bc", "\u009b2J", "\u0085",
                "\u0000", "\u007f", "pbx", "/srv/vm/pbx.raw", "名前", "ünïcødé", "\u202eevil", "\u2066x\u2069", "😀");
        Arbitrary<String> chars = Arbitraries.strings().withCharRange('\u0000', '\u00ff').ofMaxLength(6);
        return Combinators.combine(fragments.list().ofMaxSize(6), chars).as((fs, cs) -> String.join("", fs) + cs);
    }

    @Property(tries = 150)
    void aQuotedWordReadsBackInShellAsItsPrintableForm(@ForAll("oddNames") String name) throws IOException {
        String word = ShellText.quote(name);
        Exec.Result r = sh("printf %s " + word);
        assertEquals(0, r.exitCode(), word);
        assertEquals(ShellText.printable(name), r.stdout(), "the shell read " + word + " back");
    }

    @Property(tries = 300)
    void printableTextHoldsNoControlAndNoEscape(@ForAll("oddNames") String name) {
        String p = ShellText.printable(name);
        assertTrue(p.chars().noneMatch(c -> c < 0x20 || (c >= 0x7f && c <= 0x9f)), p);
        assertFalse(p.contains("\u202e") || p.contains("\u2066"), p);
        assertEquals(p, ShellText.printable(p), "idempotent");
        assertEquals(ShellText.altered(name), !p.equals(name));
    }

    @Property(tries = 100)
    void aCommandIsOneWordPerArgument(@ForAll("oddNames") String a, @ForAll("oddNames") String b) throws IOException {
        String line = ShellText.command(List.of("printf", "%s|", a, b));
        Exec.Result r = sh(line);
        assertEquals(ShellText.printable(a) + "|" + ShellText.printable(b) + "|", r.stdout(), line);
    }

    @Property(tries = 200)
    void wordsReadBackWhatCommandWrote(@ForAll("oddNames") String a, @ForAll("oddNames") String b) {
        assertEquals(List.of("check", ShellText.printable(a), ShellText.printable(b)),
                ShellText.words(ShellText.command(List.of("check", a, b))));
    }

    @Property(tries = 100)
    void wordsSplitAsTheShellDoes(@ForAll("oddNames") String a) throws IOException {
        String line = "printf '%s|' " + ShellText.quote(a) + " \"x\\\"y\" z\\ w";
        Exec.Result r = sh(line);
        assertEquals(String.join("|", ShellText.words(line).subList(2, ShellText.words(line).size())) + "|", r.stdout(), line);
    }

    @Test
    void wordsExamples() {
        assertEquals(List.of("pg_isready", "-q"), ShellText.words("  pg_isready   -q "));
        assertEquals(List.of("su", "postgres", "-c", "psql -tAc 'select 1'"),
                ShellText.words("su postgres -c \"psql -tAc 'select 1'\""));
        assertEquals(List.of("a b", "c\"d", "e"), ShellText.words("'a b' \"c\\\"d\" e"));
        assertEquals(List.of(), ShellText.words("   "));
        assertThrows(IllegalArgumentException.class, () -> ShellText.words("echo 'open"));
        assertThrows(IllegalArgumentException.class, () -> ShellText.words("echo \"open"));
    }

    /** Runs a script from a UTF-8 file, so that no locale stands between the text and the shell. */
    private static Exec.Result sh(String script) throws IOException {
        Path f = Files.createTempFile("shelltext-", ".sh");
        try {
            Files.writeString(f, script, StandardCharsets.UTF_8);
            return Exec.run(List.of("/bin/sh", f.toString()), null, Map.of(), Duration.ofSeconds(10));
        } finally {
            Files.delete(f);
        }
    }

    @Test
    void examples() {
        assertEquals("pbx", ShellText.quote("pbx"));
        assertEquals("/srv/vm/pbx.raw", ShellText.quote("/srv/vm/pbx.raw"));
        assertEquals("'my pbx'", ShellText.quote("my pbx"));
        assertEquals("'it'\\''s'", ShellText.quote("it's"));
        assertEquals("''", ShellText.quote(""));
        assertEquals("'$(reboot)'", ShellText.quote("$(reboot)"));
        assertEquals("'pbxrm -rf /'", ShellText.quote("pbx\nrm -rf /"), "one line, one word");
        assertEquals("clear", ShellText.printable("\u001b[2Jclear"));
        assertEquals("title", ShellText.printable("\u001b]0;x\u0007title"));
        assertEquals("'名前 ü'", ShellText.quote("名前 ü"));
        assertEquals("qemu-system-x86_64 -drive 'file=nbd+unix:///?socket=/run/a b.sock' -m 1024",
                ShellText.command(List.of("qemu-system-x86_64", "-drive", "file=nbd+unix:///?socket=/run/a b.sock", "-m", "1024")));
        assertTrue(ShellText.altered("a\u001b[2Jb"));
        assertFalse(ShellText.altered("名前"));
        List<String> none = new ArrayList<>();
        assertEquals("", ShellText.command(none));
    }
}
