package io.amirror.lab;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.util.Exec;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The qemu-img operations the lab needs, each with a deadline. */
public final class QemuImg {
    private static final Duration LIMIT = Duration.ofMinutes(5);

    private final Path qemuImg;

    public QemuImg(Path qemuImg) {
        this.qemuImg = qemuImg;
    }

    /** A blank qcow2 v3 image (compat=1.1: persistent dirty bitmaps need it). */
    public void createQcow2(Path image, long sizeBytes) {
        run("create", "-q", "-f", "qcow2", "-o", "compat=1.1", image.toString(), Long.toString(sizeBytes));
    }

    public void createRaw(Path image, long sizeBytes) {
        create(image, "raw", sizeBytes);
    }

    /** A blank image of {@code format} with qemu-img's default options. */
    public void create(Path image, String format, long sizeBytes) {
        run("create", "-q", "-f", format, image.toString(), Long.toString(sizeBytes));
    }

    /** A qcow2 v3 overlay of {@code backing} (a qcow2 image), as a guest's disk on a template is made. */
    public void createOverlay(Path overlay, Path backing) {
        run("create", "-q", "-f", "qcow2", "-o", "compat=1.1", "-b", backing.toString(), "-F", "qcow2", overlay.toString());
    }

    /** Converts {@code source} to {@code format}, keeping holes (zero clusters are not allocated). */
    public void convert(Path source, String sourceFormat, Path target, String format) {
        if (format.equals("qcow2")) {
            run("convert", "-q", "-f", sourceFormat, "-O", "qcow2", "-o", "compat=1.1", source.toString(), target.toString());
        } else {
            run("convert", "-q", "-f", sourceFormat, "-O", format, source.toString(), target.toString());
        }
    }

    /**
     * Reads {@code length} bytes at {@code offset} of the guest-visible content of {@code image}, by
     * converting it to a sparse raw file beside it. Meant for small lab disks; the image must not be
     * in use by a running guest.
     */
    public byte[] read(Path image, String format, long offset, int length) {
        Path raw = image.resolveSibling(image.getFileName() + ".read.raw");
        try {
            convert(image, format, raw, "raw");
            try (RandomAccessFile f = new RandomAccessFile(raw.toFile(), "r")) {
                if (offset + length > f.length()) {
                    throw new IllegalArgumentException("read past the end of " + image + ": " + offset + "+" + length);
                }
                byte[] b = new byte[length];
                f.seek(offset);
                f.readFully(b);
                return b;
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            try {
                Files.deleteIfExists(raw);
            } catch (IOException ignored) {
                // a leftover scratch file is removed with the domain directory
            }
        }
    }

    /** {@code qemu-img info --output=json} of the image, as text. */
    public String infoJson(Path image) {
        return run("info", "--output=json", "-U", image.toString()).stdout();
    }

    private Exec.Result run(String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(qemuImg.toString());
        cmd.addAll(List.of(args));
        return Exec.run(cmd, null, Map.of(), LIMIT).orThrow();
    }

    /**
     * Flips one byte of a qcow2 file under guest offset {@code at}, in the file itself: bit rot, which
     * the image's internal snapshots that share the cluster see too.
     */
    public void rot(Path qcow2, long at) throws IOException {
        String json = Exec.run(Duration.ofMinutes(1), qemuImg.toString(), "map",
                "--output=json", "-U", qcow2.toString()).orThrow().stdout();
        for (var e : new ObjectMapper().readTree(json)) {
            long start = e.path("start").asLong();
            if (at >= start && at < start + e.path("length").asLong() && e.has("offset")) {
                try (var ch = FileChannel.open(qcow2, StandardOpenOption.READ,
                        StandardOpenOption.WRITE)) {
                    long host = e.path("offset").asLong() + (at - start);
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
