package io.amirror.image;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.nbd.NbdAddress;
import io.amirror.nbd.NbdClient;
import io.amirror.nbd.QemuNbd;
import io.amirror.util.Exec;
import io.amirror.util.FileTrees;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * A disk image on this host, raw or qcow2, read and written by guest-visible offset: raw files
 * directly, everything else through a private {@code qemu-nbd} and the project's NBD client.
 */
public abstract class DiskImage implements AutoCloseable {

    /** Host tools an image may need. */
    public record Tools(Path qemuImg, Path qemuNbd) {
        /** The host's {@code qemu-img} and {@code qemu-nbd}, or an error naming the package that has them. */
        public static Tools installed() {
            Path img = Exec.which("qemu-img", Exec.SYSTEM_PATH);
            Path nbd = Exec.which("qemu-nbd", Exec.SYSTEM_PATH);
            if (img == null || nbd == null) {
                throw new IllegalStateException("qemu-img and qemu-nbd are needed (Debian package qemu-utils)");
            }
            return new Tools(img, nbd);
        }
    }

    public abstract long size();

    public abstract void read(long offset, byte[] into, int length) throws IOException;

    public abstract void write(long offset, byte[] data, int from, int length) throws IOException;

    /** Makes {@code length} bytes at {@code offset} read as zero, deallocating where the format can. */
    public abstract void zero(long offset, long length) throws IOException;

    /** Makes everything written durable. */
    public abstract void flush() throws IOException;

    @Override
    public abstract void close() throws IOException;

    /** The whole image as a stream of its guest-visible bytes, in 1 MiB reads. */
    public InputStream stream() {
        return new InputStream() {
            private final byte[] buf = new byte[1 << 20];
            private long pos;
            private int have;
            private int at;

            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (at == have) {
                    if (pos >= size()) {
                        return -1;
                    }
                    have = (int) Math.min(buf.length, size() - pos);
                    DiskImage.this.read(pos, buf, have);
                    pos += have;
                    at = 0;
                }
                int n = Math.min(len, have - at);
                System.arraycopy(buf, at, b, off, n);
                at += n;
                return n;
            }
        };
    }

    /** The format qemu-img sees in the file ({@code raw}, {@code qcow2}, ...). */
    public static String format(Path image, Tools tools) throws IOException {
        String json = Exec.run(List.of(tools.qemuImg().toString(), "info", "--output=json", "-U", image.toString()),
                null, Map.of(), Duration.ofMinutes(1)).orThrow().stdout();
        return new ObjectMapper().readTree(json).path("format").asText();
    }

    /** Opens internal snapshot {@code snapshot} of a qcow2 image, read-only: the disk as it was then. */
    public static DiskImage openSnapshot(Path image, String snapshot, Tools tools) throws IOException {
        return new ViaNbd(image, format(image, tools), false, tools, snapshot);
    }

    public static DiskImage open(Path image, boolean writable, Tools tools) throws IOException {
        if (!Files.isRegularFile(image)) {
            throw new IOException("no such image: " + image);
        }
        String format = format(image, tools);
        if (format.equals("raw")) {
            return new Raw(image, writable);
        }
        return new ViaNbd(image, format, writable, tools, null);
    }

    static final class Raw extends DiskImage {
        private final FileChannel ch;
        private final long size;

        Raw(Path p, boolean writable) throws IOException {
            ch = writable ? FileChannel.open(p, StandardOpenOption.READ, StandardOpenOption.WRITE)
                    : FileChannel.open(p, StandardOpenOption.READ);
            size = ch.size();
        }

        @Override
        public long size() {
            return size;
        }

        @Override
        public void read(long offset, byte[] into, int length) throws IOException {
            ByteBuffer b = ByteBuffer.wrap(into, 0, length);
            while (b.hasRemaining()) {
                if (ch.read(b, offset + b.position()) < 0) {
                    throw new IOException("image ends at " + (offset + b.position()));
                }
            }
        }

        @Override
        public void write(long offset, byte[] data, int from, int length) throws IOException {
            ByteBuffer b = ByteBuffer.wrap(data, from, length);
            long pos = offset;
            while (b.hasRemaining()) {
                pos += ch.write(b, pos);
            }
        }

        @Override
        public void zero(long offset, long length) throws IOException {
            byte[] z = new byte[(int) Math.min(length, 1 << 20)];
            for (long pos = offset; pos < offset + length; pos += z.length) {
                write(pos, z, 0, (int) Math.min(z.length, offset + length - pos));
            }
        }

        @Override
        public void flush() throws IOException {
            ch.force(true);
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }

    static final class ViaNbd extends DiskImage {
        private final Path dir;
        private final QemuNbd server;
        private final NbdClient client;

        ViaNbd(Path image, String format, boolean writable, Tools tools, String snapshot) throws IOException {
            dir = Files.createTempDirectory("amirror-img-");
            QemuNbd.Options o = new QemuNbd.Options(format, !writable, List.of(), writable, snapshot);
            QemuNbd s = null;
            try {
                s = QemuNbd.start(tools.qemuNbd(), image, NbdAddress.unix(dir.resolve("nbd.sock"), "img"), o,
                        Duration.ofSeconds(30));
                client = NbdClient.connect(s.address(), List.of(), Duration.ofSeconds(60));
                server = s;
            } catch (IOException | RuntimeException e) {
                if (s != null) {
                    s.close();
                }
                FileTrees.deleteQuietly(dir);
                throw e;
            }
        }

        @Override
        public long size() {
            return client.export().size();
        }

        @Override
        public void read(long offset, byte[] into, int length) throws IOException {
            byte[] b = client.read(offset, length);
            System.arraycopy(b, 0, into, 0, length);
        }

        @Override
        public void write(long offset, byte[] data, int from, int length) throws IOException {
            client.write(offset, from == 0 && length == data.length ? data : Arrays.copyOfRange(data, from,
                    from + length));
        }

        @Override
        public void zero(long offset, long length) throws IOException {
            client.writeZeroes(offset, length, true);
        }

        @Override
        public void flush() throws IOException {
            client.flush();
        }

        @Override
        public void close() {
            client.close();
            server.close();
            FileTrees.deleteQuietly(dir);
        }
    }
}
