package io.amirror.delta;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Deltas of every format version this amirror reads, as files: {@code golden/v1-*.amd} were written
 * by the amirror of format version 1 (before version 2 existed) and must verify for as long as
 * version 1 is read, since deltas spooled or received before an upgrade are applied after it;
 * {@code golden/v2-*.amd} likewise by the amirror of format version 2; {@code golden/v3-none.amd}
 * is exactly what this writer writes (with the cut time {@link #CUT}). A change to any of them is a
 * change of the format: it needs a new {@link DeltaFormat#VERSION}, never new golden files.
 *
 * <p>All of them hold the same change of a disk of 40 blocks and 1000 bytes, from point 3 to 4:
 * DATA over blocks 1-2, ZERO over 4-6, COPY of blocks 20-21 to 8-9, DATA over 12, ZERO from block
 * 30 to the end of the disk (a short last block), in two delta blocks of at most 12 KiB raw.
 */
class DeltaGoldenTest {
    static final int BS = DeltaFormat.BLOCK_SIZE;
    static final long SIZE = 40L * BS + 1000;
    static final UUID DOMAIN = UUID.fromString("00112233-4455-6677-8899-aabbccddeeff");
    static final HexFormat HEX = HexFormat.of();
    /** The cut time the version 3 golden files carry: 2026-01-01T00:00:00Z. */
    static final long CUT = 1_767_225_600_000L;
    static final String RESULT_V1 = "2f979de68038b51155240461503472e02be3c11b654ee700787b503b14019cba";
    static final String RESULT_V2 = "f9731d80582622297764798e55e43f9c537ae97ba87faa50455a271d38450482";

    /** The disk at the base point: block i holds the byte i + 1. */
    static byte[] base() {
        byte[] b = new byte[(int) SIZE];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) (i / BS + 1);
        }
        return b;
    }

    static byte[] pattern(int blocks, int seed) {
        byte[] d = new byte[blocks * BS];
        for (int i = 0; i < d.length; i++) {
            d[i] = (byte) ((i * 31 + seed) ^ (i >>> 7));
        }
        return d;
    }

    static byte[] copyHashes() {
        byte[] base = base();
        byte[] hashes = new byte[2 * BlockHash.LENGTH];
        for (int i = 0; i < 2; i++) {
            System.arraycopy(BlockHash.of(base, (20 + i) * BS, BS), 0, hashes, i * BlockHash.LENGTH, BlockHash.LENGTH);
        }
        return hashes;
    }

    /** The frames every golden file holds, in order. */
    static List<Frame> expectedFrames() {
        return List.of(new Frame.Data(BS, pattern(2, 5)), new Frame.Zero(4L * BS, 3L * BS),
                new Frame.Copy(8L * BS, 20L * BS, copyHashes()), new Frame.Data(12L * BS, pattern(1, 9)),
                new Frame.Zero(30L * BS, SIZE - 30L * BS));
    }

    /** What the writer of this amirror makes of the golden change. */
    static byte[] write(int codec) throws IOException {
        DeltaHeader h = new DeltaHeader(DOMAIN, "vda", SIZE, 3, 4, BS, codec, 3 * BS).withCutMillis(CUT);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (DeltaWriter w = new DeltaWriter(out, h, new XzBlockCodec.Preset(1, false), DeltaStreamTest.POOL, 1,
                DeltaWriter.ResultListener.NONE)) {
            w.data(BS, pattern(2, 5));
            w.zero(4L * BS, 3L * BS);
            w.copy(8L * BS, 20L * BS, copyHashes());
            w.data(12L * BS, pattern(1, 9));
            w.zero(30L * BS, SIZE - 30L * BS);
            DeltaWriter.Summary s = w.finish();
            assertEquals(RESULT_V2, HEX.formatHex(s.resultSha256()), "the result the writer reports");
        }
        return out.toByteArray();
    }

    static byte[] golden(String name) throws IOException {
        try (InputStream in = DeltaGoldenTest.class.getResourceAsStream("golden/" + name)) {
            assertNotNull(in, name);
            return in.readAllBytes();
        }
    }

    static void assertFrames(List<Frame> expected, List<Frame> actual) {
        assertEquals(expected.size(), actual.size(), "frame count");
        for (int i = 0; i < expected.size(); i++) {
            Frame e = expected.get(i);
            Frame a = actual.get(i);
            assertEquals(e.getClass(), a.getClass(), "frame " + i);
            assertEquals(e.offset(), a.offset(), "frame " + i);
            assertEquals(e.length(), a.length(), "frame " + i);
            if (e instanceof Frame.Data d) {
                assertArrayEquals(d.payload(), ((Frame.Data) a).payload(), "frame " + i);
            } else if (e instanceof Frame.Copy c) {
                assertEquals(c.source(), ((Frame.Copy) a).source(), "frame " + i);
                assertArrayEquals(c.hashes(), ((Frame.Copy) a).hashes(), "frame " + i);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"v1-none.amd", "v1-xz.amd", "v2-none.amd", "v2-xz.amd", "v3-none.amd", "v3-xz.amd"})
    void everyGoldenDeltaVerifiesAndHoldsTheGoldenChange(String name) throws IOException {
        byte[] d = golden(name);
        int version = name.charAt(1) - '0';
        DeltaReader.Result r = DeltaReader.verify(new ByteArrayInputStream(d));
        assertEquals(new DeltaHeader(DOMAIN, "vda", SIZE, 3, 4, BS,
                name.endsWith("xz.amd") ? DeltaFormat.CODEC_XZ : DeltaFormat.CODEC_NONE, 3 * BS, version,
                version >= 3 ? CUT : 0), r.header());
        assertEquals(version == 1 ? RESULT_V1 : RESULT_V2, HEX.formatHex(r.trailer().resultSha256()));
        assertEquals(2, r.trailer().blockCount());
        assertEquals(5, r.trailer().frameCount());
        assertEquals(3L * BS, r.trailer().dataBytes());
        assertEquals(3L * BS + SIZE - 30L * BS, r.trailer().zeroBytes());
        List<Frame> frames = DeltaVersions.frames(d);
        assertFrames(expectedFrames(), frames);
        // the result SHA-256 as the spec words each version's rule
        assertArrayEquals(version == 1 ? DeltaVersions.resultV1(frames) : DeltaVersions.resultV2(frames),
                r.trailer().resultSha256());
        // and the image it makes
        byte[] model = base();
        System.arraycopy(pattern(2, 5), 0, model, BS, 2 * BS);
        Arrays.fill(model, 4 * BS, 7 * BS, (byte) 0);
        System.arraycopy(base(), 20 * BS, model, 8 * BS, 2 * BS);
        System.arraycopy(pattern(1, 9), 0, model, 12 * BS, BS);
        Arrays.fill(model, 30 * BS, (int) SIZE, (byte) 0);
        assertArrayEquals(model, DeltaStreamTest.apply(d, base()));
    }

    @Test
    void theWriterWritesVersion3ByteForByte() throws IOException {
        byte[] now = write(DeltaFormat.CODEC_NONE);
        assertEquals(3, ByteBuffer.wrap(now, 8, 2).getShort(), "the header's version field");
        assertArrayEquals(golden("v3-none.amd"), now);
        // xz output may change with xz-java; what it holds may not
        byte[] xz = write(DeltaFormat.CODEC_XZ);
        assertFrames(expectedFrames(), DeltaVersions.frames(xz));
    }

    @Test
    void version1AndVersion2DifferOnlyInTheVersionAndTheChecksumsOverTheResult() throws IOException {
        byte[] v1 = golden("v1-none.amd");
        byte[] v2 = golden("v2-none.amd");
        // the test's own re-encoding of version 2 as version 1 is byte for byte what the old writer wrote
        assertArrayEquals(v1, DeltaVersions.asVersion1(v2));
        int header = DeltaCodec.HEADER_MIN - 1 + 3;
        assertEquals(v1.length, v2.length);
        assertEquals(1, ByteBuffer.wrap(v1, 8, 2).getShort());
        assertArrayEquals(Arrays.copyOfRange(v1, 10, header - 32), Arrays.copyOfRange(v2, 10, header - 32), "header fields");
        int trailer = v1.length - DeltaFormat.TRAILER_SIZE;
        assertArrayEquals(Arrays.copyOfRange(v1, header, trailer + 64), Arrays.copyOfRange(v2, header, trailer + 64),
                "blocks and trailer up to the result SHA-256");
    }

    @Test
    void version3DiffersFromVersion2OnlyInTheHeaderWithItsCutTime() throws IOException {
        byte[] v2 = golden("v2-none.amd");
        byte[] v3 = golden("v3-none.amd");
        int h2 = DeltaCodec.headerMin(2) - 1 + 3;
        int h3 = DeltaCodec.headerMin(3) - 1 + 3;
        assertEquals(h2 + 8, h3, "the cut time: 8 bytes more");
        assertEquals(h3, ByteBuffer.wrap(v3, 10, 4).getInt(), "the header length field");
        assertArrayEquals(Arrays.copyOfRange(v2, 14, h2 - 32), Arrays.copyOfRange(v3, 14, h2 - 32), "the fields of version 2");
        assertEquals(CUT, ByteBuffer.wrap(v3, h2 - 32, 8).getLong(), "the cut time after max block raw");
        int t2 = v2.length - DeltaFormat.TRAILER_SIZE;
        int t3 = v3.length - DeltaFormat.TRAILER_SIZE;
        assertArrayEquals(Arrays.copyOfRange(v2, h2, t2 + 96), Arrays.copyOfRange(v3, h3, t3 + 96),
                "blocks and trailer up to its own SHA-256 (which chains the header's)");
        // re-encoded as version 2 by the test, it is byte for byte what the version 2 writer wrote
        assertArrayEquals(v2, DeltaVersions.reencode(v3, 2, DeltaVersions::resultV2));
    }

    @Test
    void aCutTimeIsOnlyInVersion3AndNeverNegative() throws IOException {
        assertThrows(IllegalArgumentException.class, () -> new DeltaHeader(DOMAIN, "vda", SIZE, 3, 4, BS,
                DeltaFormat.CODEC_NONE, 3 * BS, 2, CUT));
        assertThrows(IllegalArgumentException.class, () -> new DeltaHeader(DOMAIN, "vda", SIZE, 3, 4, BS,
                DeltaFormat.CODEC_NONE, 3 * BS).withCutMillis(-1));
        // a negative cut time in the bytes (re-signed so only that field is wrong) is refused as an invalid header
        byte[] d = golden("v3-none.amd");
        int h2 = DeltaCodec.headerMin(2) - 1 + 3;
        ByteBuffer.wrap(d, h2 - 32, 8).putLong(-5);
        byte[] header = Arrays.copyOf(d, h2 + 8);
        System.arraycopy(BlockHash.sha256().digest(Arrays.copyOf(header, h2 - 24)), 0, header, h2 - 24, 32);
        var e = assertThrows(DeltaFormatException.class, () -> DeltaCodec.decodeHeader(header));
        assertTrue(e.getMessage().contains("cut time"), e.getMessage());
        assertEquals(0, DeltaReader.readHeader(new ByteArrayInputStream(golden("v2-xz.amd"))).cutMillis(),
                "version 2: the cut time is unknown");
        assertTrue(DeltaReader.readHeader(new ByteArrayInputStream(golden("v2-xz.amd"))).cutTime().isEmpty());
    }

    @Test
    void aStreamWhoseVersionFieldLiesIsRefused() throws IOException {
        // version 2 blocks and result under a version 1 header (all else re-signed): the result rule differs
        byte[] lie = DeltaVersions.reencode(golden("v2-none.amd"), 1, DeltaVersions::resultV2);
        var e = assertThrows(DeltaFormatException.class, () -> DeltaReader.verify(new ByteArrayInputStream(lie)));
        assertTrue(e.getMessage().contains("result checksum"), e.getMessage());
        byte[] lie2 = DeltaVersions.reencode(golden("v2-none.amd"), 2, DeltaVersions::resultV1);
        e = assertThrows(DeltaFormatException.class, () -> DeltaReader.verify(new ByteArrayInputStream(lie2)));
        assertTrue(e.getMessage().contains("result checksum"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 4, 0xffff})
    void aVersionThisAmirrorDoesNotReadIsRefusedByName(int version) throws IOException {
        byte[] d = golden("v3-none.amd");
        ByteBuffer.wrap(d, 8, 2).putShort((short) version);
        var e = assertThrows(DeltaFormatException.class, () -> DeltaReader.verify(new ByteArrayInputStream(d)));
        assertTrue(e.getMessage().contains("version " + version + " is not supported")
                && e.getMessage().contains("versions 1 to 3"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new DeltaHeader(DOMAIN, "vda", SIZE, 3, 4, BS,
                DeltaFormat.CODEC_NONE, 3 * BS, version));
    }

    @Test
    void theWriterWritesOnlyTheCurrentVersion() {
        DeltaHeader v1 = new DeltaHeader(DOMAIN, "vda", SIZE, 3, 4, BS, DeltaFormat.CODEC_NONE, 3 * BS, 1);
        assertThrows(IllegalArgumentException.class, () -> new DeltaWriter(new ByteArrayOutputStream(), v1,
                new XzBlockCodec.Preset(0, false), DeltaStreamTest.POOL, 1, DeltaWriter.ResultListener.NONE));
        assertEquals(DeltaFormat.VERSION, new DeltaHeader(DOMAIN, "vda", SIZE, 3, 4, BS, DeltaFormat.CODEC_NONE,
                3 * BS).version());
    }

    @Test
    void olderHeadersStillDecodeWithTheirVersion() throws IOException {
        for (String name : List.of("v1-xz.amd", "v2-xz.amd", "v3-xz.amd")) {
            DeltaHeader h = DeltaReader.readHeader(new ByteArrayInputStream(golden(name)));
            assertEquals(name.charAt(1) - '0', h.version());
            assertEquals(h, DeltaCodec.decodeHeader(DeltaCodec.encodeHeader(h)));
        }
    }
}
