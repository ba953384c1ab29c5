package io.amirror.bridge;

import io.amirror.nbd.NbdCodec;
import io.amirror.nbd.NbdMessages.Descriptor;
import io.amirror.nbd.NbdMessages.OptionHeader;
import io.amirror.nbd.NbdMessages.Request;
import io.amirror.nbd.NbdProtocolException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSocket;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static io.amirror.nbd.NbdConstants.*;

/**
 * One client connection of the bridge's NBD server: the fixed newstyle handshake, then requests
 * handled one at a time, in order (which also orders the guest's writes against point cuts).
 *
 * <p>The client is not trusted. Anything that leaves the byte stream in doubt (bad magic, unknown
 * client flags, a write payload over the request bound, too many options) closes the connection
 * before it touches the image. A well-formed request that cannot be honoured (out of range, a
 * read over the bound, a write to a point, unknown flags or command) gets an error reply and
 * changes nothing; nothing is allocated for a request before its length was checked.
 *
 * <p>With {@link BridgeTls} (TCP), TLS is required before anything else (FORCEDTLS):
 * NBD_OPT_STARTTLS is answered, the connection becomes TLS with a verified client certificate,
 * and only then are exports named; NBD_OPT_EXPORT_NAME before it closes the connection, other
 * options get NBD_REP_ERR_TLS_REQD. The caller's {@link Deadlines.Deadline} bounds the handshake
 * (TLS included), each request, and optionally the idle time between requests; the caller closes
 * the channel.
 */
