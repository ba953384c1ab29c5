package io.amirror.standby;

import io.amirror.delta.DeltaReader;
import io.amirror.util.FileDigest;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** Brings one disk of a replica from point to point with a real delta file, as a receiver would. */
final class SingleDiskApply {
    private SingleDiskApply() {
    }

    /** Offers, stages and applies {@code delta} to {@code disk} alone; returns the point it is at. */
    static int apply(ReplicaDisk disk, Path delta, int from, int to) throws IOException {
        byte[] sha = FileDigest.sha256(delta);
        long virtualSize = virtualSize(delta);
        Path in = disk.prepareIncoming(from, to, Files.size(delta), sha, virtualSize, Long.MAX_VALUE);
        Files.copy(delta, in, StandardCopyOption.REPLACE_EXISTING);
        disk.applyStaged(disk.stage(in, from, to, Files.size(delta), sha, virtualSize));
        return disk.state().point();
    }

    static long virtualSize(Path delta) throws IOException {
        try (InputStream in = new BufferedInputStream(Files.newInputStream(delta))) {
            return DeltaReader.readHeader(in).virtualSize();
        }
    }
}
