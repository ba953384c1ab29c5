package io.amirror.standby;

import io.amirror.delta.DeltaFiles;
import io.amirror.delta.XzBlockCodec;
import io.amirror.image.DiskImage;
import io.amirror.transport.ReplicaManifest;
import io.amirror.util.Exec;
import io.amirror.util.FileDigest;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Seeds on removable media (export, import) and a replica following a grown disk, with real qcow2
 * images and real deltas, no VM.
 */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class SeedMediaTest {
    static final UUID DOM = UUID.fromString("5eed0000-0000-4000-8000-000000000001");
    static final Duration T = Duration.ofMinutes(1);
    @TempDir
    static Path shared;
    static DiskImage.Tools tools;
    static Path v1;
    static Path delta1;


    @BeforeAll
    static void images() throws Exception {
        tools = new DiskImage.Tools(Path.of(Exec.tool("qemu-img")), Path.of(Exec.tool("qemu-nbd")));
        Path v0 = shared.resolve("v0.qcow2");
        v1 = shared.resolve("v1.qcow2");
        Exec.run(T, Exec.tool("qemu-img"), "create", "-q", "-f", "qcow2", v0.toString(), "4M").orThrow();
        Files.copy(v0, v1);
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 7 0 1M", v1.toString()).orThrow();
        delta1 = delta(v0, v1, 0, 1);
    }

    static Path delta(Path from, Path to, int a, int b) throws IOException {
        Path d = shared.resolve("d-" + a + "-" + b + "-" + to.getFileName() + ".amd");
        try (DiskImage x = DiskImage.open(from, false, tools); DiskImage y = DiskImage.open(to, false, tools)) {
            DeltaFiles.create(x, y, d, new DeltaFiles.CreateOptions(DOM, "vda", a, b, new XzBlockCodec.Preset(1, false),
                    0, 1, 1 << 20));
        }
        return d;
    }

    static ReplicaManifest manifest() {
        return new ReplicaManifest(DOM, "files", 1, "<domain type='qemu'><name>files</name></domain>", Map.of(), Map.of(),
                5, 86400, null);
    }

    @Test
    void aSeedIsImportedOnceAndTheReplicaEqualsTheDisk(@TempDir Path dir) throws Exception {
        Path media = dir.resolve("usb");
        SeedMedia.write(media, DOM, "files", 1, List.of(delta1), List.of("vda"), manifest());
        assertThrows(IOException.class, () -> SeedMedia.write(media, DOM, "files", 1, List.of(delta1), List.of("vda"),
                manifest()), "a directory holding a seed is not overwritten");
        Path replicas = dir.resolve("replicas");
        assertEquals(List.of("vda: at point 1 (" + Files.size(delta1) + " bytes of delta verified and applied)"),
                SeedMedia.importInto(media, replicas, tools));
        assertEquals(List.of("vda: already at point 1"), SeedMedia.importInto(media, replicas, tools));
        ReplicaDomain rd = new ReplicaDomain(replicas, DOM, tools);
        assertEquals(5, rd.manifest().orElseThrow().keepPoints());
        assertEquals(0, Exec.run(T, Exec.tool("qemu-img"), "compare", "-q", v1.toString(),
                rd.disk("vda").image().toString()).exitCode());
    }

    @Test
    void damagedOrHostileSeedsAreRefusedAndChangeNothing(@TempDir Path dir) throws Exception {
        Path replicas = dir.resolve("replicas");
        Path good = dir.resolve("good");
        SeedMedia.write(good, DOM, "files", 1, List.of(delta1), List.of("vda"), manifest());
        String index = Files.readString(good.resolve(SeedMedia.INDEX));
        Map<String, String> hostile = Map.of(
                "a disk name that climbs", index.replace("\"vda\"", "\"../x\""),
                "a file other than DISK.delta", index.replace("\"vda.delta\"", "\"/etc/passwd\""),
                "a wrong digest", index.replaceAll("\"sha256\" : \"[0-9a-f]{4}", "\"sha256\" : \"0000"),
                "a base point", index.replace("\"basePoint\" : 0", "\"basePoint\" : 3"),
                "not JSON", "{\"format\": 1,",
                "no disks", index.replaceAll("(?s)\"disks\" : \\[.*\\]", "\"disks\" : []"));
        for (var e : hostile.entrySet()) {
            Path bad = dir.resolve("bad-" + Math.abs(e.getKey().hashCode()));
            Files.createDirectories(bad);
            Files.copy(good.resolve("vda.delta"), bad.resolve("vda.delta"));
            Files.writeString(bad.resolve(SeedMedia.INDEX), e.getValue());
            assertThrows(IOException.class, () -> SeedMedia.importInto(bad, replicas, tools), e.getKey());
        }
        Path truncated = dir.resolve("truncated");
        Files.createDirectories(truncated);
        Files.copy(good.resolve(SeedMedia.INDEX), truncated.resolve(SeedMedia.INDEX));
        Files.write(truncated.resolve("vda.delta"), Arrays.copyOf(Files.readAllBytes(delta1),
                (int) Files.size(delta1) - 10));
        IOException e = assertThrows(IOException.class, () -> SeedMedia.importInto(truncated, replicas, tools));
        assertTrue(e.getMessage().contains("copy the seed again"), e.getMessage());
        assertThrows(IOException.class, () -> SeedMedia.importInto(dir.resolve("nothing"), replicas, tools));
        assertFalse(Files.exists(replicas.resolve(DOM.toString()).resolve("vda").resolve("replica.qcow2")),
                "no refused seed touched the replicas");
    }

    @Test
    void theReplicaGrowsWithTheDiskAndRefusesAShrink(@TempDir Path dir) throws Exception {
        ReplicaDisk disk = new ReplicaDisk(dir, DOM, "vda", tools, 5);
        apply(disk, delta1, 0, 1);
        // a delta of the grown disk (as a capture after virsh blockresize makes it): the new size, the new writes
        Path resized = dir.resolve("resized.qcow2");
        Files.copy(v1, resized);
        Exec.run(T, Exec.tool("qemu-img"), "resize", "-q", resized.toString(), "8M").orThrow();
        Path grown = dir.resolve("grown.qcow2");
        Files.copy(resized, grown);
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 9 6M 64k", grown.toString()).orThrow();
        apply(disk, delta(resized, grown, 1, 2), 1, 2);
        assertEquals(0, Exec.run(T, Exec.tool("qemu-img"), "compare", "-q", grown.toString(), disk.image().toString()).exitCode());
        assertEquals(8L << 20, disk.state().virtualSize());

        Path small = dir.resolve("small.qcow2");
        Exec.run(T, Exec.tool("qemu-img"), "create", "-q", "-f", "qcow2", small.toString(), "2M").orThrow();
        Path shrunk = dir.resolve("shrunk.qcow2");
        Files.copy(small, shrunk);
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 3 0 4k", shrunk.toString()).orThrow();
        Path d = delta(small, shrunk, 2, 3);
        byte[] before = FileDigest.sha256(disk.image());
        IOException e = assertThrows(IOException.class, () -> apply(disk, d, 2, 3));
        assertTrue(e.getMessage().contains("shrank"), e.getMessage());
        assertEquals(2, disk.state().point());
        assertArrayEquals(before, FileDigest.sha256(disk.image()), "a refused shrink leaves the replica as it was");
    }

    private static void apply(ReplicaDisk disk, Path d, int from, int to) throws IOException {
        assertEquals(to, SingleDiskApply.apply(disk, d, from, to));
    }
}
