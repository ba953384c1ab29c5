package io.amirror.nbd;

import io.amirror.nbd.NbdMessages.ChunkError;
import io.amirror.nbd.NbdMessages.ChunkHeader;
import io.amirror.nbd.NbdMessages.ExportInfo;
import io.amirror.nbd.NbdMessages.Extent;
import io.amirror.nbd.NbdMessages.Info;
import io.amirror.nbd.NbdMessages.InfoBlockSize;
import io.amirror.nbd.NbdMessages.InfoExport;
import io.amirror.nbd.NbdMessages.MetaContext;
import io.amirror.nbd.NbdMessages.OptionReplyHeader;
import io.amirror.nbd.NbdMessages.ReplyHeader;
import io.amirror.nbd.NbdMessages.Request;
import io.amirror.nbd.NbdMessages.SimpleReply;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;

import static io.amirror.nbd.NbdConstants.*;

/**
 * A pure-Java NBD client: fixed newstyle handshake, NBD_OPT_GO, structured replies, metadata
 * contexts ({@code base:allocation}, {@code qemu:dirty-bitmap:NAME}), and the commands READ,
 * BLOCK_STATUS, WRITE, WRITE_ZEROES, TRIM and FLUSH, over a unix socket or TCP.
 *
 * <p>Every server is treated as possibly hostile: each reply is checked by {@link NbdCodec} and
 * {@link ReplyAssembler} before any buffer is sized from it, a read buffer is never larger than the
 * request that asked for it, and no I/O waits longer than the timeout. After a protocol violation
 * or a timeout the connection is closed and every later call fails; a server's error reply to one
 * request ({@link NbdServerErrorException}) leaves it usable.
 *
 * <p>Reads are pipelined: up to {@link #MAX_IN_FLIGHT} requests, each no larger than the export's
 * maximum block size, are outstanding at once, and replies may come back in any order. Not thread
 * safe: one caller at a time.
 */
public final class NbdClient implements AutoCloseable {

    public static final int MAX_IN_FLIGHT = 16;
    /** Block status is asked for in slices of this many bytes (the protocol's length field is 32 bits). */
    static final long BLOCK_STATUS_SLICE = 1L << 30;

    /** Receives data of pipelined reads, in completion order (not necessarily offset order). */
    @FunctionalInterface
    public interface ReadSink {
        void accept(long offset, byte[] data) throws NbdException;
    }

    private final NbdChannel channel;
    private final ExportInfo export;
    private final Map<String, Integer> contexts;
    private final Map<Integer, String> contextNames;
    private final int maxBlock;
    private long nextCookie = 1;
    private NbdException broken;

    private NbdClient(NbdChannel channel, ExportInfo export, Map<String, Integer> contexts) {
        this.channel = channel;
        this.export = export;
        this.contexts = Map.copyOf(contexts);
        Map<Integer, String> names = new HashMap<>();
        contexts.forEach((n, id) -> names.put(id, n));
        this.contextNames = Map.copyOf(names);
        this.maxBlock = export.maxBlock();
    }

