package io.amirror.nbd;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A {@code qemu-nbd} process serving one image on a unix socket, for as long as this object is open.
 * amirror uses it to read dirty bitmaps of shut-off disks ({@code -r --bitmap=NAME}) and to write
 * replica images; tests use it as the reference NBD server.
 */
public final class QemuNbd implements AutoCloseable {

    /**
     * How to serve the image.
     *
     * @param readOnly  serve read-only ({@code -r})
     * @param bitmap    expose this persistent dirty bitmap as {@code qemu:dirty-bitmap:NAME}, or null
     * @param discard   pass trims through to the image ({@code --discard=unmap})
     */
    public record Options(String format, boolean readOnly, String bitmap, boolean discard) {
        public static Options readWrite(String format) {
            return new Options(format, false, null, true);
        }

        public static Options readOnlyWithBitmap(String format, String bitmap) {
            return new Options(format, true, bitmap, false);
        }
    }

    private final Process process;
    private final Path socket;
    private final String exportName;

    private QemuNbd(Process process, Path socket, String exportName) {
        this.process = process;
        this.socket = socket;
        this.exportName = exportName;
    }

    /** Starts qemu-nbd and waits (up to {@code timeout}) until its socket accepts connections. */
    public static QemuNbd start(Path qemuNbd, Path image, Path socket, String exportName, Options options,
                                Duration timeout) throws NbdException {
        List<String> cmd = new ArrayList<>(List.of(qemuNbd.toString(), "--persistent", "--shared=8",
                "--socket=" + socket, "--export-name=" + exportName, "--format=" + options.format()));
        if (options.readOnly()) {
            cmd.add("--read-only");
        }
        if (options.bitmap() != null) {
            cmd.add("--bitmap=" + options.bitmap());
        }
        if (options.discard()) {
            cmd.add("--discard=unmap");
        }
        cmd.add(image.toString());
        Process p;
        try {
            Files.deleteIfExists(socket);
            p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .start();
        } catch (IOException e) {
            throw new NbdException("cannot start qemu-nbd for " + image + ": " + e.getMessage(), e);
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) {
                String out = output(p);
                throw new NbdException("qemu-nbd for " + image + " exited with " + p.exitValue() + ": " + out.strip());
            }
            if (Files.exists(socket)) {
                try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
                    return new QemuNbd(p, socket, exportName);
                } catch (IOException notYet) {
                    // listening soon
                }
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new NbdException("interrupted while starting qemu-nbd");
            }
        }
        p.destroyForcibly();
        throw new NbdTimeoutException("qemu-nbd for " + image + " did not listen on " + socket + " within "
                + timeout.toSeconds() + " s");
    }

    public NbdAddress address() {
        return NbdAddress.unix(socket, exportName);
    }

    private static String output(Process p) {
        try {
            return new String(p.getInputStream().readNBytes(8192), java.nio.charset.StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    /** Stops qemu-nbd (SIGTERM, then SIGKILL) and waits until the image is released. */
    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        try {
            Files.deleteIfExists(socket);
        } catch (IOException ignored) {
            // qemu-nbd removes it itself on a clean exit
        }
    }
}
