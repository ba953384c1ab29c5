package io.amirror.nbd;

import io.amirror.nbd.NbdMessages.BlockStatus;
import io.amirror.nbd.NbdMessages.ChunkError;
import io.amirror.nbd.NbdMessages.Descriptor;
import io.amirror.nbd.NbdMessages.Extent;
import io.amirror.nbd.NbdMessages.Request;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import static io.amirror.nbd.NbdConstants.*;

/**
 * Checks the structured reply chunks of one request against the request itself. Pure: the client
 * feeds it decoded chunks and it says whether they are allowed, what they mean, and when the reply
 * is complete.
 *
 * <p>Rules enforced (from the NBD spec): read data and holes lie inside the requested range and
 * never overlap; a successful read is covered completely; block status arrives only for a
 * negotiated context, once per context, starts at the requested offset, has all but its last
 * descriptor inside the range, and never reaches past the export's end; chunk types fit the
 * command; nothing arrives after the DONE flag.
 */
public final class ReplyAssembler {
    private final Request request;
    private final Set<Integer> contextIds;
    private final long exportSize;
    /** Read coverage: start -> end of ranges already delivered, for the overlap and completeness checks. */
    private final TreeMap<Long, Long> covered = new TreeMap<>();
    private long coveredBytes;
    private final Map<Integer, List<Extent>> status = new HashMap<>();
    private final List<ChunkError> errors = new ArrayList<>();
    private boolean done;

    public ReplyAssembler(Request request, Set<Integer> contextIds, long exportSize) {
        this.request = request;
        this.contextIds = Set.copyOf(contextIds);
        this.exportSize = exportSize;
    }

    public Request request() {
        return request;
    }

    /** Validates an OFFSET_DATA or OFFSET_HOLE range; the caller then reads or zero-fills it. */
    public void onReadRange(long offset, long length, String kind) throws NbdProtocolException {
        requireOpen();
        requireCommand(CMD_READ, kind);
        long start = request.offset();
        long end = start + Integer.toUnsignedLong(request.length());
        if (length <= 0 || offset < start || offset > end || length > end - offset) {
            throw new NbdProtocolException(kind + " chunk [" + offset + ", +" + length + ") outside the requested ["
                    + start + ", " + end + ")");
        }
        Map.Entry<Long, Long> before = covered.floorEntry(offset);
        Map.Entry<Long, Long> after = covered.ceilingEntry(offset);
        if (before != null && before.getValue() > offset || after != null && after.getKey() < offset + length) {
            throw new NbdProtocolException(kind + " chunk [" + offset + ", +" + length + ") overlaps data already sent");
        }
        covered.put(offset, offset + length);
        coveredBytes += length;
    }

    /** Validates a BLOCK_STATUS chunk and returns its descriptors as absolute extents. */
    public List<Extent> onBlockStatus(BlockStatus chunk) throws NbdProtocolException {
        requireOpen();
        requireCommand(CMD_BLOCK_STATUS, "BLOCK_STATUS");
        if (!contextIds.contains(chunk.contextId())) {
            throw new NbdProtocolException("BLOCK_STATUS for context id " + chunk.contextId()
                    + " that was not negotiated");
        }
        if (status.containsKey(chunk.contextId())) {
            throw new NbdProtocolException("second BLOCK_STATUS chunk for context id " + chunk.contextId());
        }
        long requested = Integer.toUnsignedLong(request.length());
        long pos = request.offset();
        List<Extent> extents = new ArrayList<>(chunk.descriptors().size());
        List<Descriptor> ds = chunk.descriptors();
        for (int i = 0; i < ds.size(); i++) {
            Descriptor d = ds.get(i);
            boolean last = i == ds.size() - 1;
            if (!last && pos + d.length() >= request.offset() + requested) {
                throw new NbdProtocolException("BLOCK_STATUS descriptor " + i + " reaches the end of the request "
                        + "but is not the last one");
            }
            if (d.length() > exportSize - pos) {
                throw new NbdProtocolException("BLOCK_STATUS extent [" + pos + ", +" + d.length()
                        + ") reaches past the export size " + exportSize);
            }
            if ((request.flags() & CMD_FLAG_REQ_ONE) != 0 && (ds.size() != 1 || d.length() > requested)) {
                throw new NbdProtocolException("BLOCK_STATUS with REQ_ONE must be one descriptor within the request");
            }
            extents.add(new Extent(pos, d.length(), d.flags()));
            pos += d.length();
        }
        status.put(chunk.contextId(), extents);
        return extents;
    }

    public void onError(ChunkError e) throws NbdProtocolException {
        requireOpen();
        if (e.offset().isPresent()) {
            long off = e.offset().getAsLong();
            long end = request.offset() + Integer.toUnsignedLong(request.length());
            if (off < request.offset() || off >= end) {
                throw new NbdProtocolException("ERROR_OFFSET " + off + " outside the request");
            }
        }
        errors.add(e);
    }

    public void onNone() throws NbdProtocolException {
        requireOpen();
    }

    /**
     * The chunk carrying the DONE flag has been handled. Checks that a successful reply is complete:
     * a read covers its whole range, a block status has one chunk per negotiated context.
     */
    public void onDone() throws NbdProtocolException {
        requireOpen();
        done = true;
        if (!errors.isEmpty()) {
            return;
        }
        if (request.type() == CMD_READ && coveredBytes != Integer.toUnsignedLong(request.length())) {
            throw new NbdProtocolException("READ reply ended after " + coveredBytes + " of " + request.length()
                    + " bytes");
        }
        if (request.type() == CMD_BLOCK_STATUS && !status.keySet().equals(contextIds)) {
            throw new NbdProtocolException("BLOCK_STATUS reply ended with chunks for contexts " + status.keySet()
                    + " instead of " + contextIds);
        }
    }

    public boolean done() {
        return done;
    }

    public List<ChunkError> errors() {
        return List.copyOf(errors);
    }

    public Map<Integer, List<Extent>> blockStatus() {
        return Map.copyOf(status);
    }

    private void requireOpen() throws NbdProtocolException {
        if (done) {
            throw new NbdProtocolException("chunk for cookie " + request.cookie() + " after its DONE chunk");
        }
    }

    private void requireCommand(int type, String chunk) throws NbdProtocolException {
        if (request.type() != type) {
            throw new NbdProtocolException(chunk + " chunk in reply to " + commandName(request.type()));
        }
    }
}
