package io.amirror.image;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.util.Exec;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;

/**
 * Bit rot for the core's tests: one byte of a qcow2 file flipped under a guest offset, in the file
 * itself, so the image's internal snapshots that share the cluster see it too (the lab's
 * {@code QemuImg.rot} does the same for tests on real guests, which cannot reach this class).
 */
public final class BitRot {
    private BitRot() {
    }

    public static void flipByte(Path qcow2, long at) throws IOException {
        String json = Exec.run(Duration.ofMinutes(1), Exec.tool("qemu-img"), "map", "--output=json", "-U",
                qcow2.toString()).orThrow().stdout();
        for (JsonNode e : new ObjectMapper().readTree(json)) {
            long start = e.path("start").asLong();
            if (at >= start && at < start + e.path("length").asLong() && e.has("offset")) {
                long host = e.path("offset").asLong() + (at - start);
                try (FileChannel ch = FileChannel.open(qcow2, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                    ByteBuffer b = ByteBuffer.allocate(1);
                    ch.read(b, host);
                    b.put(0, (byte) (b.get(0) ^ 0x5a)).rewind();
                    ch.write(b, host);
                }
                return;
            }
        }
        throw new IllegalStateException("no allocated cluster under " + at + " in " + qcow2);
    }
}
