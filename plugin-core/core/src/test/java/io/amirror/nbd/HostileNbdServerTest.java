package io.amirror.nbd;

import io.amirror.nbd.NbdMessages.Descriptor;
import io.amirror.nbd.NbdMessages.Request;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static io.amirror.nbd.NbdConstants.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The client against servers that lie, stall or break off. Each case must end in a clear exception
 * of the right kind, quickly, without allocating from a hostile length, and leave a client that
 * refuses further use.
 */
class HostileNbdServerTest {

    private static final Duration TIMEOUT = Duration.ofMillis(800);

    @TempDir
    Path dir;

    @FunctionalInterface
    interface ClientAction {
        void run(NbdClient c) throws Exception;
    }

    /** Runs {@code action} on a client of a server following {@code script}; returns what was thrown. */
    private <T extends Throwable> T expect(Class<T> kind, ScriptedNbdServer.Script script, List<String> contexts,
                                           ClientAction action) throws Exception {
        try (ScriptedNbdServer s = new ScriptedNbdServer(dir.resolve("s.sock"), script)) {
            return assertTimeoutPreemptively(Duration.ofSeconds(10), () -> assertThrows(kind, () -> {
                try (NbdClient c = NbdClient.connect(s.address(), contexts, TIMEOUT)) {
                    action.run(c);
                }
            }));
        }
    }

    private static void hasMessage(Throwable t, String part) {
        assertTrue(t.getMessage().contains(part), "message '" + t.getMessage() + "' should say '" + part + "'");
    }

    // ------------------------------------------------------------------ handshake

    @Test
    void badGreetingMagic() throws Exception {
        var e = expect(NbdProtocolException.class, c -> c.send("HTTP/1.1 200 OK\r\n\r\n".getBytes()), List.of(), c -> { });
        hasMessage(e, "not an NBD server");
    }

    @Test
    void oldStyleServer() throws Exception {
        var e = expect(NbdProtocolException.class, c -> c.send(ByteBuffer.allocate(18).putLong(NBDMAGIC)
                .putLong(0x00420281861253L).putShort((short) 0).flip()), List.of(), c -> { });
        hasMessage(e, "old-style");
    }

    @Test
    void oversizedOptionReplyIsRejectedBeforeAllocating() throws Exception {
        var e = expect(NbdProtocolException.class, c -> {
            c.send(NbdCodec.encodeGreeting(FLAG_FIXED_NEWSTYLE));
            c.read(4);
            c.read(16);
            c.send(ByteBuffer.allocate(20).putLong(OPTION_REPLY_MAGIC).putInt(OPT_STRUCTURED_REPLY).putInt(REP_ACK)
                    .putInt(0x7ffffff0).flip());
            c.waitForClose();
        }, List.of(), c -> { });
        hasMessage(e, "exceeds the limit");
    }

    @Test
    void replyToTheWrongOption() throws Exception {
        var e = expect(NbdProtocolException.class, c -> {
            c.send(NbdCodec.encodeGreeting(FLAG_FIXED_NEWSTYLE));
            c.read(4);
            c.read(16);
            c.send(NbdCodec.encodeOptionReply(OPT_GO, REP_ACK, new byte[0]));
            c.waitForClose();
        }, List.of(), c -> { });
        hasMessage(e, "while waiting for NBD_OPT_STRUCTURED_REPLY");
    }

    @Test
    void unrequestedMetaContext() throws Exception {
        var e = expect(NbdProtocolException.class, c -> {
            c.send(NbdCodec.encodeGreeting(FLAG_FIXED_NEWSTYLE));
            c.read(4);
            c.read(16);
            c.send(NbdCodec.encodeOptionReply(OPT_STRUCTURED_REPLY, REP_ACK, new byte[0]));
            var h = NbdCodec.decodeOptionHeader(c.read(16));
            c.read(h.length());
            c.send(NbdCodec.encodeOptionReply(OPT_SET_META_CONTEXT, REP_META_CONTEXT,
                    NbdCodec.encodeMetaContextReply(1, "qemu:dirty-bitmap:evil")));
            c.waitForClose();
        }, List.of(CONTEXT_BASE_ALLOCATION), c -> { });
        hasMessage(e, "granted context 'qemu:dirty-bitmap:evil' that was not asked for");
    }

    @Test
    void missingMetaContextIsNamed() throws Exception {
        var e = expect(NbdServerErrorException.class, c -> {
            c.handshake(1 << 20, TFLAG_HAS_FLAGS, 65536, Map.of());
            c.waitForClose();
        }, List.of("qemu:dirty-bitmap:backup-vda"), c -> { });
        hasMessage(e, "no metadata context 'qemu:dirty-bitmap:backup-vda'");
    }

