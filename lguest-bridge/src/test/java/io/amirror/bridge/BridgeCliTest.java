package io.amirror.bridge;

import io.amirror.image.DiskImage;
import io.amirror.lab.AmirrorProcess;
import io.amirror.lab.Cli;
import io.amirror.lab.LoopbackStandby;
import io.amirror.lab.QemuImg;
import io.amirror.standby.ReplicaDisk;
import io.amirror.standby.StandbyService;
import io.amirror.transport.Identity;
import io.amirror.util.Exec;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** {@code amirror bridge serve} and {@code bridge sync}, driven by one bridge policy, as the admin runs them. */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class BridgeCliTest {

    @Test
    void aBridgePolicyDrivesServeAndSync(@TempDir Path dir) throws Exception {
        Path image = dir.resolve("pbx.raw");
        Files.write(image, new byte[4 << 20]);
        Path socket = dir.resolve("pbx.sock");
        Path primary = dir.resolve("primary");
        Identity me = Identity.loadOrCreate(primary, "primary");
        Identity standbyId = Identity.loadOrCreate(dir.resolve("standby"), "standby");
        DiskImage.Tools tools = DiskImage.Tools.installed();
        try (StandbyService standby = LoopbackStandby.start(dir, standbyId, me.fingerprint(), tools)) {
            Path policy = dir.resolve("pbx.json");
            Files.writeString(policy, """
                    {"name": "pbx", "source": "bridge", "domains": {"names": ["pbx"]},
                     "bridge": {"image": "%s", "socket": "%s"},
                     "standby": {"address": "127.0.0.1:%d", "fingerprint": "%s"},
                     "rpo": {"interval": "1h"}, "compression": "1", "retention": {"keep": 5}}
                    """.formatted(image, socket, standby.port(), standbyId.fingerprint()));
            try (AmirrorProcess bridge = AmirrorProcess.start(null, dir.resolve("serve.log"), "bridge", "serve",
                    "--policy", policy.toString()).awaitLog("bridge serving", 30_000)) {
                Exec.run(List.of(Exec.tool("qemu-io"), "-f", "raw", "-c", "write -P 0x5a 1M 256k",
                        "nbd+unix:///?socket=" + socket), null, Map.of(), Duration.ofSeconds(30)).orThrow();
                String first = Cli.cli(dir, "sync-1", 0, "bridge", "sync", "--policy", policy.toString(),
                        "--state", primary.toString(), "--once");
                assertTrue(first.contains("point 1 from 0"), first);
                Exec.run(List.of(Exec.tool("qemu-io"), "-f", "raw", "-c", "write -P 0x6b 3M 4k",
                        "nbd+unix:///?socket=" + socket), null, Map.of(), Duration.ofSeconds(30)).orThrow();
                String second = Cli.cli(dir, "sync-2", 0, "bridge", "sync", "--policy", policy.toString(),
                        "--state", primary.toString(), "--once");
                assertTrue(second.contains("point 2 from 1: 4096 bytes read"), second);
                String points = Cli.cli(dir, "points", 0, "bridge", "points", "--bridge-state",
                        dir.resolve("pbx.raw.amirror").toString());
                assertTrue(points.contains("points [2]"), points);

                // the guest copies 256 KiB inside its disk while a source block rotted on the standby: the
                // point is refused as STALE, and the next sync sends that block as data and repairs it
                BridgeState st = BridgeState.read(dir.resolve("pbx.raw.amirror"));
                Path replicaImage = new ReplicaDisk(dir.resolve("replicas"), st.uuid(), "vda", tools, 5).image();
                new QemuImg(tools.qemuImg()).rot(replicaImage, (1 << 20) + 4096 + 9);
                Path piece = dir.resolve("piece.bin");
                byte[] whole = Files.readAllBytes(image);
                Files.write(piece, Arrays.copyOfRange(whole, 1 << 20, (1 << 20) + (256 << 10)));
                Exec.run(List.of(Exec.tool("qemu-io"), "-f", "raw", "-c", "write -s " + piece + " 2M 256k",
                        "nbd+unix:///?socket=" + socket), null, Map.of(), Duration.ofSeconds(30)).orThrow();
                String stale = Cli.cli(dir, "sync-stale", 1, "bridge", "sync", "--policy", policy.toString(),
                        "--state", primary.toString(), "--once");
                assertTrue(stale.contains("drifted"), stale);
                String healed = Cli.cli(dir, "sync-healed", 0, "bridge", "sync", "--policy", policy.toString(),
                        "--state", primary.toString(), "--once");
                assertTrue(healed.contains("point 3 from 2"), healed);
            }
            BridgeState s = BridgeState.read(dir.resolve("pbx.raw.amirror"));
            ReplicaDisk replica = new ReplicaDisk(dir.resolve("replicas"), s.uuid(), "vda", tools, 5);
            assertEquals(3, replica.state().point());
            Exec.Result cmp = Exec.run(List.of(tools.qemuImg().toString(), "compare", "-f", "raw", "-F", "qcow2",
                    image.toString(), replica.image().toString()), null, Map.of(), Duration.ofSeconds(60));
            assertEquals(0, cmp.exitCode(), cmp.stdout());
            String manifest = Files.readString(dir.resolve("replicas").resolve(s.uuid().toString()).resolve("manifest.json"));
            assertTrue(manifest.contains("\"keepPoints\" : 5"), "the policy's retention reached the standby: " + manifest);
        }
        String wrong = Cli.cli(dir, "libvirt-policy", 1, "bridge", "sync", "--policy",
                Path.of("../schemas/examples/policies/minimal.json").toAbsolutePath().toString(), "--state", primary.toString());
        assertTrue(wrong.contains("a policy of libvirt domains"), wrong);
    }
}
