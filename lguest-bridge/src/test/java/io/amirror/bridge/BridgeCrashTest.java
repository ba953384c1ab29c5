package io.amirror.bridge;

import io.amirror.lab.AmirrorProcess;
import io.amirror.util.Exec;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * kill -9 of a bridge process while a real NBD client (qemu-io) writes through it: after a restart,
 * every block that differs from the point's content is in the point's dirty map. Trials:
 * {@code -Damirror.bridge.crashTrials=N} (default 3, which CI affords).
 */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class BridgeCrashTest {
    private static final int B = DirtyMap.BLOCK;
    private static final int BLOCKS = 4096; // 16 MiB

    @Test
    void aKilledBridgeLosesNoDirtyMark(@TempDir Path dir) throws Exception {
        int trials = Integer.getInteger("amirror.bridge.crashTrials", 3);
        Path image = dir.resolve("guest.raw");
        Files.write(image, new byte[BLOCKS * B]);
        Path state = dir.resolve("state");
        Path socket = dir.resolve("nbd.sock");
        Random random = new Random(42);
        for (int trial = 0; trial < trials; trial++) {
            AmirrorProcess bridge = AmirrorProcess.start(null, dir.resolve("bridge-" + trial + ".log"), "bridge", "serve",
                    "--image", image.toString(), "--socket", socket.toString(), "--state", state.toString())
                    .awaitLog("bridge serving", 30_000);
            BridgeClient control = new BridgeClient(state);
            int point = control.cut(0);
            control.release(point);
            byte[] atCut = Files.readAllBytes(image); // nothing writes between the cut and this copy

            List<String> cmd = new ArrayList<>(List.of(Exec.tool("qemu-io"), "-f", "raw"));
            for (int i = 0; i < 3000; i++) {
                cmd.addAll(List.of("-c", "write -P " + (1 + random.nextInt(250)) + " " + (long) random.nextInt(BLOCKS) * B
                        + " " + (1 + random.nextInt(4)) * B));
            }
            cmd.add("nbd+unix:///?socket=" + socket);
            Process writer = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(dir.resolve("writer.log").toFile()).start();
            Thread.sleep(300 + random.nextInt(700));
            bridge.kill9();
            writer.waitFor();

            byte[] now = Files.readAllBytes(image);
            int changed = 0;
            int unmarked = 0;
            try (BridgeVolume v = BridgeVolume.open(image, state, null, "guest", "vda", List.of())) {
                boolean[] marked = new boolean[BLOCKS];
                for (long[] r : v.changedAfter(point)) {
                    for (long o = r[0]; o < r[0] + r[1]; o += B) {
                        marked[(int) (o / B)] = true;
                    }
                }
                for (int b = 0; b < BLOCKS; b++) {
                    if (!Arrays.equals(atCut, b * B, (b + 1) * B, now, b * B, (b + 1) * B)) {
                        changed++;
                        unmarked += marked[b] ? 0 : 1;
                    }
                }
                System.out.printf("bridge crash trial %d: %d blocks changed before kill -9, %d marked, %d unmarked%n",
                        trial, changed, v.changedAfter(point).stream().mapToLong(r -> r[1] / B).sum(), unmarked);
                for (int p : v.state().points()) {
                    v.delete(p); // the next trial starts from a new point
                }
            }
            assertTrue(changed > 0, "the writer wrote before the kill (trial " + trial + ")");
            assertEquals(0, unmarked, "blocks changed but not marked dirty (trial " + trial + ")");
        }
    }
}
