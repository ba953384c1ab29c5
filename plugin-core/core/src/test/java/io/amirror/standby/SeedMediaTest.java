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
    void aSeedDirectoryWithALinkAnywhereIsRefusedAndNothingIsMade(@TempDir Path dir) throws Exception {
        Path good = dir.resolve("good");
        SeedMedia.write(good, DOM, "files", 1, List.of(delta1), List.of("vda"), manifest());
        Path elsewhere = dir.resolve("elsewhere");
        Files.createDirectories(elsewhere);
        Files.copy(good.resolve("vda.delta"), elsewhere.resolve("vda.delta"));
        Files.copy(good.resolve(SeedMedia.INDEX), elsewhere.resolve(SeedMedia.INDEX));
        Files.copy(good.resolve(SeedMedia.MANIFEST), elsewhere.resolve(SeedMedia.MANIFEST));
        Map<String, String> links = new java.util.LinkedHashMap<>();
        links.put("vda.delta", elsewhere.resolve("vda.delta").toString()); // the very delta, through a link
        links.put(SeedMedia.INDEX, elsewhere.resolve(SeedMedia.INDEX).toString());
        links.put(SeedMedia.MANIFEST, "/etc/shadow");
        links.put("notes", "/etc");
        Path replicas = dir.resolve("replicas");
        for (var e : links.entrySet()) {
            Path media = dir.resolve("link-" + e.getKey());
            copyTree(good, media);
            Files.deleteIfExists(media.resolve(e.getKey()));
            Files.createSymbolicLink(media.resolve(e.getKey()), Path.of(e.getValue()));
            IOException x = assertThrows(IOException.class, () -> SeedMedia.importInto(media, replicas, tools), e.getKey());
            assertTrue(x.getMessage().contains("symbolic link"), x.getMessage());
            assertFalse(x.getMessage().contains("root:"), x.getMessage());
            assertThrows(IOException.class, () -> SeedMedia.read(media));
            assertFalse(Files.exists(replicas), e.getKey() + ": nothing under the replicas");
        }
        Path linkedDir = dir.resolve("linked-dir");
        Files.createSymbolicLink(linkedDir, good);
        IOException x = assertThrows(IOException.class, () -> SeedMedia.importInto(linkedDir, replicas, tools));
        assertTrue(x.getMessage().contains("symbolic link"), x.getMessage());
        assertFalse(Files.exists(replicas));
        // a fifo as the delta: refused, not waited on
        Path fifo = dir.resolve("fifo");
        copyTree(good, fifo);
        Files.delete(fifo.resolve("vda.delta"));
        Exec.run(T, "mkfifo", fifo.resolve("vda.delta").toString()).orThrow();
        x = assertThrows(IOException.class, () -> SeedMedia.importInto(fifo, replicas, tools));
        assertTrue(x.getMessage().contains("not a regular file"), x.getMessage());
        assertFalse(Files.exists(replicas));
        // the same seed without links goes in
        assertEquals(1, SeedMedia.importInto(good, replicas, tools).size());
    }

    @Test
    void aManifestOfAnotherDomainOrPointIsRefusedAndStoredForNone(@TempDir Path dir) throws Exception {
        UUID other = UUID.fromString("5eed0000-0000-4000-8000-0000000000ff");
        Map<String, ReplicaManifest> wrong = Map.of(
                "another domain", new ReplicaManifest(other, "files", 1, "<domain type='qemu'><name>files</name></domain>",
                        Map.of(), Map.of(), 5, 86400, null),
                "another point", new ReplicaManifest(DOM, "files", 7, "<domain type='qemu'><name>files</name></domain>",
                        Map.of(), Map.of(), 5, 86400, null),
                "another name", new ReplicaManifest(DOM, "mail", 1, "<domain type='qemu'><name>mail</name></domain>",
                        Map.of(), Map.of(), 5, 86400, null));
        Path replicas = dir.resolve("replicas");
        for (var e : wrong.entrySet()) {
            Path media = dir.resolve("m-" + Math.abs(e.getKey().hashCode()));
            SeedMedia.write(media, DOM, "files", 1, List.of(delta1), List.of("vda"), e.getValue());
            IOException x = assertThrows(IOException.class, () -> SeedMedia.importInto(media, replicas, tools), e.getKey());
            assertTrue(x.getMessage().contains("not this seed's manifest"), x.getMessage());
            assertFalse(Files.exists(replicas.resolve(other.toString())), "nothing for the other domain");
            assertFalse(Files.exists(replicas.resolve(DOM.toString()).resolve("vda").resolve("replica.qcow2")),
                    e.getKey() + ": the seed is not applied either");
        }
        // a manifest larger than any description, and an index far beyond a seed's
        Path big = dir.resolve("big");
        SeedMedia.write(big, DOM, "files", 1, List.of(delta1), List.of("vda"), manifest());
        Files.write(big.resolve(SeedMedia.MANIFEST), new byte[ReplicaManifest.MAX_JSON + 1]);
        IOException x = assertThrows(IOException.class, () -> SeedMedia.importInto(big, replicas, tools));
        assertTrue(x.getMessage().contains("larger than a replica manifest"), x.getMessage());
        Path bigIndex = dir.resolve("big-index");
        SeedMedia.write(bigIndex, DOM, "files", 1, List.of(delta1), List.of("vda"), manifest());
        Files.write(bigIndex.resolve(SeedMedia.INDEX), new byte[(1 << 20) + 1]);
        x = assertThrows(IOException.class, () -> SeedMedia.importInto(bigIndex, replicas, tools));
        assertTrue(x.getMessage().contains("more than"), x.getMessage());
        assertFalse(Files.exists(replicas.resolve(DOM.toString()).resolve("vda").resolve("replica.qcow2")));
        assertFalse(Files.exists(replicas.resolve(DOM.toString()).resolve("manifest.json")));
    }

    @Test
    void aLongerDeltaADuplicatedDiskOrATooLargeDiskIsRefused(@TempDir Path dir) throws Exception {
        Path good = dir.resolve("good");
        SeedMedia.write(good, DOM, "files", 1, List.of(delta1), List.of("vda"), manifest());
        Path replicas = dir.resolve("replicas");
        Path longer = dir.resolve("longer");
        copyTree(good, longer);
        Files.write(longer.resolve("vda.delta"), new byte[100], java.nio.file.StandardOpenOption.APPEND);
        IOException x = assertThrows(IOException.class, () -> SeedMedia.importInto(longer, replicas, tools));
        assertTrue(x.getMessage().contains("copy the seed again"), x.getMessage());
        Path twice = dir.resolve("twice");
        copyTree(good, twice);
        String index = Files.readString(good.resolve(SeedMedia.INDEX));
        int open = index.indexOf("\"disks\" : [") + "\"disks\" : [".length();
        int close = index.lastIndexOf(']');
        String one = index.substring(open, close).strip();
        Files.writeString(twice.resolve(SeedMedia.INDEX), index.substring(0, open) + one + ", " + one + index.substring(close));
        x = assertThrows(IOException.class, () -> SeedMedia.importInto(twice, replicas, tools));
        assertTrue(x.getMessage().contains("names a disk delta it may not"), x.getMessage());
        Path control = dir.resolve("control");
        copyTree(good, control);
        Files.writeString(control.resolve(SeedMedia.INDEX), index.replace("\"name\" : \"files\"",
                "\"name\" : \"files\\u001b[2J\""));
        x = assertThrows(IOException.class, () -> SeedMedia.importInto(control, replicas, tools), "a name with an escape");
        assertTrue(x.getMessage().contains("names the domain"), x.getMessage());
        // the standby takes disks of 1 MiB here; the seed's is 4 MiB
        x = assertThrows(IOException.class, () -> SeedMedia.importInto(good, replicas, tools, 1 << 20));
        assertTrue(x.getMessage().contains("limits.maxDiskBytes"), x.getMessage());
        assertFalse(Files.exists(replicas.resolve(DOM.toString()).resolve("vda").resolve("replica.qcow2")));
        assertEquals(1, SeedMedia.importInto(good, replicas, tools, 4 << 20).size());
    }

    @Test
    void theMediasManifestDoesNotReplaceTheReplicasOwn(@TempDir Path dir) throws Exception {
        Path media = dir.resolve("usb");
        SeedMedia.write(media, DOM, "files", 1, List.of(delta1), List.of("vda"), manifest());
        Path replicas = dir.resolve("replicas");
        SeedMedia.importInto(media, replicas, tools);
        ReplicaDomain rd = new ReplicaDomain(replicas, DOM, tools);
        // the primary described the domain since (its policy keeps 9 points now)
        try (ReplicaDomain.Lock lock = rd.lock()) {
            rd.storeManifest(new ReplicaManifest(DOM, "files", 1, "<domain type='qemu'><name>files</name></domain>",
                    Map.of(), Map.of(), 9, 86400, null));
        }
        List<String> again = SeedMedia.importInto(media, replicas, tools);
        assertTrue(again.contains("vda: already at point 1"), again.toString());
        assertTrue(again.stream().anyMatch(l -> l.contains("is kept")), again.toString());
        assertEquals(9, rd.manifest().orElseThrow().keepPoints());
    }

    private static void copyTree(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (var files = Files.list(from)) {
            for (Path f : files.toList()) {
                Files.copy(f, to.resolve(f.getFileName()), java.nio.file.LinkOption.NOFOLLOW_LINKS);
            }
        }
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
