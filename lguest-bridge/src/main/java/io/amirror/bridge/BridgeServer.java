package io.amirror.bridge;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The bridge as a running server: one {@link BridgeVolume}, its NBD export on a unix socket (and
 * optionally TCP) for the guest and for point readers, and {@code control.sock} in the state
 * directory for cutting and deleting points ({@link BridgeControl}). One thread per connection;
 * connections are few (the guest's launcher, one capture at a time).
 */
public final class BridgeServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BridgeServer.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    public static final String CONTROL_SOCKET = "control.sock";

    private final BridgeVolume volume;
    private final List<ServerSocketChannel> listeners = new ArrayList<>();
    private final List<Path> socketFiles = new ArrayList<>();
    private volatile boolean closed;

    private BridgeServer(BridgeVolume volume) {
        this.volume = volume;
    }

    /**
     * Serves {@code volume} on {@code socket} (unix), on {@code tcp} when not null, and its control
     * socket in {@code stateDir}. Stale socket files of an earlier run are replaced.
     */
    public static BridgeServer start(BridgeVolume volume, Path stateDir, Path socket, InetSocketAddress tcp)
            throws IOException {
        BridgeServer s = new BridgeServer(volume);
        try {
            s.listen(s.unix(socket), "nbd-unix", false);
            if (tcp != null) {
                ServerSocketChannel t = ServerSocketChannel.open();
                t.bind(tcp);
                s.listen(t, "nbd-tcp", false);
            }
            s.listen(s.unix(stateDir.resolve(CONTROL_SOCKET)), "control", true);
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
        return s;
    }

    /** The TCP address actually bound (port 0 picks one), if serving TCP. */
    public InetSocketAddress tcpAddress() throws IOException {
        for (ServerSocketChannel l : listeners) {
            if (l.getLocalAddress() instanceof InetSocketAddress a) {
                return a;
            }
        }
        return null;
    }

    private ServerSocketChannel unix(Path path) throws IOException {
        if (path.toString().getBytes(StandardCharsets.UTF_8).length > 107) {
            throw new IOException("socket path " + path + " is longer than the 107 bytes a unix socket allows");
        }
        Files.deleteIfExists(path);
        ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        ch.bind(UnixDomainSocketAddress.of(path));
        socketFiles.add(path);
        return ch;
    }

    private void listen(ServerSocketChannel ch, String what, boolean control) {
        listeners.add(ch);
        Thread t = new Thread(() -> acceptLoop(ch, what, control), "bridge-" + what);
        t.setDaemon(true);
        t.start();
    }

    private void acceptLoop(ServerSocketChannel ch, String what, boolean control) {
        while (!closed) {
            SocketChannel c;
            try {
                c = ch.accept();
            } catch (IOException e) {
                if (!closed) {
                    log.warn("{} listener failed: {}", what, e.getMessage());
                }
                return;
            }
            Runnable r = control ? () -> control(c)
                    : new NbdSession(volume, c, Channels.newInputStream(c), Channels.newOutputStream(c));
            Thread t = new Thread(r, "bridge-" + what + "-conn");
            t.setDaemon(true);
            t.start();
        }
    }

    /** One control request: a line in, a line out. */
    private void control(SocketChannel c) {
        try (c) {
            BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(c), StandardCharsets.UTF_8));
            String line = readLine(in);
            BridgeControl.Answer a;
            try {
                a = new BridgeControl.Answer(true, execute(BridgeControl.decode(line)));
            } catch (IllegalArgumentException e) {
                a = new BridgeControl.Answer(false, e.getMessage());
            } catch (IOException e) {
                log.warn("control request '{}' failed: {}", BridgeControl.printable(line), e.getMessage());
                a = new BridgeControl.Answer(false, "failed: " + e.getMessage());
            }
            var out = Channels.newOutputStream(c);
            out.write((a.encode() + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (IOException e) {
            log.debug("control connection ended: {}", e.getMessage());
        }
    }

    private static String readLine(BufferedReader in) throws IOException {
        StringBuilder b = new StringBuilder();
        int ch;
        while ((ch = in.read()) >= 0 && ch != '\n') {
            if (b.length() >= BridgeControl.MAX_LINE) {
                throw new IOException("control request longer than " + BridgeControl.MAX_LINE + " bytes");
            }
            b.append((char) ch);
        }
        return b.toString();
    }

    private String execute(BridgeControl.Request r) throws IOException {
        if (r instanceof BridgeControl.Cut c) {
            int n = volume.cut(c.atLeast());
            log.info("point {} cut", n);
            return Integer.toString(n);
        }
        if (r instanceof BridgeControl.Release x) {
            volume.release(x.point());
            return "";
        }
        if (r instanceof BridgeControl.Delete x) {
            volume.delete(x.point());
            log.info("point {} deleted", x.point());
            return "";
        }
        return JSON.writeValueAsString(volume.state());
    }

    @Override
    public void close() throws IOException {
        closed = true;
        for (ServerSocketChannel l : listeners) {
            l.close();
        }
        for (Path p : socketFiles) {
            Files.deleteIfExists(p);
        }
    }
}
