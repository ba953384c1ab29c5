package io.amirror.nbd;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
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
     * @param bitmaps   persistent dirty bitmaps to expose, each as {@code qemu:dirty-bitmap:NAME}
     * @param discard   pass trims through to the image ({@code --discard=unmap})
     */
    /**
     * @param snapshot      an internal snapshot to export instead of the image's current state (read-only), or null
     * @param besideWriters open the image without QEMU's image locks ({@code force-share}, no lock bytes;
     *                      read-only only), so that another process may write it meanwhile and sees no
     *                      reader: safe for an internal snapshot, whose clusters a writer of the image's
     *                      current state never changes
     */
    public record Options(String format, boolean readOnly, List<String> bitmaps, boolean discard, String snapshot,
                          boolean besideWriters) {
        public Options {
            bitmaps = List.copyOf(bitmaps);
            if (besideWriters && !readOnly) {
                throw new IllegalArgumentException("only a read-only export may share the image with its writers");
            }
        }

        public Options(String format, boolean readOnly, List<String> bitmaps, boolean discard) {
            this(format, readOnly, bitmaps, discard, null, false);
        }

        public Options(String format, boolean readOnly, List<String> bitmaps, boolean discard, String snapshot) {
            this(format, readOnly, bitmaps, discard, snapshot, false);
        }

        /** Internal snapshot {@code snapshot} read-only, while the image's current state goes on being written. */
        public static Options snapshotBesideWriters(String format, String snapshot) {
            return new Options(format, true, List.of(), false, snapshot, true);
        }

        public static Options readWrite(String format) {
            return new Options(format, false, List.of(), true);
        }

        public static Options readOnlyWithBitmap(String format, String bitmap) {
            return new Options(format, true, List.of(bitmap), false);
        }
    }

    private final Process process;
    private final NbdAddress address;

    private QemuNbd(Process process, NbdAddress address) {
        this.process = process;
        this.address = address;
    }

    /**
     * Starts qemu-nbd listening at {@code listen} (a unix socket, or a TCP host and port) and waits
     * (up to {@code timeout}) until it accepts connections.
     */
    public static QemuNbd start(Path qemuNbd, Path image, NbdAddress listen, Options options, Duration timeout)
            throws NbdException {
        List<String> cmd = new ArrayList<>(List.of(qemuNbd.toString(), "--persistent", "--shared=8",
                "--export-name=" + listen.exportName()));
        if (!options.besideWriters()) {
            cmd.add("--format=" + options.format());
        }
        if (listen.isUnix()) {
            cmd.add("--socket=" + listen.socket());
        } else {
            cmd.addAll(List.of("--bind=" + listen.host(), "--port=" + listen.port()));
        }
        if (options.readOnly()) {
            cmd.add("--read-only");
        }
        if (options.snapshot() != null) {
            cmd.add("--load-snapshot=" + options.snapshot());
        }
        for (String b : options.bitmaps()) {
            cmd.add("--bitmap=" + b);
        }
        if (options.discard()) {
            cmd.add("--discard=unmap");
        }
        if (options.besideWriters()) {
            // qemu-nbd 7.2 has no --force-share; the block layer's options are reached through --image-opts
            // (commas in a value are written twice). Without file.locking=off the export would hold QEMU's
            // read lock byte, and the writer (the standby's apply) would take the image for a running guest's.
            cmd.add("--image-opts");
            cmd.add("driver=" + options.format() + ",file.driver=file,file.filename="
                    + image.toString().replace(",", ",,") + ",file.locking=off,force-share=on,read-only=on");
        } else {
            cmd.add(image.toString());
        }
        Process p;
        try {
            if (listen.isUnix()) {
                Files.deleteIfExists(listen.socket());
            }
            p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
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
            if (accepts(listen)) {
                return new QemuNbd(p, listen);
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
        throw new NbdTimeoutException("qemu-nbd for " + image + " did not listen on " + listen + " within "
                + timeout.toSeconds() + " s");
    }

    /** The qemu-nbd process's id, for a record that lets a later run stop it if this one dies. */
    public long pid() {
        return process.pid();
    }

    public NbdAddress address() {
        return address;
    }

    private static boolean accepts(NbdAddress a) {
        if (a.isUnix() && !Files.exists(a.socket())) {
            return false;
        }
        try (SocketChannel ch = a.isUnix() ? SocketChannel.open(UnixDomainSocketAddress.of(a.socket()))
                : SocketChannel.open(new InetSocketAddress(a.host(), a.port()))) {
            return ch.isConnected();
        } catch (IOException notYet) {
            return false;
        }
    }

    private static String output(Process p) {
        try {
            return new String(p.getInputStream().readNBytes(8192), StandardCharsets.UTF_8);
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
        if (address.isUnix()) {
            try {
                Files.deleteIfExists(address.socket());
            } catch (IOException ignored) {
                // qemu-nbd removes it itself on a clean exit
            }
        }
    }
}
