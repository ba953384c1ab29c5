package io.amirror.nbd;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.time.Duration;

/**
 * A byte stream to an NBD server (unix socket or TCP) where no operation waits longer than the
 * timeout: each read or write that makes no progress for that long fails with
 * {@link NbdTimeoutException}. Non-blocking channel plus a selector, because blocking
 * {@code SocketChannel}s have no read timeout.
 */
final class NbdChannel implements AutoCloseable {
    private final SocketChannel channel;
    private final Selector selector;
    private final Duration timeout;
    private final String peer;

    private NbdChannel(SocketChannel channel, Selector selector, Duration timeout, String peer) {
        this.channel = channel;
        this.selector = selector;
        this.timeout = timeout;
        this.peer = peer;
    }

    static NbdChannel open(NbdAddress address, Duration timeout) throws NbdException {
        SocketAddress sa = address.isUnix() ? UnixDomainSocketAddress.of(address.socket())
                : new InetSocketAddress(address.host(), address.port());
        SocketChannel ch = null;
        Selector sel = null;
        try {
            ch = address.isUnix() ? SocketChannel.open(StandardProtocolFamily.UNIX) : SocketChannel.open();
            ch.configureBlocking(false);
            sel = Selector.open();
            if (!ch.connect(sa)) {
                SelectionKey key = ch.register(sel, SelectionKey.OP_CONNECT);
                if (sel.select(timeout.toMillis()) == 0) {
                    throw new NbdTimeoutException("connecting to " + address + " timed out after " + timeout.toMillis() + " ms");
                }
                ch.finishConnect();
                key.cancel();
                sel.selectNow();
            }
            if (!address.isUnix()) {
                ch.socket().setTcpNoDelay(true);
            }
            return new NbdChannel(ch, sel, timeout, address.toString());
        } catch (IOException e) {
            closeQuietly(ch, sel);
            if (e instanceof NbdException ne) {
                throw ne;
            }
            throw new NbdException("cannot connect to " + address + ": " + e.getMessage(), e);
        }
    }

    /** Fills {@code buf} completely, or fails on end of stream or timeout. Returns it flipped. */
    ByteBuffer readFully(ByteBuffer buf, String what) throws NbdException {
        try {
            while (buf.hasRemaining()) {
                int n = channel.read(buf);
                if (n < 0) {
                    throw new NbdProtocolException("server closed the connection in the middle of " + what
                            + " (" + buf.position() + " of " + buf.limit() + " bytes received)");
                }
                if (n == 0) {
                    await(SelectionKey.OP_READ, what);
                }
            }
            return buf.flip();
        } catch (NbdException e) {
            throw e;
        } catch (IOException e) {
            throw new NbdException("reading " + what + " from " + peer + ": " + e.getMessage(), e);
        }
    }

    ByteBuffer read(int n, String what) throws NbdException {
        return readFully(ByteBuffer.allocate(n), what);
    }

    void write(ByteBuffer... bufs) throws NbdException {
        try {
            for (ByteBuffer b : bufs) {
                while (b.hasRemaining()) {
                    if (channel.write(b) == 0) {
                        await(SelectionKey.OP_WRITE, "sending to the server");
                    }
                }
            }
        } catch (NbdException e) {
            throw e;
        } catch (IOException e) {
            throw new NbdException("writing to " + peer + ": " + e.getMessage(), e);
        }
    }

    private void await(int op, String what) throws IOException {
        SelectionKey key = channel.register(selector, op);
        try {
            if (selector.select(timeout.toMillis()) == 0) {
                throw new NbdTimeoutException("no progress on " + what + " from " + peer + " for "
                        + timeout.toMillis() + " ms");
            }
        } finally {
            key.interestOps(0);
            selector.selectedKeys().clear();
        }
    }

    @Override
    public void close() {
        closeQuietly(channel, selector);
    }

    private static void closeQuietly(SocketChannel ch, Selector sel) {
        try {
            if (sel != null) {
                sel.close();
            }
        } catch (IOException ignored) {
            // closing
        }
        try {
            if (ch != null) {
                ch.close();
            }
        } catch (IOException ignored) {
            // closing
        }
    }
}
