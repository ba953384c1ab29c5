package io.amirror.delta;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A hostile primary's cheapest CPU bomb: a delta of a few hundred bytes that declares a disk of
 * 2^62 bytes (or the largest the header allows) and zeroes all of it in one ZERO frame. Verifying
 * it must cost what its bytes cost, not what its disk size would: version 2 enters a ZERO frame in
 * the result SHA-256 once. Version 1 hashed it per 4 KiB block (2^50 records, years); a version 1
 * delta is still read, so its ZERO frames are bounded by {@link DeltaFormat#V1_MAX_ZERO_BYTES}.
 *
 * <p>The timeouts only guard against a hang: each of these finishes in milliseconds.
 */
class DeltaBombTest {
    static final int BS = DeltaFormat.BLOCK_SIZE;

    @TempDir
    Path dir;

    /** A valid delta that zeroes a whole disk of {@code size} bytes, written by the writer itself. */
    static byte[] bomb(long size, int codec) throws IOException {
        DeltaHeader h = new DeltaHeader(UUID.randomUUID(), "vda", size, 0, 1, BS, codec,
                DeltaFormat.BLOCK_SIZE + DeltaFormat.DATA_FRAME_HEADER);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (DeltaWriter w = new DeltaWriter(out, h, new XzBlockCodec.Preset(0, false), DeltaStreamTest.POOL, 1,
                DeltaWriter.ResultListener.NONE)) {
            w.zero(0, size);
            DeltaWriter.Summary s = w.finish();
            assertEquals(size, s.zeroBytes());
        }
        return out.toByteArray();
    }

    @ParameterizedTest
    @ValueSource(longs = {1L << 62, Long.MAX_VALUE})
    @Timeout(5)
    void aDeltaOfTheCurrentVersionZeroingAHugeDiskVerifiesAtOnce(long size) throws IOException {
        byte[] d = bomb(size, DeltaFormat.CODEC_NONE);
        assertEquals(292, d.length, "header 99, block header 48, one ZERO frame 17, trailer 128");
        DeltaReader.Result r = DeltaReader.verify(new ByteArrayInputStream(d));
        assertEquals(DeltaFormat.VERSION, r.header().version());
        assertEquals(size, r.header().virtualSize());
        assertEquals(size, r.trailer().zeroBytes());
        List<Frame> frames = DeltaVersions.frames(d);
        assertEquals(List.of(new Frame.Zero(0, size)), frames);
        assertArrayEquals(DeltaVersions.resultV2(frames), r.trailer().resultSha256());

        byte[] xz = bomb(size, DeltaFormat.CODEC_XZ);
        assertEquals(size, DeltaReader.verify(new ByteArrayInputStream(xz)).trailer().zeroBytes());
    }

    /** Every part of the standby's and the CLI's verification, on the file: none opens an image or loops per block. */
    @Test
    @Timeout(5)
    void theStandbysVerificationPassesOverTheBombAtOnce() throws IOException {
        Path f = dir.resolve("bomb.amd");
        Files.write(f, bomb(1L << 62, DeltaFormat.CODEC_XZ));
        assertEquals(1L << 62, DeltaFiles.verify(f).trailer().zeroBytes());            // amirror delta verify
        assertEquals(Files.size(f), DeltaScanner.validPrefix(f));                       // a resumed transfer
        DeltaFiles.Sources s = DeltaFiles.gatherSources(f, () -> {                     // pass one of an apply
            throw new AssertionError("a delta without COPY frames opened its base image");
        }, true);
        assertNull(s.file());
        assertTrue(Files.exists(f));
    }

    @Test
    @Timeout(5)
    void framesEndingAtTheLargestDiskDoNotOverflow() throws IOException {
        long size = Long.MAX_VALUE;
        long lastBlock = size / BS * BS;   // the disk's short last block: 4095 bytes
        DeltaHeader h = new DeltaHeader(UUID.randomUUID(), "vda", size, 0, 1, BS, DeltaFormat.CODEC_NONE, 1 << 16);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] tail = new byte[(int) (size - lastBlock)];
        tail[0] = 7;
        try (DeltaWriter w = new DeltaWriter(out, h, new XzBlockCodec.Preset(0, false), DeltaStreamTest.POOL, 1,
                DeltaWriter.ResultListener.NONE)) {
            w.zero(0, lastBlock - BS);
            w.data(lastBlock - BS, new byte[BS]);
            w.data(lastBlock, tail);
            w.finish();
        }
        byte[] v2 = out.toByteArray();
        List<Frame> frames = DeltaVersions.frames(v2);
        assertEquals(3, frames.size());
        assertArrayEquals(DeltaVersions.resultV2(frames), DeltaReader.verify(new ByteArrayInputStream(v2))
                .trailer().resultSha256());

        // version 1, whose per-block rule once looped past 2^63 on such a frame; a ZERO tail as well
        out.reset();
        try (DeltaWriter w = new DeltaWriter(out, h, new XzBlockCodec.Preset(0, false), DeltaStreamTest.POOL, 1,
                DeltaWriter.ResultListener.NONE)) {
            w.data(lastBlock - BS, new byte[BS]);
            w.zero(lastBlock, size - lastBlock);
            w.finish();
        }
        byte[] v1 = DeltaVersions.asVersion1(out.toByteArray());
        assertEquals(1, DeltaReader.verify(new ByteArrayInputStream(v1)).header().version());
    }

    @Test
    @Timeout(5)
    void aVersion1BombIsRefusedByItsLimitBeforeAnyHashing() throws IOException {
        // the true version 1 result would take 2^50 block records to compute; any will do, the limit comes first
        byte[] v1 = DeltaVersions.reencode(bomb(1L << 62, DeltaFormat.CODEC_NONE), 1, frames -> new byte[32]);
        var e = assertThrows(DeltaFormatException.class, () -> DeltaReader.verify(new ByteArrayInputStream(v1)));
        assertTrue(e.getMessage().startsWith("version 1 delta whose ZERO frames cover more than "
                + DeltaFormat.V1_MAX_ZERO_BYTES + " bytes"), e.getMessage());
    }

    @Test
    @Timeout(5)
    void theVersion1LimitCountsEveryZeroFrameOfTheDelta() throws IOException {
        long size = 1L << 50;
        DeltaHeader h = new DeltaHeader(UUID.randomUUID(), "vda", size, 0, 1, BS, DeltaFormat.CODEC_NONE, 1 << 16);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (DeltaWriter w = new DeltaWriter(out, h, new XzBlockCodec.Preset(0, false), DeltaStreamTest.POOL, 1,
                DeltaWriter.ResultListener.NONE)) {
            w.zero(0, BS);
            w.data(BS, new byte[BS]);
            // together with the first, one block more than the limit; alone, within it
            w.zero(2L * BS, DeltaFormat.V1_MAX_ZERO_BYTES);
            w.finish();
        }
        byte[] v1 = DeltaVersions.reencode(out.toByteArray(), 1, frames -> new byte[32]);
        var e = assertThrows(DeltaFormatException.class, () -> DeltaReader.verify(new ByteArrayInputStream(v1)));
        assertTrue(e.getMessage().contains("ZERO frame [8192, +" + DeltaFormat.V1_MAX_ZERO_BYTES + ")"), e.getMessage());
    }

    @Test
    @Timeout(30)
    void aVersion1DeltaWithinTheLimitStillVerifies() throws IOException {
        // 4 GiB of ZERO: 2^20 block records, as version 1 requires
        byte[] v1 = DeltaVersions.asVersion1(bomb(4L << 30, DeltaFormat.CODEC_XZ));
        DeltaReader.Result r = DeltaReader.verify(new ByteArrayInputStream(v1));
        assertEquals(1, r.header().version());
        assertInstanceOf(Frame.Zero.class, DeltaVersions.frames(v1).get(0));
    }
}