    @Test
    void negativeExportSize() throws Exception {
        var e = expect(NbdProtocolException.class, c -> {
            c.handshake(-4096, TFLAG_HAS_FLAGS, 65536, Map.of());
            c.waitForClose();
        }, List.of(), c -> { });
        hasMessage(e, "export size");
    }

    // ------------------------------------------------------------------ transmission

    @Test
    void replyWithAnUnknownCookie() throws Exception {
        var e = expect(NbdProtocolException.class, c -> {
            c.handshake();
            Request r = c.nextRequest();
            c.data(REPLY_FLAG_DONE, r.cookie() + 1000, r.offset(), new byte[r.length()]);
            c.waitForClose();
        }, List.of(), c -> c.read(0, 4096));
        hasMessage(e, "not outstanding");
    }

    @Test
    void dataChunkLongerThanTheRequestIsRejectedBeforeAllocating() throws Exception {
        var e = expect(NbdProtocolException.class, c -> {
            c.handshake();
            Request r = c.nextRequest();
            c.send(NbdCodec.encodeChunkHeader(REPLY_FLAG_DONE, REPLY_TYPE_OFFSET_DATA, r.cookie(), 0x7ffffff0));
            c.waitForClose();
        }, List.of(), c -> c.read(0, 4096));
        hasMessage(e, "OFFSET_DATA chunk of 2147483632 bytes");
    }

    @Test
    void dataOutsideTheRequestedRange() throws Exception {
        var e = expect(NbdProtocolException.class, c -> {
            c.handshake();
            Request r = c.nextRequest();
            c.data(REPLY_FLAG_DONE, r.cookie(), r.offset() + 512, new byte[r.length()]);
            c.waitForClose();
        }, List.of(), c -> c.read(0, 4096));
        hasMessage(e, "outside the requested");
    }

    @Test
    void overlappingDataChunks() throws Exception {
        var e = expect(NbdProtocolException.class, c -> {
            c.handshake();
            Request r = c.nextRequest();
            c.data(0, r.cookie(), 0, new byte[2048]);
            c.data(REPLY_FLAG_DONE, r.cookie(), 1024, new byte[2048]);
            c.waitForClose();
        }, List.of(), c -> c.read(0, 4096));
        hasMessage(e, "overlaps");
    }

    @Test
    void incompleteReadMarkedDone() throws Exception {
        var e = expect(NbdProtocolException.class, c -> {
            c.handshake();
            Request r = c.nextRequest();
            c.data(REPLY_FLAG_DONE, r.cookie(), 0, new byte[1000]);
            c.waitForClose();
        }, List.of(), c -> c.read(0, 4096));
        hasMessage(e, "ended after 1000 of 4096");
    }

    @Test
    void simpleReplyToAReadAfterStructuredRepliesWereAgreed() throws Exception {
        var e = expect(NbdProtocolException.class, c -> {
            c.handshake();
            Request r = c.nextRequest();
            c.send(NbdCodec.encodeSimpleReply(0, r.cookie()), ByteBuffer.allocate(r.length()));
            c.waitForClose();
        }, List.of(), c -> c.read(0, 4096));
        hasMessage(e, "simple reply to READ");
    }

    @Test
    void truncatedReply() throws Exception {
        var e = expect(NbdProtocolException.class, c -> {
            c.handshake();
            Request r = c.nextRequest();
            c.send(NbdCodec.encodeChunkHeader(REPLY_FLAG_DONE, REPLY_TYPE_OFFSET_DATA, r.cookie(), 8 + r.length()),
                    ByteBuffer.allocate(8 + 100));
            // and hang up in the middle of the data
        }, List.of(), c -> c.read(0, 4096));
        hasMessage(e, "closed the connection in the middle of read data");
    }

    @Test
    void badReplyMagic() throws Exception {
        var e = expect(NbdProtocolException.class, c -> {
            c.handshake();
            c.nextRequest();
            c.send(new byte[] {1, 2, 3, 4});
            c.waitForClose();
        }, List.of(), c -> c.read(0, 4096));
        hasMessage(e, "bad reply magic");
    }

