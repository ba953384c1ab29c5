package io.amirror.nbd;

import java.util.List;
import java.util.OptionalLong;

/** The records the NBD codec turns bytes into and back. Pure data; validation lives in the codec. */
public final class NbdMessages {
    private NbdMessages() {
    }

    /** Header of a server's reply to an option: which option, what kind of reply, how many bytes follow. */
    public record OptionReplyHeader(int option, int type, int length) {
        public boolean isError() {
            return (type & NbdConstants.REP_FLAG_ERROR) != 0;
        }
    }

    /** Header of a client's option request (server side). */
    public record OptionHeader(int option, int length) {
    }

    /** What NBD_OPT_GO told us about the export. */
    public record ExportInfo(String name, long size, int transmissionFlags, int minBlock, int preferredBlock,
                             int maxBlock) {
        public boolean readOnly() {
            return (transmissionFlags & NbdConstants.TFLAG_READ_ONLY) != 0;
        }

        public boolean has(int flag) {
            return (transmissionFlags & flag) != 0;
        }
    }

    /** One NBD_INFO_* item of an NBD_REP_INFO reply. */
    public sealed interface Info permits InfoExport, InfoBlockSize, InfoOther {
    }

    public record InfoExport(long size, int transmissionFlags) implements Info {
    }

    public record InfoBlockSize(int minimum, int preferred, int maximum) implements Info {
    }

    /** An information type this client does not use (name, description, or a future one). */
    public record InfoOther(int type) implements Info {
    }

    /** A metadata context the server agreed to, with the id its block status chunks will carry. */
    public record MetaContext(int id, String name) {
    }

    /** A transmission request; the payload of a WRITE follows it on the wire. */
    public record Request(int flags, int type, long cookie, long offset, int length) {
    }

    /** The first 4 bytes after a reply's magic decide which of these follows. */
    public sealed interface ReplyHeader permits SimpleReply, ChunkHeader {
        long cookie();
    }

    public record SimpleReply(int error, long cookie) implements ReplyHeader {
    }

    public record ChunkHeader(int flags, int type, long cookie, int length) implements ReplyHeader {
        public boolean done() {
            return (flags & NbdConstants.REPLY_FLAG_DONE) != 0;
        }
    }

    /** A structured reply chunk's payload, decoded (data of OFFSET_DATA is read separately, not here). */
    public sealed interface Chunk permits OffsetDataPrefix, OffsetHole, BlockStatus, ChunkError, NoneChunk {
    }

    /** The 8-byte offset that starts an OFFSET_DATA chunk; {@code dataLength} bytes of data follow it. */
    public record OffsetDataPrefix(long offset, int dataLength) implements Chunk {
    }

    public record OffsetHole(long offset, int length) implements Chunk {
    }

    public record BlockStatus(int contextId, List<Descriptor> descriptors) implements Chunk {
    }

    /** One block status descriptor: a length (unsigned 32 bits) and the context's flags for it. */
    public record Descriptor(long length, int flags) {
    }

    public record ChunkError(int error, String message, OptionalLong offset) implements Chunk {
    }

    public record NoneChunk() implements Chunk {
    }

    /** An extent at an absolute offset, as the client hands block status to its callers. */
    public record Extent(long offset, long length, int flags) {
        public long end() {
            return offset + length;
        }
    }
}
