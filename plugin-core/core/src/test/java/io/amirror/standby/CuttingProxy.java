package io.amirror.standby;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A user-space link between two loopback ports that the test controls (the kernel here has no
 * netem): it forwards both ways and, when armed, cuts the connection after a given number of bytes
 * from the client, stalls it, or delays every byte by a fixed time each way. Being a TCP-level
 * relay it cannot drop packets; loss shows as delay to the endpoints.
 */
final class CuttingProxy implements AutoCloseable {
    private final ServerSocket server;
    private final InetSocketAddress target;
    private final AtomicLong cutAfter = new AtomicLong(Long.MAX_VALUE);
    private volatile long stallAfter = -1;
    private volatile long delayNanos;
    private final Thread acceptor;

    CuttingProxy(InetSocketAddress target) throws IOException {
        this.target = target;
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.acceptor = new Thread(this::accept, "cutting-proxy");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    InetSocketAddress address() {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), server.getLocalPort());
    }

    /** Every connection from now on delays each byte by {@code oneWay} in both directions. */
    void delay(Duration oneWay) {
        delayNanos = oneWay.toNanos();
    }

    /** The next connection forwards {@code bytes} from the client, then stops reading: a standby that hangs. */
    void stallNextAfter(long bytes) {
        stallAfter = bytes;
    }

    /** The next connection is cut once the client has sent {@code bytes}; MAX_VALUE: never. */
    void cutNextAfter(long bytes) {
        cutAfter.set(bytes);
    }

    private void accept() {
        while (!server.isClosed()) {
            try {
                Socket c = server.accept();
                Socket t = new Socket(target.getAddress(), target.getPort());
                long limit = cutAfter.getAndSet(Long.MAX_VALUE);
                long stall = stallAfter;
                stallAfter = -1;
                if (stall >= 0) {
                    pumpThenStall(c, t, stall);
                } else if (delayNanos > 0) {
                    delayLine(c, t, delayNanos);
                    delayLine(t, c, delayNanos);
                } else {
                    pump(c, t, limit);
                    pump(t, c, Long.MAX_VALUE);
                }
            } catch (IOException e) {
                // closed
            }
        }
    }

    /** Forwards {@code from} to {@code to}, each chunk released {@code nanos} after it arrived. */
    private static void delayLine(Socket from, Socket to, long nanos) {
        LinkedBlockingQueue<Object[]> line = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> {
            byte[] buf = new byte[16384];
            try {
                InputStream in = from.getInputStream();
                for (int n; (n = in.read(buf)) > 0; ) {
                    line.put(new Object[] {System.nanoTime() + nanos, Arrays.copyOf(buf, n)});
                }
            } catch (IOException | InterruptedException ignored) {
                // closed
            }
            line.add(new Object[] {System.nanoTime() + nanos, null});
        }, "proxy-delay-in");
        Thread writer = new Thread(() -> {
            try {
                OutputStream out = to.getOutputStream();
                while (true) {
                    Object[] item = line.take();
                    long wait = (long) item[0] - System.nanoTime();
                    if (wait > 0) {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                    }
                    if (item[1] == null) {
                        to.shutdownOutput();
                        return;
                    }
                    out.write((byte[]) item[1]);
                }
            } catch (IOException | InterruptedException ignored) {
                // closed
            }
        }, "proxy-delay-out");
        reader.setDaemon(true);
        writer.setDaemon(true);
        reader.start();
        writer.start();
    }

    private static void pumpThenStall(Socket from, Socket to, long limit) {
        Thread th = new Thread(() -> {
            long moved = 0;
            byte[] buf = new byte[1024];
            try {
                InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream();
                while (moved < limit) {
                    int n = in.read(buf, 0, (int) Math.min(buf.length, limit - moved));
                    if (n < 0) {
                        return;
                    }
                    out.write(buf, 0, n);
                    moved += n;
                }
                Thread.sleep(Long.MAX_VALUE); // holds both sockets open, reads nothing more
            } catch (IOException | InterruptedException ignored) {
                // test over
            }
        }, "proxy-stall");
        th.setDaemon(true);
        th.start();
        pump(to, from, Long.MAX_VALUE);
    }

    private static void pump(Socket from, Socket to, long limit) {
        Thread th = new Thread(() -> {
            long moved = 0;
            byte[] buf = new byte[8192];
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                for (int n; (n = in.read(buf)) > 0; ) {
                    int allowed = (int) Math.min(n, limit - moved);
                    out.write(buf, 0, allowed);
                    moved += allowed;
                    if (moved >= limit) {
                        break;
                    }
                }
            } catch (IOException ignored) {
                // the other side went away
            } finally {
                try {
                    from.close();
                    to.close();
                } catch (IOException ignored) {
                    // closing
                }
            }
        }, "proxy-pump");
        th.setDaemon(true);
        th.start();
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}