    @Test
    void stallingServerTimesOut() throws Exception {
        long t0 = System.nanoTime();
        var e = expect(NbdTimeoutException.class, c -> {
            c.handshake();
            c.nextRequest();
            c.waitForClose();
        }, List.of(), c -> c.read(0, 4096));
        hasMessage(e, "no progress");
        assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(5).toNanos());
    }

    @Test
    void stallDuringHandshakeTimesOut() throws Exception {
        var e = expect(NbdTimeoutException.class, ScriptedNbdServer.Conn::waitForClose, List.of(), c -> { });
        hasMessage(e, "server greeting");
    }

    @Test
    void blockStatusForAContextThatWasNotNegotiated() throws Exception {
        var e = expect(NbdProtocolException.class, c -> {
            c.handshake();
            Request r = c.nextRequest();
            c.chunk(REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, r.cookie(),
                    NbdCodec.encodeBlockStatus(99, List.of(new Descriptor(r.length(), 0))));
            c.waitForClose();
        }, List.of(CONTEXT_BASE_ALLOCATION), c -> c.extents(CONTEXT_BASE_ALLOCATION));
        hasMessage(e, "context id 99");
    }

    @Test
    void blockStatusPastTheEndOfTheExport() throws Exception {
        var e = expect(NbdProtocolException.class, c -> {
            c.handshake();
            Request r = c.nextRequest();
            c.chunk(REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, r.cookie(),
                    NbdCodec.encodeBlockStatus(7, List.of(new Descriptor(2L << 20, 0))));
            c.waitForClose();
        }, List.of(CONTEXT_BASE_ALLOCATION), c -> c.extents(CONTEXT_BASE_ALLOCATION));
        hasMessage(e, "past the export size");
    }

    @Test
    void blockStatusDescriptorOfLengthZero() throws Exception {
        var e = expect(NbdProtocolException.class, c -> {
            c.handshake();
            Request r = c.nextRequest();
            c.chunk(REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, r.cookie(), ByteBuffer.allocate(12).putInt(7).putInt(0)
                    .putInt(0).array());
            c.waitForClose();
        }, List.of(CONTEXT_BASE_ALLOCATION), c -> c.extents(CONTEXT_BASE_ALLOCATION));
        hasMessage(e, "length 0");
    }

    @Test
    void hugeBlockStatusChunkIsRejectedBeforeAllocating() throws Exception {
        var e = expect(NbdProtocolException.class, c -> {
            c.handshake();
            Request r = c.nextRequest();
            c.send(NbdCodec.encodeChunkHeader(REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, r.cookie(), 0x70000000));
            c.waitForClose();
        }, List.of(CONTEXT_BASE_ALLOCATION), c -> c.extents(CONTEXT_BASE_ALLOCATION));
        hasMessage(e, "BLOCK_STATUS chunk of 1879048192 bytes");
    }

    @Test
    void aChunkAfterDoneIsRejected() throws Exception {
        var e = expect(NbdProtocolException.class, c -> {
            c.handshake();
            Request r = c.nextRequest();
            c.data(REPLY_FLAG_DONE, r.cookie(), 0, new byte[r.length()]);
            c.data(REPLY_FLAG_DONE, r.cookie(), 0, new byte[r.length()]);
            c.waitForClose();
        }, List.of(), c -> {
            c.read(0, 4096);
            c.flush(); // the stray chunk arrives while waiting for the flush reply
        });
        hasMessage(e, "not outstanding");
    }

    @Test
    void aServerErrorFailsTheRequestButNotTheConnection(@TempDir Path d) throws Exception {
        byte[] good = new byte[4096];
        Arrays.fill(good, (byte) 7);
        try (ScriptedNbdServer s = new ScriptedNbdServer(d.resolve("e.sock"), c -> {
            c.handshake();
            Request r = c.nextRequest();
            c.chunk(REPLY_FLAG_DONE, REPLY_TYPE_ERROR, r.cookie(), NbdCodec.encodeError(5, "disk on fire"));
            Request r2 = c.nextRequest();
            c.data(REPLY_FLAG_DONE, r2.cookie(), r2.offset(), good);
            c.waitForClose();
        }); NbdClient client = NbdClient.connect(s.address(), List.of(), TIMEOUT)) {
            var e = assertThrows(NbdServerErrorException.class, () -> client.read(0, 4096));
            assertEquals(5, e.error());
            hasMessage(e, "EIO (disk on fire)");
            assertArrayEquals(good, client.read(4096, 4096));
        }
    }

    @Test
    void afterAViolationTheClientRefusesFurtherUse(@TempDir Path d) throws Exception {
        try (ScriptedNbdServer s = new ScriptedNbdServer(d.resolve("v.sock"), c -> {
            c.handshake();
            c.nextRequest();
            c.send(new byte[] {9, 9, 9, 9});
            c.waitForClose();
        }); NbdClient client = NbdClient.connect(s.address(), List.of(), TIMEOUT)) {
            assertThrows(NbdProtocolException.class, () -> client.read(0, 512));
            var e = assertThrows(NbdException.class, () -> client.read(0, 512));
            hasMessage(e, "closed after an earlier failure");
        }
    }
}
