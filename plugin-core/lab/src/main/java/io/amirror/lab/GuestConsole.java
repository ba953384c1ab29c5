package io.amirror.lab;

import io.amirror.util.Pause;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Base64;
import java.util.Deque;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Runs shell scripts inside a lab guest over its serial port (a unix socket QEMU listens on).
 *
 * <p>The protocol is the one {@code guest-init.sh} serves: scripts go down base64-encoded on one line
 * with a request id; the reply comes back framed by {@code @@AMX-BEGIN id} and {@code @@AMX-END id rc}
 * with the output base64-encoded, so any bytes survive the trip. Replies to earlier requests that
 * timed out are recognised by their id and dropped. One request at a time: callers share a console
 * only under their own lock.
 */
public final class GuestConsole implements AutoCloseable {

    /** What a script printed (stdout and stderr interleaved) and its exit status. */
    public record Result(int exitCode, String output) {
    }

    private static final String READY = "@@AMX-READY";
    private static final String BEGIN = "@@AMX-BEGIN ";
    private static final String END = "@@AMX-END ";
    private static final Object EOF = new Object();

    private final String guestName;
    private final SocketChannel channel;
    private final BlockingQueue<Object> lines = new LinkedBlockingQueue<>();
    private final Deque<String> recent = new ArrayDeque<>();
    private final Thread reader;
    private long nextId = 1;

    private GuestConsole(String guestName, SocketChannel channel) {
        this.guestName = guestName;
        this.channel = channel;
        this.reader = new Thread(this::readLoop, "console-" + guestName);
        reader.setDaemon(true);
        reader.start();
    }

