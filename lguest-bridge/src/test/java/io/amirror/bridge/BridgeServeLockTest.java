package io.amirror.bridge;

import io.amirror.lab.AmirrorProcess;
import io.amirror.lab.Cli;
import io.amirror.util.Exec;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One {@code amirror bridge serve} per bridge state directory, with real processes: a second one
 * exits with status 7 naming the first one's pid, and leaves the first one's state, control socket
 * and guest socket as they were (it would have replaced the sockets and removed the scratch files of
 * points being read); after the first is killed with kill -9 the next one serves.
 */
@Tag("real") // real processes, sockets and qemu-io
class BridgeServeLockTest {

    @Test
    void aSecondBridgeOnTheSameStateIsRefusedAndTheFirstServesOn(@TempDir Path dir) throws Exception {
        Path image = dir.resolve("pbx.raw");
        Files.write(image, new byte[4 << 20]);
        Path state = dir.resolve("pbx.raw.amirror");
        Path socket = dir.resolve("pbx.sock");
        AmirrorProcess first = AmirrorProcess.start(null, dir.resolve("first.log"), "bridge", "serve", "--image",
                image.toString(), "--socket", socket.toString()).awaitLog("bridge serving", 30_000);
        try {
            int point = new BridgeClient(state).cut(0);
            String before = digest(state);

            // another socket, so that a second bridge that got as far as serving would show
            String out = Cli.cli(dir, "second", 7, "bridge", "serve", "--image", image.toString(), "--socket",
                    dir.resolve("other.sock").toString());
            assertTrue(out.contains(state + " is in use by the bridge (amirror bridge serve): pid " + first.pid()), out);
            assertTrue(out.contains("kill " + first.pid()) && out.contains("Nothing was changed"), out);
            assertEquals(before, digest(state), "the refused bridge changed the bridge's state directory");
            assertTrue(Files.exists(socket) && !Files.exists(dir.resolve("other.sock")));
            assertEquals(List.of(point), new BridgeClient(state).state().points(), "the first one answers");
            Exec.run(List.of(Exec.tool("qemu-io"), "-f", "raw", "-c", "write -P 0x5a 1M 64k",
                    "nbd+unix:///?socket=" + socket), null, Map.of(), Duration.ofSeconds(30)).orThrow();
        } finally {
            first.kill9();
        }
        try (AmirrorProcess next = AmirrorProcess.start(null, dir.resolve("next.log"), "bridge", "serve", "--image",
                image.toString(), "--socket", socket.toString()).awaitLog("bridge serving", 30_000)) {
            assertTrue(Exec.run(Duration.ofSeconds(10), "cat", state.resolve("bridge.lock").toString()).orThrow()
                    .stdout().startsWith("pid=" + next.pid() + "\n"));
            assertEquals(1, new BridgeClient(state).state().points().size(), "the point survived the kill");
        }
    }

    /** The directory's entries (type, size, modification time) and the files' SHA-256, read by other processes. */
    private static String digest(Path root) {
        return Exec.run(Duration.ofSeconds(30), "/bin/sh", "-c", "cd \"$1\" && find . -printf '%p %y %s %T@\\n' | sort "
                + "&& find . -type f -print0 | sort -z | xargs -0 -r sha256sum", "sh", root.toString()).orThrow().stdout();
    }
}
