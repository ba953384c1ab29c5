package io.amirror.standby;

import io.amirror.image.DiskImage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A drill's pin keeps its point through every prune, whatever the retention says, and only one
 * drill holds a replica at a time. Real qcow2 images and snapshots through qemu-img.
 */
class DrillPinTest {
    static final UUID DOM = UUID.fromString("6a0f8b52-93a5-4f7e-9d1e-0c7d2b4a1e11");

    @Test
    void aPinnedPointOutlivesTheRetentionUntilItsDrillEnds(@TempDir Path replicas) throws Exception {
        DiskImage.Tools tools = DiskImage.Tools.installed();
        ReplicaDomain d = new ReplicaDomain(replicas, DOM, tools);
        ReplicaDisk disk = d.disk("vda", ReplicaDisk.Retention.count(1));
        Path image = disk.image();
        Files.createDirectories(image.getParent());
        RecoveryPoints.qemuImg(tools, "create", "-q", "-f", "qcow2", image.toString(), "1M");
        RecoveryPoints points = new RecoveryPoints(image, tools, new PointTimes(image.resolveSibling("times.json"),
                PointTimes.RECEIVE_CLOCK));
        points.take(1, 0);
        points.take(2, 0);

        d.pinForDrill("0a1b2c3d", 1);
        assertThrows(IllegalStateException.class, () -> d.pinForDrill("99999999", 2), "one drill at a time");
        assertThrows(IllegalArgumentException.class, () -> d.pinForDrill("0a1b2c3d", 7), "a point no disk keeps");
        points.take(3, 0);
        disk.pruneTo(ReplicaDisk.Retention.count(1));
        assertEquals(List.of(1, 3), disk.points().stream().map(ReplicaDisk.Point::point).toList(),
                "point 1 is drilled: kept; point 2 goes as the retention says");

        d.unpinDrill("99999999");
        assertTrue(d.drillPin().isPresent(), "another drill's id lets nothing go");
        d.unpinDrill("0a1b2c3d");
        disk.pruneTo(ReplicaDisk.Retention.count(1));
        assertEquals(List.of(3), disk.points().stream().map(ReplicaDisk.Point::point).toList());
    }
}
