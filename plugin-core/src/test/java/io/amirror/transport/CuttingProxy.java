package io.amirror.transport;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A user-space link between two loopback ports that the test controls: it forwards both ways and,
 * when armed, cuts the connection after a given number of bytes from the client (the kernel here
 * has no netem for loss and cuts).
 */
final class CuttingProxy implements AutoCloseable {
    private final ServerSocket server;
    private final InetSocketAddress target;
    private final AtomicLong cutAfter = new AtomicLong(Long.MAX_VALUE);
    private volatile long stallAfter = -1;
    private final Thread acceptor;

    CuttingProxy(InetSocketAddress target) throws IOException {
        this.target = target;
        this.server = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
        this.acceptor = new Thread(this::accept, "cutting-proxy");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    InetSocketAddress address() {
        return new InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), server.getLocalPort());
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
                } else {
                    pump(c, t, limit);
                    pump(t, c, Long.MAX_VALUE);
                }
            } catch (IOException e) {
                // closed
            }
        }
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