    /** Connects to the console socket, waiting up to {@code timeout} for QEMU to create it. */
    public static GuestConsole connect(String guestName, Path socket, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        IOException last = null;
        while (System.nanoTime() < deadline) {
            try {
                SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(socket));
                return new GuestConsole(guestName, ch);
            } catch (IOException e) {
                last = e;
                Pause.millis(100);
            }
        }
        throw new GuestException("console of " + guestName + " at " + socket + " did not open within "
                + timeout.toSeconds() + " s" + (last == null ? "" : ": " + last.getMessage()));
    }

    /** Waits until the guest's init says it is ready; returns the guest kernel's release. */
    public String awaitReady(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            String line = nextLine(deadline, "boot");
            if (line.startsWith(READY)) {
                return line.substring(READY.length()).trim();
            }
        }
    }

    /** Runs {@code script} with {@code sh} in the guest and returns its output and exit status. */
    public Result run(String script, Duration timeout) {
        long id = nextId++;
        String encoded = Base64.getEncoder().encodeToString(script.getBytes(StandardCharsets.UTF_8));
        send(id + " " + encoded + "\n");
        long deadline = System.nanoTime() + timeout.toNanos();
        String what = "script `" + abbreviate(script) + "`";
        String begin = BEGIN + id;
        while (!nextLine(deadline, what).equals(begin)) {
            // boot noise, or the tail of a reply to an earlier request that timed out
        }
        ByteArrayOutputStream b64 = new ByteArrayOutputStream();
        String endPrefix = END + id + " ";
        while (true) {
            String line = nextLine(deadline, what);
            if (line.startsWith(endPrefix)) {
                int rc = Integer.parseInt(line.substring(endPrefix.length()).trim());
                byte[] out = Base64.getMimeDecoder().decode(b64.toByteArray());
                return new Result(rc, new String(out, StandardCharsets.UTF_8));
            }
            b64.writeBytes(line.getBytes(StandardCharsets.US_ASCII));
        }
    }

    /** Runs {@code script} and returns its output; a non-zero exit status is a {@link GuestException}. */
    public String check(String script, Duration timeout) {
        Result r = run(script, timeout);
        if (r.exitCode() != 0) {
            throw new GuestException("in " + guestName + ", `" + abbreviate(script) + "` exited with "
                    + r.exitCode() + ": " + r.output().strip());
        }
        return r.output();
    }

    public String check(String script) {
        return check(script, Duration.ofSeconds(120));
    }

    /**
     * Loads the guest's drivers for disks off virtio ({@link GuestKit#BUS_MODULES}: virtio-scsi, AHCI,
     * PIIX IDE); a driver already loaded is left as it is.
     */
    public void loadDiskBuses() {
        StringBuilder script = new StringBuilder();
        for (String m : GuestKit.BUS_MODULES) {
            String ko = m.substring(m.lastIndexOf('/') + 1);
            // the kernel names a module by its file with '-' as '_'
            script.append("grep -q '^").append(ko.replace('-', '_')).append(" ' /proc/modules || insmod /lib/modules/")
                    .append(ko).append(".ko || exit 1\n");
        }
        check(script.toString(), Duration.ofSeconds(120));
    }

    /**
     * The guest's name ({@code sdb}, {@code vdc}...) of the one block device of {@code sizeBytes},
     * waiting for it to appear (ATA and SCSI disks are probed after their driver loads). The guest
     * names disks off virtio in the order it finds them, so tests tell them apart by size.
     */
    public String diskOfSize(long sizeBytes, Duration timeout) {
        String script = "for d in /sys/block/*; do [ \"$(cat $d/size)\" = " + sizeBytes / 512
                + " ] && echo ${d##*/}; done; true";
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            String[] found = check(script).trim().split("\\s+");
            if (found.length == 1 && !found[0].isEmpty()) {
                return found[0];
            }
            if (found.length > 1) {
                throw new GuestException("in " + guestName + ", several disks of " + sizeBytes + " bytes: "
                        + String.join(", ", found));
            }
            if (System.nanoTime() > deadline) {
                throw new GuestException("in " + guestName + ", no disk of " + sizeBytes + " bytes within "
                        + timeout.toSeconds() + " s: " + check("ls /sys/block").trim());
            }
            Pause.millis(500);
        }
    }

    /**
     * Writes {@code count} random 64 KiB blocks at 64 KiB block {@code at} of the guest's disk
     * {@code disk} ({@code vdb}, {@code sda}...) and fsyncs it; returns the MD5 of what it wrote.
     */
    public String writeRandom(String disk, int at, int count) {
        check("dd if=/dev/urandom of=/dev/" + disk + " bs=64k seek=" + at + " count=" + count + " conv=fsync 2>/dev/null");
        return md5(disk, at, count);
    }

    /** The MD5 of {@code count} 64 KiB blocks at 64 KiB block {@code at} of the guest's disk {@code disk}. */
    public String md5(String disk, int at, int count) {
        return check("dd if=/dev/" + disk + " bs=64k skip=" + at + " count=" + count + " 2>/dev/null | md5sum").trim()
                .split("\\s+")[0];
    }

    /**
     * Writes {@code data} at byte {@code offset} of guest block device {@code device} (e.g.
     * {@code /dev/vda}) with dd, bypassing no caches, then fsyncs the device. The bytes travel
     * base64-encoded in the script, so keep each call to a few hundred KiB.
     */
    public void writeBytes(String device, long offset, byte[] data) {
        int bs = offset % 4096 == 0 && data.length % 4096 == 0 ? 4096
                : offset % 512 == 0 && data.length % 512 == 0 ? 512 : 1;
        String b64 = Base64.getEncoder().encodeToString(data);
        check("echo '" + b64 + "' | base64 -d > /tmp/.amx-w && dd if=/tmp/.amx-w of='" + device + "' bs=" + bs
                + " seek=" + (offset / bs) + " count=" + (data.length / bs) + " conv=notrunc,fsync 2>/dev/null"
                + " && rm /tmp/.amx-w", Duration.ofSeconds(120));
    }

    private void send(String line) {
        ByteBuffer buf = ByteBuffer.wrap(line.getBytes(StandardCharsets.US_ASCII));
        try {
            synchronized (channel) {
                while (buf.hasRemaining()) {
                    channel.write(buf);
                }
            }
        } catch (IOException e) {
            throw new GuestException("console of " + guestName + " closed: " + e.getMessage(), e);
        }
    }

    private String nextLine(long deadline, String waitingFor) {
        try {
            long left = deadline - System.nanoTime();
            Object line = left <= 0 ? null : lines.poll(left, TimeUnit.NANOSECONDS);
            if (line == null) {
                throw new GuestException(guestName + " did not finish " + waitingFor + " in time; last console lines:\n"
                        + recentText());
            }
            if (line == EOF) {
                lines.offer(EOF);
                throw new GuestException("console of " + guestName + " closed while waiting for " + waitingFor
                        + " (guest stopped?); last console lines:\n" + recentText());
            }
            return (String) line;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new GuestException("interrupted while waiting for " + guestName, e);
        }
    }

    private void readLoop() {
        ByteBuffer buf = ByteBuffer.allocate(8192);
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        try {
            while (channel.read(buf) >= 0) {
                buf.flip();
                while (buf.hasRemaining()) {
                    byte b = buf.get();
                    if (b == '\n') {
                        String s = line.toString(StandardCharsets.ISO_8859_1).replace("\r", "");
                        line.reset();
                        remember(s);
                        lines.offer(s);
                    } else {
                        line.write(b);
                    }
                }
                buf.clear();
            }
        } catch (IOException ignored) {
            // closed by us or by QEMU: either way the guest is gone
        }
        lines.offer(EOF);
    }

    private void remember(String line) {
        synchronized (recent) {
            if (line.startsWith(BEGIN) || line.startsWith(END) || !line.contains("@@AMX") && line.length() == 76
                    && line.matches("[A-Za-z0-9+/=]+")) {
                return; // protocol framing and base64 payload say nothing useful in an error
            }
            recent.addLast(line);
            while (recent.size() > 30) {
                recent.removeFirst();
            }
        }
    }

    private String recentText() {
        synchronized (recent) {
            return recent.isEmpty() ? "(none)" : String.join("\n", recent);
        }
    }

    private static String abbreviate(String script) {
        String oneLine = script.replace('\n', ';').strip();
        return oneLine.length() <= 80 ? oneLine : oneLine.substring(0, 77) + "...";
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // nothing to do: it is closed either way
        }
    }
}
