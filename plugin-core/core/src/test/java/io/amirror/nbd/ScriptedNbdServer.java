package io.amirror.nbd;

import io.amirror.nbd.NbdMessages.OptionHeader;
import io.amirror.nbd.NbdMessages.Request;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import static io.amirror.nbd.NbdConstants.*;

/**
 * An NBD server for tests that follows a script: it can speak the protocol correctly (using the
 * project's codec) and then break it in exactly one way. One connection, served on its own thread.
 */
final class ScriptedNbdServer implements AutoCloseable {

    @FunctionalInterface
    interface Script {
        void run(Conn c) throws Exception;
    }

    private final ServerSocketChannel server;
    private final Thread thread;
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final Path socket;

    ScriptedNbdServer(Path socket, Script script) throws IOException {
        this.socket = socket;
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        thread = new Thread(() -> {
            try (SocketChannel ch = server.accept()) {
                script.run(new Conn(ch));
            } catch (Throwable t) {
                failure.set(t);
            }
        }, "scripted-nbd");
        thread.setDaemon(true);
        thread.start();
    }

    NbdAddress address() {
        return NbdAddress.unix(socket, "disk");
    }

    @Override
    public void close() throws Exception {
        server.close();
        thread.join(5000);
        thread.interrupt();
    }

    /** One accepted connection and the moves a script can make on it. */
    static final class Conn {
        final SocketChannel ch;

        Conn(SocketChannel ch) {
            this.ch = ch;
        }

        void send(ByteBuffer... bufs) throws IOException {
            for (ByteBuffer b : bufs) {
                while (b.hasRemaining()) {
                    ch.write(b);
                }
            }
        }

        void send(byte[] b) throws IOException {
            send(ByteBuffer.wrap(b));
        }

        ByteBuffer read(int n) throws IOException {
            ByteBuffer b = ByteBuffer.allocate(n);
            while (b.hasRemaining()) {
                if (ch.read(b) < 0) {
                    throw new IOException("client closed");
                }
            }
            return b.flip();
        }

        /**
         * A correct handshake: greeting, then answers to every option until NBD_OPT_GO, granting the
         * contexts in {@code contexts} (name to id) when asked for them.
         */
        void handshake(long size, int transmissionFlags, int maxBlock, Map<String, Integer> contexts) throws IOException {
            send(NbdCodec.encodeGreeting(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES));
            read(4);
            while (true) {
                OptionHeader h = NbdCodec.decodeOptionHeader(read(16));
                ByteBuffer data = read(h.length());
                switch (h.option()) {
                    case OPT_STRUCTURED_REPLY -> send(NbdCodec.encodeOptionReply(h.option(), REP_ACK, new byte[0]));
                    case OPT_SET_META_CONTEXT -> {
                        data.position(4 + data.getInt(0));
                        int n = data.getInt();
                        for (int i = 0; i < n; i++) {
                            byte[] q = new byte[data.getInt()];
                            data.get(q);
                            Integer id = contexts.get(new String(q));
                            if (id != null) {
                                send(NbdCodec.encodeOptionReply(h.option(), REP_META_CONTEXT,
                                        NbdCodec.encodeMetaContextReply(id, new String(q))));
                            }
                        }
                        send(NbdCodec.encodeOptionReply(h.option(), REP_ACK, new byte[0]));
                    }
                    case OPT_GO -> {
                        send(NbdCodec.encodeOptionReply(h.option(), REP_INFO,
                                NbdCodec.encodeInfoExport(size, transmissionFlags)));
                        send(NbdCodec.encodeOptionReply(h.option(), REP_INFO,
                                NbdCodec.encodeInfoBlockSize(1, 4096, maxBlock)));
                        send(NbdCodec.encodeOptionReply(h.option(), REP_ACK, new byte[0]));
                        return;
                    }
                    default -> send(NbdCodec.encodeOptionReply(h.option(), REP_ERR_UNSUP, new byte[0]));
                }
            }
        }

        /** The usual handshake: a 1 MiB export, writable, with base:allocation as context 7. */
        void handshake() throws IOException {
            handshake(1 << 20, TFLAG_HAS_FLAGS | TFLAG_SEND_FLUSH | TFLAG_SEND_TRIM | TFLAG_SEND_WRITE_ZEROES,
                    64 * 1024, Map.of(CONTEXT_BASE_ALLOCATION, 7));
        }

        Request nextRequest() throws IOException {
            Request r = NbdCodec.decodeRequest(read(REQUEST_HEADER_SIZE));
            if (r.type() == CMD_WRITE) {
                read(r.length());
            }
            return r;
        }

        void chunk(int flags, int type, long cookie, byte[] payload) throws IOException {
            send(NbdCodec.encodeChunkHeader(flags, type, cookie, payload.length), ByteBuffer.wrap(payload));
        }

        /** An OFFSET_DATA chunk: offset then data. */
        void data(int flags, long cookie, long offset, byte[] bytes) throws IOException {
            chunk(flags, REPLY_TYPE_OFFSET_DATA, cookie,
                    ByteBuffer.allocate(8 + bytes.length).putLong(offset).put(bytes).array());
        }

        /** Blocks until the client hangs up (for stalls). */
        void waitForClose() throws IOException {
            ByteBuffer b = ByteBuffer.allocate(4096);
            while (ch.read(b) >= 0) {
                b.clear();
            }
        }
    }
}
