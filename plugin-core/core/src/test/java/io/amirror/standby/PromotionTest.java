package io.amirror.standby;

import io.amirror.delta.DeltaFiles;
import io.amirror.delta.XzBlockCodec;
import io.amirror.image.DiskImage;
import io.amirror.util.Exec;
import io.amirror.util.FileDigest;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Promotion from the journal alone, on real qcow2 replicas (qemu-img, no VM): which point a start
 * picks when the disks disagree or an admin chose one, and that a refused start changes nothing.
 */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class PromotionTest {
    static final UUID DOM = UUID.fromString("0b6c0c11-2a67-4d0e-8f0e-4a8a4e5b7c01");
    static final Duration T = Duration.ofMinutes(2);
    @TempDir
    static Path shared;
    static DiskImage.Tools tools;
    /** Image versions 0 (empty), 1 and 2, and the deltas between them for disks vda and vdb. */
    static Path[] v = new Path[3];


    @BeforeAll
    static void images() throws Exception {
        tools = new DiskImage.Tools(Path.of(Exec.tool("qemu-img")), Path.of(Exec.tool("qemu-nbd")));
        for (int i = 0; i < 3; i++) {
            v[i] = shared.resolve("v" + i + ".qcow2");
        }
        Exec.run(T, Exec.tool("qemu-img"), "create", "-q", "-f", "qcow2", v[0].toString(), "4M").orThrow();
        Files.copy(v[0], v[1]);
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 1 0 1M", v[1].toString()).orThrow();
        Files.copy(v[1], v[2]);
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 2 512k 1M", v[2].toString()).orThrow();
    }

    /** Brings {@code disk} of the replica from point {@code from} to {@code to} through a real delta. */
    static void apply(ReplicaDisk disk, String name, int from, int to) throws IOException {
        Path d = shared.resolve(name + "-" + from + "-" + to + ".amd");
        if (!Files.exists(d)) {
            try (DiskImage a = DiskImage.open(v[from], false, tools); DiskImage b = DiskImage.open(v[to], false, tools)) {
                DeltaFiles.create(a, b, d, new DeltaFiles.CreateOptions(DOM, name, from, to,
                        new XzBlockCodec.Preset(1, false), 0, 1, 1 << 20));
            }
        }
        assertEquals(to, SingleDiskApply.apply(disk, d, from, to));
    }

    static ReplicaDomain replica(Path root, int vdaPoint, int vdbPoint) throws IOException {
        ReplicaDomain r = new ReplicaDomain(root, DOM, tools);
        for (String[] disk : new String[][] {{"vda", String.valueOf(vdaPoint)}, {"vdb", String.valueOf(vdbPoint)}}) {
            ReplicaDisk d = r.disk(disk[0], ReplicaDisk.Retention.count(10));
            for (int p = 1; p <= Integer.parseInt(disk[1]); p++) {
                apply(d, disk[0], p - 1, p);
            }
        }
        return r;
    }

    static boolean sameContent(Path a, Path b) {
        return Exec.run(T, Exec.tool("qemu-img"), "compare", "-q", a.toString(), b.toString()).exitCode() == 0;
    }

    @Test
    void disksAtDifferentPointsStartFromTheNewestPointAllKeep(@TempDir Path root) throws Exception {
        ReplicaDomain r = replica(root, 2, 1); // the primary died between shipping vda and vdb of point 2
        Promotion.Outcome o = Promotion.prepare(r, "files");
        assertEquals(1, o.point());
        assertTrue(o.steps().stream().anyMatch(s -> s.contains("rolled vda from point 2 to 1")), o.steps().toString());
        assertEquals(1, r.disk("vda").state().point());
        assertTrue(sameContent(r.disk("vda").image(), v[1]), "vda holds point 1's content");
        assertEquals(1, r.promoted().orElseThrow().point());
        // a second start finds it promoted and does nothing
        Promotion.Outcome again = Promotion.prepare(r, "files");
        assertTrue(again.earlier());
        assertEquals(1, again.point());
    }

    @Test
    void aChosenPointIsRolledToAndAPointNotKeptIsRefusedWithoutChange(@TempDir Path root) throws Exception {
        ReplicaDomain r = replica(root, 2, 2);
        r.requestFailoverPoint(7);
        byte[] before = FileDigest.sha256(r.disk("vda").image());
        var refused = assertThrows(Promotion.Refused.class, () -> Promotion.prepare(r, "files"));
        assertTrue(refused.getMessage().contains("point 7") && refused.getMessage().contains("[1, 2]"), refused.getMessage());
        assertArrayEquals(before, FileDigest.sha256(r.disk("vda").image()));
        assertEquals(2, r.disk("vda").state().point());
        assertTrue(r.promoted().isEmpty());

        r.requestFailoverPoint(1);
        assertEquals(1, Promotion.prepare(r, "files").point());
        assertTrue(sameContent(r.disk("vda").image(), v[1]) && sameContent(r.disk("vdb").image(), v[1]));
        assertTrue(r.failoverPoint().isEmpty(), "the choice is used up");
    }

    @Test
    void nothingToStartIsRefused(@TempDir Path root) {
        var refused = assertThrows(Promotion.Refused.class, () -> Promotion.prepare(new ReplicaDomain(root, DOM, tools), "files"));
        assertTrue(refused.getMessage().contains("no point"), refused.getMessage());
        assertFalse(Files.exists(root.resolve(DOM.toString()).resolve("promoted.json")));
    }
}