final class NbdSession implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(NbdSession.class);
    private static final int MAX_OPTIONS = 64;
    private static final List<Integer> SUPPORTED = List.of(CMD_READ, CMD_WRITE, CMD_FLUSH, CMD_TRIM, CMD_WRITE_ZEROES,
            CMD_BLOCK_STATUS, CMD_CACHE);
    private static final int KNOWN_FLAGS = CMD_FLAG_FUA | CMD_FLAG_NO_HOLE | CMD_FLAG_DF | CMD_FLAG_REQ_ONE
            | CMD_FLAG_FAST_ZERO;

    private final BridgeVolume volume;
    private final SocketChannel channel;
    private final BridgeTls tls;
    private final BridgeServer.Limits limits;
    private final Deadlines.Deadline deadline;
    private DrainableInput buffered;
    private DataInputStream in;
    private OutputStream out;
    private boolean tlsActive;
    private boolean structured;
    private final Map<Integer, String> contexts = new LinkedHashMap<>();
    private String contextsFor;

    /** {@code tls}: null for a plain connection (unix sockets, loopback TCP without TLS). */
    NbdSession(BridgeVolume volume, SocketChannel channel, BridgeTls tls, BridgeServer.Limits limits,
               Deadlines.Deadline deadline) {
        this.volume = volume;
        this.channel = channel;
        this.tls = tls;
        this.limits = limits;
        this.deadline = deadline;
        streams(Channels.newInputStream(channel), Channels.newOutputStream(channel));
    }

    private void streams(InputStream i, OutputStream o) {
        buffered = new DrainableInput(i);
        in = new DataInputStream(buffered);
        out = new BufferedOutputStream(o, 1 << 16);
    }

    /** A buffered stream that hands over what it read ahead, for the TLS layer to start from. */
    private static final class DrainableInput extends BufferedInputStream {
        DrainableInput(InputStream in) {
            super(in, 1 << 16);
        }

        synchronized byte[] drain() {
            byte[] b = Arrays.copyOfRange(buf, pos, count);
            pos = count;
            return b;
        }
    }

    @Override
    public void run() {
        try {
            deadline.arm(limits.handshake(), "the handshake");
            Optional<BridgeExport> export = handshake();
            if (export.isPresent()) {
                transmission(export.get());
            }
        } catch (EOFException e) {
            // the client went away
        } catch (NbdProtocolException e) {
            log.warn("NBD client dropped: {}", e.getMessage());
        } catch (SSLException e) {
            log.warn("NBD client {} refused: TLS: {}", peer(), e.getMessage());
        } catch (IOException e) {
            log.debug("NBD connection ended: {}", e.getMessage());
        }
    }

    // ---------------------------------------------------------------- handshake

    private Optional<BridgeExport> handshake() throws IOException {
        send(NbdCodec.encodeGreeting(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES));
        out.flush();
        int clientFlags = in.readInt();
        if ((clientFlags & ~(CLIENT_FLAG_FIXED_NEWSTYLE | CLIENT_FLAG_NO_ZEROES)) != 0
                || (clientFlags & CLIENT_FLAG_FIXED_NEWSTYLE) == 0) {
            throw new NbdProtocolException(String.format("client flags 0x%08x", clientFlags));
        }
        boolean noZeroes = (clientFlags & CLIENT_FLAG_NO_ZEROES) != 0;
        for (int i = 0; i < MAX_OPTIONS; i++) {
            OptionHeader h = NbdCodec.decodeOptionHeader(ByteBuffer.wrap(readBytes(16)));
            ByteBuffer data = ByteBuffer.wrap(readBytes(h.length()));
            if (tls != null && !tlsActive) {
                switch (h.option()) {
                    case OPT_STARTTLS -> {
                        if (data.hasRemaining()) {
                            reply(h.option(), REP_ERR_INVALID, "STARTTLS takes no data".getBytes(StandardCharsets.UTF_8));
                        } else {
                            reply(h.option(), REP_ACK, new byte[0]);
                            startTls();
                        }
                    }
                    case OPT_ABORT -> {
                        reply(h.option(), REP_ACK, new byte[0]);
                        return Optional.empty();
                    }
                    case OPT_EXPORT_NAME -> {
                        log.warn("NBD client {} dropped: it asked for an export without TLS, which this port requires",
                                peer());
                        return Optional.empty(); // cannot be answered with an error: close
                    }
                    default -> reply(h.option(), REP_ERR_TLS_REQD,
                            "this server requires TLS: send NBD_OPT_STARTTLS first".getBytes(StandardCharsets.UTF_8));
                }
                continue;
            }
            switch (h.option()) {
                case OPT_STARTTLS -> reply(h.option(), tls == null ? REP_ERR_UNSUP : REP_ERR_INVALID,
                        (tls == null ? "no TLS on this socket" : "TLS is already on").getBytes(StandardCharsets.UTF_8));
                case OPT_EXPORT_NAME -> {
                    String name = new String(data.array(), StandardCharsets.UTF_8);
                    Optional<BridgeExport> e = BridgeExport.resolve(volume, name);
                    if (e.isEmpty()) {
                        return Optional.empty(); // the only answer this option allows: close
                    }
                    ByteBuffer b = ByteBuffer.allocate(noZeroes ? 10 : 134).putLong(e.get().size())
                            .putShort((short) flags(e.get()));
                    send(b.position(b.capacity()).flip());
                    out.flush();
                    contexts.clear();
                    return e;
                }
                case OPT_ABORT -> {
                    reply(h.option(), REP_ACK, new byte[0]);
                    return Optional.empty();
                }
                case OPT_STRUCTURED_REPLY -> {
                    if (data.hasRemaining()) {
                        reply(h.option(), REP_ERR_INVALID, new byte[0]);
                    } else {
                        structured = true;
                        reply(h.option(), REP_ACK, new byte[0]);
                    }
                }
                case OPT_LIST -> {
                    listExports(h.option());
                }
                case OPT_SET_META_CONTEXT, OPT_LIST_META_CONTEXT -> metaContexts(h.option(), data);
                case OPT_INFO, OPT_GO -> {
                    Optional<BridgeExport> e = infoOrGo(h.option(), data);
                    if (e.isPresent() && h.option() == OPT_GO) {
                        return e;
                    }
                }
                default -> reply(h.option(), REP_ERR_UNSUP, new byte[0]);
            }
        }
        throw new NbdProtocolException("more than " + MAX_OPTIONS + " options");
    }

    /** After the ACK: TLS as the server over the same socket, with what the buffer already read. */
    private void startTls() throws IOException {
        SSLSocket s = tls.startTls(channel.socket(), buffered.drain());
        streams(s.getInputStream(), s.getOutputStream());
        tlsActive = true;
        log.info("NBD client {}: TLS with {}", peer(), s.getSession().getPeerPrincipal().getName());
    }

    private String peer() {
        try {
            return String.valueOf(channel.getRemoteAddress());
        } catch (IOException e) {
            return "?";
        }
    }

    private void listExports(int option) throws IOException {
        List<String> names = new ArrayList<>(List.of(volume.state().name()));
        for (int p : volume.state().points()) {
            if (volume.readable(p)) {
                names.add(BridgeExport.POINT_PREFIX + p);
            }
        }
        for (String n : names) {
            byte[] b = n.getBytes(StandardCharsets.UTF_8);
            reply(option, REP_SERVER, ByteBuffer.allocate(4 + b.length).putInt(b.length).put(b).array());
        }
        reply(option, REP_ACK, new byte[0]);
    }

    private Optional<BridgeExport> infoOrGo(int option, ByteBuffer data) throws IOException {
        String name;
        try {
            name = string(data);
            int n = Short.toUnsignedInt(data.getShort());
            if (data.remaining() != 2 * n) {
                throw new BufferUnderflowException();
            }
        } catch (RuntimeException e) {
            reply(option, REP_ERR_INVALID, "malformed request".getBytes(StandardCharsets.UTF_8));
            return Optional.empty();
        }
        Optional<BridgeExport> e = BridgeExport.resolve(volume, name);
        if (e.isEmpty()) {
            reply(option, REP_ERR_UNKNOWN, ("no export '" + name + "'").getBytes(StandardCharsets.UTF_8));
            return Optional.empty();
        }
        reply(option, REP_INFO, NbdCodec.encodeInfoExport(e.get().size(), flags(e.get())));
        reply(option, REP_INFO, NbdCodec.encodeInfoBlockSize(1, DirtyMap.BLOCK, limits.maxRequestBytes()));
        reply(option, REP_ACK, new byte[0]);
        if (option == OPT_GO && !name.equals(contextsFor)) {
            contexts.clear(); // contexts chosen for another export do not carry over
        }
        return e;
    }

    private void metaContexts(int option, ByteBuffer data) throws IOException {
        String name;
        List<String> queries = new ArrayList<>();
        try {
            name = string(data);
            int n = data.getInt();
            if (n < 0 || n > 1024) {
                throw new BufferUnderflowException();
            }
            for (int i = 0; i < n; i++) {
                queries.add(string(data));
            }
            if (data.hasRemaining()) {
                throw new BufferUnderflowException();
            }
        } catch (RuntimeException e) {
            reply(option, REP_ERR_INVALID, "malformed request".getBytes(StandardCharsets.UTF_8));
            return;
        }
        if (option == OPT_SET_META_CONTEXT && !structured) {
            reply(option, REP_ERR_INVALID, "structured replies first".getBytes(StandardCharsets.UTF_8));
            return;
        }
        Optional<BridgeExport> e = BridgeExport.resolve(volume, name);
        if (e.isEmpty()) {
            reply(option, REP_ERR_UNKNOWN, ("no export '" + name + "'").getBytes(StandardCharsets.UTF_8));
            return;
        }
        List<String> offered = e.get().contexts();
        List<String> chosen = new ArrayList<>();
        for (String q : option == OPT_LIST_META_CONTEXT && queries.isEmpty() ? offered : queries) {
            for (String c : offered) {
                boolean match = option == OPT_SET_META_CONTEXT ? c.equals(q)
                        : c.equals(q) || (q.endsWith(":") && c.startsWith(q));
                if (match && !chosen.contains(c)) {
                    chosen.add(c);
                }
            }
        }
        if (option == OPT_SET_META_CONTEXT) {
            contexts.clear();
            contextsFor = name;
        }
        for (String c : chosen) {
            int id = option == OPT_SET_META_CONTEXT ? contexts.size() + 1 : 0;
            if (option == OPT_SET_META_CONTEXT) {
                contexts.put(id, c);
            }
            reply(option, REP_META_CONTEXT, NbdCodec.encodeMetaContextReply(id, c));
        }
        reply(option, REP_ACK, new byte[0]);
    }

    private static String string(ByteBuffer b) {
        int n = b.getInt();
        if (n < 0 || n > MAX_STRING || n > b.remaining()) {
            throw new BufferUnderflowException();
        }
        byte[] s = new byte[n];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }

    private static int flags(BridgeExport e) {
        int f = TFLAG_HAS_FLAGS | TFLAG_SEND_FLUSH | TFLAG_SEND_FUA;
        if (e.readOnly()) {
            return f | TFLAG_READ_ONLY;
        }
        return f | TFLAG_SEND_TRIM | TFLAG_SEND_WRITE_ZEROES;
    }

    // ---------------------------------------------------------------- transmission

    private void transmission(BridgeExport export) throws IOException {
        while (true) {
            deadline.arm(limits.idle(), "waiting for a request");
            int first = in.read();
            if (first < 0) {
                throw new EOFException();
            }
            deadline.arm(limits.request(), "a request");
            byte[] header = new byte[REQUEST_HEADER_SIZE];
            header[0] = (byte) first;
            in.readFully(header, 1, header.length - 1);
            Request r = NbdCodec.decodeRequest(ByteBuffer.wrap(header));
            long length = Integer.toUnsignedLong(r.length());
            if (r.type() == CMD_WRITE && length > limits.maxRequestBytes()) {
                // its payload follows and cannot be told from the next request without reading it all
                throw new NbdProtocolException("WRITE of " + length + " bytes: beyond the " + limits.maxRequestBytes()
                        + " announced");
            }
            byte[] payload = r.type() == CMD_WRITE ? readBytes((int) length) : null;
            if (r.type() == CMD_DISC) {
                out.flush();
                return;
            }
            int error = check(export, r, length);
            if (error != 0) {
                error(r, error, "refused " + commandName(r.type()) + " at " + Long.toUnsignedString(r.offset()) + "+" + length);
                continue;
            }
            try {
                handle(export, r, length, payload);
            } catch (IOException | RuntimeException e) {
                log.warn("{} at {}+{} failed: {}", commandName(r.type()), r.offset(), length, e.toString());
                error(r, EIO, commandName(r.type()) + " failed");
            }
            out.flush();
        }
    }

    /** The error a well-formed request gets before anything is done, or 0. */
    private int check(BridgeExport export, Request r, long length) {
        if ((r.flags() & ~KNOWN_FLAGS) != 0) {
            return EINVAL;
        }
        if (r.type() == CMD_READ && length > limits.maxRequestBytes()) {
            return EINVAL; // as qemu-nbd: the spec keeps EOVERFLOW for NBD_CMD_FLAG_DF, which this server does not offer
        }
        if (!SUPPORTED.contains(r.type())) {
            return EINVAL;
        }
        boolean ranged = r.type() != CMD_FLUSH;
        if (ranged && (r.offset() < 0 || r.offset() > export.size() || length > export.size() - r.offset())) {
            return r.type() == CMD_WRITE || r.type() == CMD_WRITE_ZEROES ? ENOSPC : EINVAL;
        }
        if (export.readOnly() && (r.type() == CMD_WRITE || r.type() == CMD_TRIM || r.type() == CMD_WRITE_ZEROES)) {
            return EPERM;
        }
        if (r.type() == CMD_BLOCK_STATUS && (!structured || contexts.isEmpty())) {
            return EINVAL;
        }
        if (r.type() == CMD_FLUSH && length != 0) {
            return EINVAL;
        }
        return 0;
    }

    private void handle(BridgeExport export, Request r, long length, byte[] payload) throws IOException {
        switch (r.type()) {
            case CMD_READ -> {
                ByteBuffer b = ByteBuffer.allocate((int) length);
                export.read(r.offset(), b);
                if (structured) {
                    if (length == 0) {
                        send(NbdCodec.encodeChunkHeader(REPLY_FLAG_DONE, REPLY_TYPE_NONE, r.cookie(), 0));
                    } else {
                        send(NbdCodec.encodeChunkHeader(REPLY_FLAG_DONE, REPLY_TYPE_OFFSET_DATA, r.cookie(),
                                8 + (int) length));
                        send(ByteBuffer.allocate(8).putLong(0, r.offset()));
                        out.write(b.array());
                    }
                } else {
                    send(NbdCodec.encodeSimpleReply(0, r.cookie()));
                    out.write(b.array());
                }
            }
            case CMD_WRITE -> {
                volume.write(r.offset(), ByteBuffer.wrap(payload));
                if ((r.flags() & CMD_FLAG_FUA) != 0) {
                    volume.flush();
                }
                ok(r);
            }
            case CMD_WRITE_ZEROES, CMD_TRIM -> {
                volume.writeZeroes(r.offset(), length, r.type() == CMD_TRIM || (r.flags() & CMD_FLAG_NO_HOLE) == 0);
                if ((r.flags() & CMD_FLAG_FUA) != 0) {
                    volume.flush();
                }
                ok(r);
            }
            case CMD_FLUSH -> {
                volume.flush();
                ok(r);
            }
            case CMD_CACHE -> ok(r);
            case CMD_BLOCK_STATUS -> blockStatus(export, r, length);
            default -> throw new IllegalStateException("unchecked command " + r.type());
        }
    }

    private void blockStatus(BridgeExport export, Request r, long length) throws IOException {
        List<Map.Entry<Integer, String>> cs = new ArrayList<>(contexts.entrySet());
        for (int i = 0; i < cs.size(); i++) {
            List<Descriptor> ds = export.blockStatus(cs.get(i).getValue(), r.offset(), Math.max(1, length));
            if ((r.flags() & CMD_FLAG_REQ_ONE) != 0 && ds.size() > 1) {
                ds = ds.subList(0, 1);
            }
            byte[] body = NbdCodec.encodeBlockStatus(cs.get(i).getKey(), ds);
            send(NbdCodec.encodeChunkHeader(i == cs.size() - 1 ? REPLY_FLAG_DONE : 0, REPLY_TYPE_BLOCK_STATUS,
                    r.cookie(), body.length));
            out.write(body);
        }
    }

    private void ok(Request r) throws IOException {
        send(NbdCodec.encodeSimpleReply(0, r.cookie()));
    }

    private void error(Request r, int error, String message) throws IOException {
        if (structured && (r.type() == CMD_READ || r.type() == CMD_BLOCK_STATUS)) {
            byte[] body = NbdCodec.encodeError(error, message);
            send(NbdCodec.encodeChunkHeader(REPLY_FLAG_DONE, REPLY_TYPE_ERROR, r.cookie(), body.length));
            out.write(body);
        } else {
            send(NbdCodec.encodeSimpleReply(error, r.cookie()));
        }
        out.flush();
    }

    // ---------------------------------------------------------------- bytes

    private void reply(int option, int type, byte[] data) throws IOException {
        send(NbdCodec.encodeOptionReply(option, type, data));
        out.flush();
    }

    private void send(ByteBuffer b) throws IOException {
        out.write(b.array(), b.arrayOffset() + b.position(), b.remaining());
    }

    private byte[] readBytes(int n) throws IOException {
        byte[] b = new byte[n];
        in.readFully(b);
        return b;
    }
}