    /**
     * Connects, negotiates structured replies and the given metadata contexts, and enters
     * transmission on {@code address}'s export. Every requested context must be granted.
     */
    public static NbdClient connect(NbdAddress address, List<String> metaContexts, Duration timeout) throws NbdException {
        NbdChannel ch = NbdChannel.open(address, timeout);
        try {
            return handshake(ch, address.exportName(), metaContexts);
        } catch (NbdException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    private static NbdClient handshake(NbdChannel ch, String exportName, List<String> metaContexts) throws NbdException {
        int serverFlags = NbdCodec.decodeGreeting(ch.read(18, "the server greeting"));
        int clientFlags = CLIENT_FLAG_FIXED_NEWSTYLE | (serverFlags & FLAG_NO_ZEROES);
        ch.write(NbdCodec.encodeClientFlags(clientFlags));

        ch.write(NbdCodec.encodeOption(OPT_STRUCTURED_REPLY, new byte[0]));
        OptionReplyHeader sr = optionReply(ch, OPT_STRUCTURED_REPLY);
        ByteBuffer srData = ch.read(sr.length(), "structured reply answer");
        if (sr.isError()) {
            throw new NbdServerErrorException("server refuses structured replies (" + optionReplyName(sr.type())
                    + "), which amirror needs for block status", sr.type());
        }
        expectAck(sr, srData);

        Map<String, Integer> granted = new LinkedHashMap<>();
        if (!metaContexts.isEmpty()) {
            ch.write(NbdCodec.encodeOption(OPT_SET_META_CONTEXT, NbdCodec.encodeMetaContextQuery(exportName, metaContexts)));
            while (true) {
                OptionReplyHeader h = optionReply(ch, OPT_SET_META_CONTEXT);
                ByteBuffer data = ch.read(h.length(), "a metadata context reply");
                if (h.isError()) {
                    throw new NbdServerErrorException("server refused metadata contexts " + metaContexts + ": "
                            + optionReplyName(h.type()) + " " + NbdCodec.decodeErrorText(data), h.type());
                }
                if (h.type() == REP_ACK) {
                    expectAck(h, data);
                    break;
                }
                if (h.type() != REP_META_CONTEXT) {
                    throw new NbdProtocolException("unexpected " + optionReplyName(h.type()) + " to SET_META_CONTEXT");
                }
                MetaContext mc = NbdCodec.decodeMetaContext(data);
                if (!metaContexts.contains(mc.name())) {
                    throw new NbdProtocolException("server granted context '" + mc.name() + "' that was not asked for");
                }
                if (granted.containsKey(mc.name()) || granted.containsValue(mc.id())) {
                    throw new NbdProtocolException("server granted context '" + mc.name() + "' (id " + mc.id() + ") twice");
                }
                granted.put(mc.name(), mc.id());
            }
            for (String want : metaContexts) {
                if (!granted.containsKey(want)) {
                    throw new NbdServerErrorException("export '" + exportName + "' has no metadata context '" + want
                            + "' (for a dirty bitmap: is a backup job running, and is the bitmap name right?)",
                            REP_ERR_UNKNOWN);
                }
            }
        }

        ch.write(NbdCodec.encodeOption(OPT_GO, NbdCodec.encodeGoData(exportName, INFO_BLOCK_SIZE)));
        InfoExport exportInfo = null;
        InfoBlockSize blockSize = null;
        while (true) {
            OptionReplyHeader h = optionReply(ch, OPT_GO);
            ByteBuffer data = ch.read(h.length(), "an NBD_OPT_GO reply");
            if (h.isError()) {
                throw new NbdServerErrorException("server refused export '" + exportName + "': "
                        + optionReplyName(h.type()) + " " + NbdCodec.decodeErrorText(data), h.type());
            }
            if (h.type() == REP_ACK) {
                expectAck(h, data);
                break;
            }
            if (h.type() != REP_INFO) {
                throw new NbdProtocolException("unexpected " + optionReplyName(h.type()) + " to NBD_OPT_GO");
            }
            Info info = NbdCodec.decodeInfo(data);
            if (info instanceof InfoExport e) {
                exportInfo = e;
            } else if (info instanceof InfoBlockSize b) {
                blockSize = b;
            }
        }
        if (exportInfo == null) {
            throw new NbdProtocolException("NBD_OPT_GO finished without NBD_INFO_EXPORT");
        }
        int min = blockSize == null ? 1 : blockSize.minimum();
        int pref = blockSize == null ? 4096 : blockSize.preferred();
        long maxU = blockSize == null ? DEFAULT_MAX_BLOCK : Integer.toUnsignedLong(blockSize.maximum());
        int max = (int) Math.min(maxU, DEFAULT_MAX_BLOCK);
        ExportInfo info = new ExportInfo(exportName, exportInfo.size(), exportInfo.transmissionFlags(), min, pref, max);
        return new NbdClient(ch, info, granted);
    }

    private static OptionReplyHeader optionReply(NbdChannel ch, int option) throws NbdException {
        return NbdCodec.decodeOptionReplyHeader(ch.read(20, "an option reply header"), option);
    }

    private static void expectAck(OptionReplyHeader h, ByteBuffer data) throws NbdProtocolException {
        if (h.type() != REP_ACK || data.remaining() != 0) {
            throw new NbdProtocolException("expected an empty ACK to " + optionName(h.option()) + ", got "
                    + optionReplyName(h.type()) + " of " + data.remaining() + " bytes");
        }
    }

    public ExportInfo export() {
        return export;
    }

    /** Negotiated metadata contexts by name, with their ids. */
    public Map<String, Integer> contexts() {
        return contexts;
    }

    // ---------------------------------------------------------------- reads

    /** Reads {@code length} bytes at {@code offset}, split into pipelined requests of at most the maximum block size. */
    public byte[] read(long offset, int length) throws NbdException {
        byte[] out = new byte[length];
        readRanges(List.of(new long[] {offset, length}), (off, data) ->
                System.arraycopy(data, 0, out, (int) (off - offset), data.length));
        return out;
    }

    /**
     * Reads every {@code {offset, length}} range, pipelined, and hands each piece to {@code sink} as
     * it completes. Pieces are at most the export's maximum block size.
     */
    public void readRanges(List<long[]> ranges, ReadSink sink) throws NbdException {
        readRanges(ranges, maxBlock, false, sink);
    }

    /**
     * Like {@link #readRanges(List, ReadSink)}, in pieces of at most {@code pieceSize} bytes; with
     * {@code inOrder} the sink gets the pieces in the order of the ranges (completed pieces wait for
     * their predecessors, so at most {@link #MAX_IN_FLIGHT} pieces are held).
     */
    public void readRanges(List<long[]> ranges, int pieceSize, boolean inOrder, ReadSink sink) throws NbdException {
        checkUsable();
        int piece = Math.max(1, Math.min(pieceSize, maxBlock));
        Deque<long[]> todo = new ArrayDeque<>();
        for (long[] r : ranges) {
            checkRange(r[0], r[1]);
            for (long pos = r[0]; pos < r[0] + r[1]; pos += piece) {
                todo.add(new long[] {pos, Math.min(piece, r[0] + r[1] - pos)});
            }
        }
        TreeMap<Long, InFlight> waiting = new TreeMap<>(); // completed, by cookie
        long nextToDeliver = nextCookie;
        Map<Long, InFlight> inFlight = new HashMap<>();
        NbdServerErrorException firstError = null;
        try {
            while (!todo.isEmpty() || !inFlight.isEmpty()) {
                while (firstError == null && !todo.isEmpty() && inFlight.size() < MAX_IN_FLIGHT) {
                    long[] r = todo.poll();
                    InFlight f = send(CMD_READ, 0, r[0], (int) r[1], null);
                    f.data = new byte[(int) r[1]];
                    inFlight.put(f.request.cookie(), f);
                }
                if (inFlight.isEmpty()) {
                    break;
                }
                InFlight f = receive(inFlight);
                if (f == null) {
                    continue;
                }
                NbdServerErrorException err = f.error();
                if (err != null) {
                    firstError = firstError == null ? err : firstError;
                } else if (firstError == null && !inOrder) {
                    sink.accept(f.request.offset(), f.data);
                } else if (firstError == null) {
                    // cookies grow with each request, so they give the order to deliver in
                    waiting.put(f.request.cookie(), f);
                    while (!waiting.isEmpty() && waiting.firstKey() == nextToDeliver) {
                        InFlight next = waiting.pollFirstEntry().getValue();
                        sink.accept(next.request.offset(), next.data);
                        nextToDeliver++;
                    }
                }
            }
        } catch (NbdProtocolException | NbdTimeoutException e) {
            throw fail(e);
        }
        if (firstError != null) {
            throw firstError;
        }
    }

    // ---------------------------------------------------------------- block status

    /**
     * The extents of every negotiated context over {@code [offset, offset + length)}, each list
     * contiguous and exactly covering the range (the last extent is clipped), with neighbours of
     * equal flags merged.
     */
    public Map<String, List<Extent>> blockStatus(long offset, long length) throws NbdException {
        checkUsable();
        checkRange(offset, length);
        if (contexts.isEmpty()) {
            throw new IllegalStateException("no metadata context negotiated; connect with one to ask for block status");
        }
        long end = offset + length;
        Map<Integer, List<Extent>> result = new HashMap<>();
        Map<Integer, Long> cursor = new HashMap<>();
        for (int id : contexts.values()) {
            result.put(id, new ArrayList<>());
            cursor.put(id, offset);
        }
        try {
            while (true) {
                long pos = cursor.values().stream().mapToLong(Long::longValue).min().orElse(end);
                if (pos >= end) {
                    break;
                }
                int len = (int) Math.min(end - pos, BLOCK_STATUS_SLICE);
                InFlight f = send(CMD_BLOCK_STATUS, 0, pos, len, null);
                Map<Long, InFlight> one = new HashMap<>(Map.of(f.request.cookie(), f));
                while (receive(one) == null) {
                    // more chunks to come
                }
                NbdServerErrorException err = f.error();
                if (err != null) {
                    throw err;
                }
                for (Map.Entry<Integer, List<Extent>> e : f.assembler.blockStatus().entrySet()) {
                    long c = cursor.get(e.getKey());
                    for (Extent x : e.getValue()) {
                        long from = Math.max(x.offset(), c);
                        long to = Math.min(x.end(), end);
                        if (to > from) {
                            append(result.get(e.getKey()), new Extent(from, to - from, x.flags()));
                            c = to;
                        }
                    }
                    cursor.put(e.getKey(), c);
                }
            }
        } catch (NbdProtocolException | NbdTimeoutException e) {
            throw fail(e);
        }
        Map<String, List<Extent>> byName = new LinkedHashMap<>();
        contexts.forEach((name, id) -> byName.put(name, List.copyOf(result.get(id))));
        return byName;
    }

    /** The extents of one negotiated context over the whole export. */
    public List<Extent> extents(String context) throws NbdException {
        if (!contexts.containsKey(context)) {
            throw new IllegalArgumentException("context '" + context + "' was not negotiated; have " + contexts.keySet());
        }
        return blockStatus(0, export.size()).get(context);
    }

    private static void append(List<Extent> list, Extent x) {
        if (!list.isEmpty()) {
            Extent last = list.get(list.size() - 1);
            if (last.flags() == x.flags() && last.end() == x.offset()) {
                list.set(list.size() - 1, new Extent(last.offset(), last.length() + x.length(), x.flags()));
                return;
            }
        }
        list.add(x);
    }

    // ---------------------------------------------------------------- writes

    public void write(long offset, byte[] data) throws NbdException {
        requireWritable("WRITE", 0);
        checkRange(offset, data.length);
        for (int pos = 0; pos < data.length; pos += maxBlock) {
            int n = Math.min(maxBlock, data.length - pos);
            simpleCommand(CMD_WRITE, 0, offset + pos, n, ByteBuffer.wrap(data, pos, n));
        }
    }

    /** Writes zeroes; with {@code punchHole} the server may deallocate (NBD_CMD_FLAG_NO_HOLE is not set). */
    public void writeZeroes(long offset, long length, boolean punchHole) throws NbdException {
        requireWritable("WRITE_ZEROES", TFLAG_SEND_WRITE_ZEROES);
        checkRange(offset, length);
        rangeCommand(CMD_WRITE_ZEROES, punchHole ? 0 : CMD_FLAG_NO_HOLE, offset, length);
    }

    public void trim(long offset, long length) throws NbdException {
        requireWritable("TRIM", TFLAG_SEND_TRIM);
        checkRange(offset, length);
        rangeCommand(CMD_TRIM, 0, offset, length);
    }

    public void flush() throws NbdException {
        requireWritable("FLUSH", TFLAG_SEND_FLUSH);
        simpleCommand(CMD_FLUSH, 0, 0, 0, null);
    }

    private void rangeCommand(int type, int flags, long offset, long length) throws NbdException {
        long slice = 1L << 30;
        for (long pos = offset; pos < offset + length; pos += slice) {
            simpleCommand(type, flags, pos, (int) Math.min(slice, offset + length - pos), null);
        }
    }

    private void simpleCommand(int type, int flags, long offset, int length, ByteBuffer payload) throws NbdException {
        checkUsable();
        try {
            InFlight f = send(type, flags, offset, length, payload);
            Map<Long, InFlight> one = new HashMap<>(Map.of(f.request.cookie(), f));
            while (receive(one) == null) {
                // more chunks to come
            }
            NbdServerErrorException err = f.error();
            if (err != null) {
                throw err;
            }
        } catch (NbdProtocolException | NbdTimeoutException e) {
            throw fail(e);
        }
    }

    private void requireWritable(String what, int flag) throws NbdException {
        if (export.readOnly()) {
            throw new NbdServerErrorException("export '" + export.name() + "' is read-only: cannot " + what, 1);
        }
        if (flag != 0 && !export.has(flag)) {
            throw new NbdServerErrorException("server does not support " + what + " on '" + export.name() + "'", 95);
        }
    }

    // ---------------------------------------------------------------- the transmission loop

    /** One outstanding request: its validator, and for reads the buffer its data goes into. */
    private static final class InFlight {
        final Request request;
        final ReplyAssembler assembler;
        byte[] data;
        int simpleError;

        InFlight(Request request, ReplyAssembler assembler) {
            this.request = request;
            this.assembler = assembler;
        }

        NbdServerErrorException error() {
            String what = commandName(request.type()) + " [" + request.offset() + ", +"
                    + Integer.toUnsignedString(request.length()) + ")";
            if (simpleError != 0) {
                return new NbdServerErrorException(what + " failed: " + errorName(simpleError), simpleError);
            }
            List<ChunkError> errors = assembler.errors();
            if (errors.isEmpty()) {
                return null;
            }
            ChunkError e = errors.get(0);
            return new NbdServerErrorException(what + " failed: " + errorName(e.error())
                    + (e.message().isEmpty() ? "" : " (" + e.message() + ")"), e.error());
        }
    }

    private InFlight send(int type, int flags, long offset, int length, ByteBuffer payload) throws NbdException {
        Request r = new Request(flags, type, nextCookie++, offset, length);
        if (payload == null) {
            channel.write(NbdCodec.encodeRequest(r));
        } else {
            channel.write(NbdCodec.encodeRequest(r), payload);
        }
        return new InFlight(r, new ReplyAssembler(r, contextNames.keySet(), export.size()));
    }

    /**
     * Reads one reply message (a simple reply or one chunk) and applies it to its request. Returns
     * the request when this message completed it (and removes it from {@code inFlight}), else null.
     */
    private InFlight receive(Map<Long, InFlight> inFlight) throws NbdException {
        int magic = channel.read(4, "a reply magic").getInt();
        ReplyHeader header = NbdCodec.decodeReplyHeader(magic, channel.read(NbdCodec.replyHeaderRest(magic), "a reply header"));
        InFlight f = inFlight.get(header.cookie());
        if (f == null) {
            throw new NbdProtocolException("reply for cookie " + header.cookie() + ", which is not outstanding");
        }
        if (header instanceof SimpleReply s) {
            int t = f.request.type();
            if (s.error() == 0 && (t == CMD_READ || t == CMD_BLOCK_STATUS)) {
                throw new NbdProtocolException("simple reply to " + commandName(t) + " although structured replies were negotiated");
            }
            f.simpleError = s.error();
            inFlight.remove(header.cookie());
            return f;
        }
        ChunkHeader c = (ChunkHeader) header;
        applyChunk(f, c);
        if (c.done()) {
            f.assembler.onDone();
            inFlight.remove(header.cookie());
            return f;
        }
        return null;
    }

    private void applyChunk(InFlight f, ChunkHeader c) throws NbdException {
        ReplyAssembler a = f.assembler;
        long requested = Integer.toUnsignedLong(f.request.length());
        switch (c.type()) {
            case REPLY_TYPE_OFFSET_DATA -> {
                if (f.request.type() != CMD_READ || c.length() > requested + 8) {
                    throw new NbdProtocolException("OFFSET_DATA chunk of " + c.length() + " bytes for "
                            + commandName(f.request.type()) + " of " + requested);
                }
                var prefix = NbdCodec.decodeOffsetDataPrefix(channel.read(8, "an OFFSET_DATA offset"), c.length());
                a.onReadRange(prefix.offset(), prefix.dataLength(), "OFFSET_DATA");
                int at = (int) (prefix.offset() - f.request.offset());
                channel.readFully(ByteBuffer.wrap(f.data, at, prefix.dataLength()), "read data");
            }
            case REPLY_TYPE_OFFSET_HOLE -> {
                if (c.length() != 12) {
                    throw new NbdProtocolException("OFFSET_HOLE chunk of " + c.length() + " bytes");
                }
                var hole = NbdCodec.decodeOffsetHole(channel.read(12, "an OFFSET_HOLE chunk"));
                a.onReadRange(hole.offset(), Integer.toUnsignedLong(hole.length()), "OFFSET_HOLE");
                int at = (int) (hole.offset() - f.request.offset());
                Arrays.fill(f.data, at, at + hole.length(), (byte) 0);
            }
            case REPLY_TYPE_BLOCK_STATUS -> {
                if (f.request.type() != CMD_BLOCK_STATUS || c.length() > MAX_BLOCK_STATUS_CHUNK) {
                    throw new NbdProtocolException("BLOCK_STATUS chunk of " + c.length() + " bytes for "
                            + commandName(f.request.type()));
                }
                a.onBlockStatus(NbdCodec.decodeBlockStatus(channel.read(c.length(), "a BLOCK_STATUS chunk")));
            }
            case REPLY_TYPE_NONE -> {
                if (c.length() != 0 || !c.done()) {
                    throw new NbdProtocolException("NONE chunk must be empty and final");
                }
                a.onNone();
            }
            default -> {
                if ((c.type() & (1 << 15)) == 0) {
                    throw new NbdProtocolException("unknown reply chunk type " + c.type());
                }
                if (c.length() < 6 || c.length() > 6 + MAX_STRING + 8) {
                    throw new NbdProtocolException("ERROR chunk of " + c.length() + " bytes");
                }
                ByteBuffer payload = channel.read(c.length(), "an ERROR chunk");
                if (c.type() == REPLY_TYPE_ERROR_OFFSET) {
                    a.onError(NbdCodec.decodeError(payload, true));
                } else if (c.type() == REPLY_TYPE_ERROR) {
                    a.onError(NbdCodec.decodeError(payload, false));
                } else {
                    // an error type we do not know: the spec says treat it as an error, reading its code
                    int err = payload.getInt();
                    a.onError(new ChunkError(err == 0 ? 5 : err, "unknown error chunk type " + c.type(),
                            OptionalLong.empty()));
                }
            }
        }
    }

    private void checkRange(long offset, long length) {
        if (offset < 0 || length < 0 || length > export.size() - offset) {
            throw new IllegalArgumentException("range [" + offset + ", +" + length + ") outside export '"
                    + export.name() + "' of " + export.size() + " bytes");
        }
    }

    private void checkUsable() throws NbdException {
        if (broken != null) {
            throw new NbdException("NBD connection is closed after an earlier failure: " + broken.getMessage(), broken);
        }
    }

    private NbdException fail(NbdException e) {
        broken = e;
        channel.close();
        return e;
    }

    /** Sends NBD_CMD_DISC (if the connection is healthy) and closes the socket. */
    @Override
    public void close() {
        if (broken == null) {
            try {
                channel.write(NbdCodec.encodeRequest(new Request(0, CMD_DISC, nextCookie++, 0, 0)));
            } catch (NbdException ignored) {
                // the server is gone: nothing to say goodbye to
            }
            broken = new NbdException("closed");
        }
        channel.close();
    }
}
