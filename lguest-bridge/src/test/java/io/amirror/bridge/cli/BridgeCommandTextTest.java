package io.amirror.bridge.cli;

import io.amirror.util.Exec;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.*;

/**
 * What {@code bridge failover} prints for pasting, and {@code bridge serve}'s refusals before it
 * changes anything.
 */
class BridgeCommandTextTest {
    private static final UUID UUID_1 = UUID.fromString("0b7e3c52-1d7b-4a4c-9f2e-3f1d2a6b9c01");

    @Provide
    Arbitrary<String> oddNames() {
        return Arbitraries.of("pbx", "my pbx", "it's", "a\"b", "$(reboot)", "`id`", "x; rm -rf /", "line\nbreak",
                "\u001b[2Jclear", "\u001b]0;title\u0007t", "\u009b31m", "名前", "ünï cødé", "\u202eevil", "-n", "",
                "tab\there", "back\\slash", "*", "~root").list().ofMinSize(1).ofMaxSize(4).map(l -> String.join("", l));
    }

    /** The printed serve line, run by a real sh with the command replaced by printf, gives back each value. */
    @Property(tries = 80)
    void theServeLineReadsBackInShell(@ForAll("oddNames") String name, @ForAll("oddNames") String file) throws IOException {
        Path image = Path.of("/srv/vm", file.replace("/", "_").replace("\0", "") + ".raw");
        List<String> lines = BridgeCommand.startLines(image, UUID_1, name, List.of("qemu-system-x86_64", "-name", name));
        String serve = lines.get(0).substring("start it: ".length());
        assertTrue(serve.startsWith("amirror bridge serve --image "), serve);
        for (String l : lines) {
            assertTrue(l.chars().noneMatch(c -> c < 0x20 || (c >= 0x7f && c <= 0x9f)), "no control in " + l);
        }
        String out = sh("printf '%s|' " + serve.substring("amirror ".length()).replace(" SOCKET ", " S "));
        assertEquals("bridge|serve|--image|" + printable(image.toString()) + "|--socket|S|--uuid|" + UUID_1 + "|--name|"
                + printable(name) + "|", out);
        String launcher = lines.get(1).substring("then its launcher: ".length());
        assertEquals("qemu-system-x86_64|-name|" + printable(name) + "|", sh("printf '%s|' " + launcher));
        boolean altered = !printable(name).equals(name) || !printable(image.toString()).equals(image.toString());
        assertEquals(altered, lines.get(lines.size() - 1).startsWith("note: "), String.join("\n", lines));
    }

    private static String printable(String s) {
        return io.amirror.util.ShellText.printable(s);
    }

    private static String sh(String script) throws IOException {
        Path f = Files.createTempFile("startlines-", ".sh");
        try {
            Files.writeString(f, script, StandardCharsets.UTF_8);
            return Exec.run(List.of("/bin/sh", f.toString()), null, Map.of(), Duration.ofSeconds(10)).orThrow().stdout();
        } finally {
            Files.delete(f);
        }
    }

    @Test
    void aPlainNameIsPrintedAsItIs() {
        assertEquals(List.of("start it: amirror bridge serve --image /srv/vm/pbx.raw --socket SOCKET --uuid " + UUID_1
                        + " --name pbx", "then its launcher: qemu-system-x86_64 -m 1024 -drive "
                        + "'file=nbd+unix:///?socket=/run/amirror/pbx.sock,format=raw'"),
                BridgeCommand.startLines(Path.of("/srv/vm/pbx.raw"), UUID_1, "pbx", List.of("qemu-system-x86_64", "-m",
                        "1024", "-drive", "file=nbd+unix:///?socket=/run/amirror/pbx.sock,format=raw")));
        assertEquals(List.of("start it: amirror bridge serve --image /srv/vm/pbx.raw --socket SOCKET --uuid " + UUID_1),
                BridgeCommand.startLines(Path.of("/srv/vm/pbx.raw"), UUID_1, null, List.of()));
    }

    @Test
    void serveRefusesANetworkAddressWithoutTlsBeforeItMakesAnything(@TempDir Path dir) throws Exception {
        Path image = dir.resolve("pbx.raw");
        Files.write(image, new byte[1 << 20]);
        BridgeCommand.Serve s = new BridgeCommand.Serve();
        s.image = image;
        s.socket = dir.resolve("pbx.sock");
        s.tcp = "0.0.0.0:10809";
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, s::call);
        assertTrue(e.getMessage().contains("add --tls-dir DIR"), e.getMessage());
        s.tcp = null;
        s.tlsDir = dir.resolve("no-such-dir");
        e = assertThrows(IllegalArgumentException.class, s::call);
        assertTrue(e.getMessage().contains("--tcp"), e.getMessage());
        s.tcp = "0.0.0.0:10809";
        e = assertThrows(IllegalArgumentException.class, s::call);
        assertTrue(e.getMessage().contains("ca-cert.pem"), e.getMessage());
        s.tlsDir = null;
        s.tlsClients = List.of("sha256:00");
        e = assertThrows(IllegalArgumentException.class, s::call);
        assertTrue(e.getMessage().contains("--tls-dir"), e.getMessage());
        assertEquals(List.of(image), Files.list(dir).toList(), "no state directory, no socket");
    }
}
