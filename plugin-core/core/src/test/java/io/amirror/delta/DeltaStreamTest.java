package io.amirror.delta;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Round trips of random deltas, and the decoder against every corruption, truncation and lie:
 * each must end in a {@link DeltaFormatException}, never in another exception and never in success.
 */
class DeltaStreamTest {
    static final ExecutorService POOL = Executors.newFixedThreadPool(2);
    static final int BS = DeltaFormat.BLOCK_SIZE;

    /** A planned change: block range and random data (seeded), zeroes, or a COPY from the base (seed picks the source). */
    record Change(int gapBlocks, int blocks, boolean zero, long seed, boolean copy) {
        Change(int gapBlocks, int blocks, boolean zero, long seed) {
            this(gapBlocks, blocks, zero, seed, false);
        }
    }

    @Provide
    Arbitrary<List<Change>> changes() {
        return Combinators.combine(Arbitraries.integers().between(0, 20), Arbitraries.integers().between(1, 40),
                Arbitraries.of(true, false), Arbitraries.longs(), Arbitraries.of(true, false)).as(Change::new).list()
                .ofMaxSize(30);
    }

    /** Writes the changes as a delta over a disk of {@code size} bytes; applies them to {@code model}. */
    static byte[] write(List<Change> changes, long size, int codec, int maxBlockRaw, byte[] model) throws IOException {
        return write(changes, size, codec, maxBlockRaw, model, model.clone());
    }

    /**
     * As above; COPY changes name whole blocks of {@code base} (the disk at the base point, which
     * {@code model} starts as) with their hashes, and the model takes them from {@code base}.
     */
    static byte[] write(List<Change> changes, long size, int codec, int maxBlockRaw, byte[] model, byte[] base)
            throws IOException {
        DeltaHeader h = new DeltaHeader(UUID.nameUUIDFromBytes(new byte[] {1}), "vda", size, 3, 4, BS, codec, maxBlockRaw)
                .withCutMillis(SAMPLE_CUT);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (DeltaWriter w = new DeltaWriter(out, h, new XzBlockCodec.Preset(1, false), POOL, 2,
                DeltaWriter.ResultListener.NONE)) {
            long pos = 0;
            for (Change c : changes) {
                long off = pos + (long) c.gapBlocks() * BS;
                if (off >= size) {
                    break;
                }
                long len = Math.min((long) c.blocks() * BS, size - off);
                long wholeBlocks = size / BS;
                if (c.copy() && len % BS == 0 && len / BS <= wholeBlocks) {
                    long source = Math.floorMod(c.seed(), wholeBlocks - len / BS + 1) * BS;
                    byte[] hashes = new byte[(int) (len / BS) * BlockHash.LENGTH];
                    for (int i = 0; i < len / BS; i++) {
                        System.arraycopy(BlockHash.of(base, (int) (source + (long) i * BS), BS), 0, hashes,
                                i * BlockHash.LENGTH, BlockHash.LENGTH);
                    }
                    w.copy(off, source, hashes);
                    System.arraycopy(base, (int) source, model, (int) off, (int) len);
                } else if (c.zero()) {
                    w.zero(off, len);
                    Arrays.fill(model, (int) off, (int) (off + len), (byte) 0);
                } else {
                    byte[] d = new byte[(int) len];
                    Random r = new Random(c.seed());
                    // half-compressible data: random bytes with runs
                    for (int i = 0; i < d.length; i++) {
                        d[i] = (byte) (r.nextInt(4) == 0 ? r.nextInt() : i / 64);
                    }
                    w.data(off, d);
                    System.arraycopy(d, 0, model, (int) off, d.length);
                }
                pos = off + len;
            }
            w.finish();
        }
        return out.toByteArray();
    }

    /** Applies to a copy of {@code image}; COPY sources come from {@code image} as it was (the base point). */
    static byte[] apply(byte[] delta, byte[] image) throws IOException {
        byte[] copy = image.clone();
        DeltaReader.read(new ByteArrayInputStream(delta), f -> {
            if (f instanceof Frame.Data d) {
                System.arraycopy(d.payload(), 0, copy, (int) d.offset(), d.payload().length);
            } else if (f instanceof Frame.Copy c) {
                for (int i = 0; i < c.blocks(); i++) {
                    assertArrayEquals(c.hash(i), BlockHash.of(image, (int) (c.source() + (long) i * BS), BS));
                }
                System.arraycopy(image, (int) c.source(), copy, (int) c.offset(), (int) c.length());
            } else {
                Arrays.fill(copy, (int) f.offset(), (int) f.end(), (byte) 0);
            }
        });
        return copy;
    }

    @Property(tries = 60)
    void roundTripsAnySequenceOfChanges(@ForAll("changes") List<Change> changes, @ForAll boolean xz,
                                        @ForAll @IntRange(min = 0, max = 3) int tail) throws IOException {
        long size = 300L * BS + tail * 1000L; // a disk whose size may not be a multiple of 4 KiB
        byte[] base = new byte[(int) size];
        new Random(9).nextBytes(base);
        byte[] model = base.clone();
        byte[] delta = write(changes, size, xz ? DeltaFormat.CODEC_XZ : DeltaFormat.CODEC_NONE,
                64 * 1024 /* small blocks: many of them, frames split across */, model);
        assertArrayEquals(model, apply(delta, base));
        DeltaReader.Result r = DeltaReader.verify(new ByteArrayInputStream(delta));
        assertEquals(4, r.header().newPoint());
    }

    /**
     * The reader accepts exactly what the writer writes: version 2, every frame as written (the
     * model above), and a result SHA-256 by version 2's rule as the spec words it. The same stream
     * re-encoded as version 1 verifies and makes the same image, and labelled version 1 without the
     * version 1 result it is refused (the rules differ for every stream with a frame).
     */
    @Property(tries = 60)
    void theReaderAcceptsExactlyWhatTheWriterWritesInEitherVersion(@ForAll("changes") List<Change> changes,
                                                                     @ForAll boolean xz) throws IOException {
        long size = 200L * BS + 123;
        byte[] base = new byte[(int) size];
        new Random(5).nextBytes(base);
        byte[] model = base.clone();
        byte[] v2 = write(changes, size, xz ? DeltaFormat.CODEC_XZ : DeltaFormat.CODEC_NONE, 32 * 1024, model, base);
        DeltaReader.Result r = DeltaReader.verify(new ByteArrayInputStream(v2));
        assertEquals(DeltaFormat.VERSION, r.header().version());
        List<Frame> frames = DeltaVersions.frames(v2);
        assertArrayEquals(DeltaVersions.resultV2(frames), r.trailer().resultSha256());
        assertEquals(frames.stream().filter(f -> f instanceof Frame.Zero).mapToLong(Frame::length).sum(),
                r.trailer().zeroBytes());

        byte[] v1 = DeltaVersions.asVersion1(v2);
        assertEquals(1, DeltaReader.verify(new ByteArrayInputStream(v1)).header().version());
        assertArrayEquals(model, apply(v1, base));
        assertArrayEquals(model, apply(v2, base));

        byte[] lie = DeltaVersions.reencode(v2, 1, DeltaVersions::resultV2);
        if (frames.isEmpty()) {
            DeltaReader.verify(new ByteArrayInputStream(lie));
        } else {
            mustBeRejected(lie, "a version 2 result under a version 1 header");
        }
    }

    /** The cut time every stream this test writes carries (so a flip of it is among those caught). */
    static final long SAMPLE_CUT = 1_790_000_000_123L;

    /** Any cut time goes through the header as it is, in every header a writer may write. */
    @Property(tries = 200)
    void theCutTimeRoundTripsThroughTheHeader(@ForAll @net.jqwik.api.constraints.LongRange(min = 0) long cut,
                                              @ForAll @IntRange(min = 1, max = 32) int diskLength)
            throws IOException {
        DeltaHeader h = new DeltaHeader(UUID.randomUUID(), "v" + "d".repeat(diskLength - 1), 10L * BS, 2, 3, BS,
                DeltaFormat.CODEC_XZ, 65536).withCutMillis(cut);
        byte[] bytes = DeltaCodec.encodeHeader(h);
        assertEquals(DeltaCodec.headerMin(DeltaFormat.VERSION) - 1 + diskLength, bytes.length);
        DeltaHeader back = DeltaCodec.decodeHeader(bytes);
        assertEquals(h, back);
        assertEquals(cut, back.cutMillis());
        assertEquals(cut, DeltaReader.readHeader(new ByteArrayInputStream(bytes)).cutMillis());
    }

    private static byte[] sample;
    private static byte[] sampleV1;

    /** A small delta with every kind of frame, written once (a copy each time). */
    static synchronized byte[] sample() throws IOException {
        if (sample == null) {
            List<Change> cs = List.of(new Change(1, 20, false, 1), new Change(3, 50, true, 0),
                    new Change(2, 40, false, 2), new Change(0, 5, false, 3), new Change(1, 6, false, 11, true));
            sample = write(cs, 200L * BS, DeltaFormat.CODEC_XZ, 64 * 1024, new byte[200 * BS]);
        }
        return sample.clone();
    }

    /** {@link #sample()} as version 1 writes it. */
    static synchronized byte[] sampleV1() throws IOException {
        if (sampleV1 == null) {
            sampleV1 = DeltaVersions.asVersion1(sample());
        }
        return sampleV1.clone();
    }

    static void mustBeRejected(byte[] bad, String what) {
        try {
            DeltaReader.verify(new ByteArrayInputStream(bad));
            fail(what + " was accepted");
        } catch (DeltaFormatException expected) {
            assertTrue(expected.getMessage() != null && !expected.getMessage().isBlank());
        } catch (Exception e) {
            throw new AssertionError(what + " raised " + e + " instead of a clear DeltaFormatException", e);
        }
    }

    @Property(tries = 2)
    void everySingleFlippedByteIsCaught(@ForAll boolean version1) throws IOException {
        byte[] good = version1 ? sampleV1() : sample();
        DeltaReader.verify(new ByteArrayInputStream(good));
        // every byte of the header, the first block header and the trailer; a sample of the rest
        TreeSet<Integer> at = new TreeSet<>();
        for (int i = 0; i < 200; i++) {
            at.add(i);
            at.add(good.length - 1 - i);
        }
        Random r = new Random(3);
        for (int i = 0; i < 300; i++) {
            at.add(r.nextInt(good.length));
        }
        for (int i : at) {
            byte[] bad = good.clone();
            bad[i] ^= 0x40;
            mustBeRejected(bad, "a flip at byte " + i);
        }
    }

    @Example
    void everyTruncationIsCaught() throws IOException {
        byte[] good = sample();
        for (int n = 0; n < good.length; n += Math.max(1, good.length / 400)) {
            mustBeRejected(Arrays.copyOf(good, n), "a stream cut at " + n);
        }
        byte[] longer = Arrays.copyOf(good, good.length + 1);
        mustBeRejected(longer, "a byte after the trailer");
    }

    @Example
    void lyingLengthsAreRefusedBeforeAnythingIsAllocated() throws IOException {
        byte[] good = sample();
        int firstBlock = DeltaCodec.encodeHeader(DeltaReader.readHeader(new ByteArrayInputStream(good))).length;
        for (int lie : new int[] {0x7fffffff, -1, 0, 0x04000001}) {
            byte[] bad = good.clone();
            ByteBuffer.wrap(bad, firstBlock + 8, 4).putInt(lie);   // raw length
            mustBeRejected(bad, "raw length " + lie);
            bad = good.clone();
            ByteBuffer.wrap(bad, firstBlock + 12, 4).putInt(lie);  // stored length
            mustBeRejected(bad, "stored length " + lie);
        }
        DeltaFormatException e = assertThrows(DeltaFormatException.class, () -> DeltaReader.verify(
                new ByteArrayInputStream("PK\u0003\u0004 not a delta at all".getBytes())));
        assertTrue(e.getMessage().contains("not an amirror delta") || e.getMessage().contains("truncated"), e.getMessage());
    }

    @Example
    void framesOutsideTheDiskOrOutOfOrderAreRefusedEvenWithValidChecksums() throws IOException {
        DeltaHeader h = new DeltaHeader(UUID.randomUUID(), "vda", 64L * BS, 0, 1, BS, DeltaFormat.CODEC_NONE, 65536);
        DeltaCodec.FrameOrder order = new DeltaCodec.FrameOrder(h);
        assertThrows(DeltaFormatException.class, () -> order.check(63L * BS, 2 * BS, "DATA"), "past the end");
        assertThrows(DeltaFormatException.class, () -> new DeltaCodec.FrameOrder(h).check(100, BS, "DATA"), "unaligned");
        order.check(10L * BS, BS, "DATA");
        assertThrows(DeltaFormatException.class, () -> order.check(10L * BS, BS, "ZERO"), "overlap");
        assertThrows(DeltaFormatException.class, () -> order.check(2L * BS, BS, "ZERO"), "backwards");
        assertThrows(DeltaFormatException.class, () -> new DeltaCodec.FrameOrder(h).check(Long.MAX_VALUE - 5, 10, "ZERO"));
        // a DATA frame claiming more bytes than its block holds
        ByteBuffer b = ByteBuffer.allocate(64);
        b.put((byte) DeltaFormat.FRAME_DATA).putLong(0).putInt(BS).put(new byte[10]);
        assertThrows(DeltaFormatException.class, () -> DeltaCodec.decodeFrames(b.array(), b.position(),
                new DeltaCodec.FrameOrder(h)));
        ByteBuffer unknown = ByteBuffer.allocate(20).put((byte) 3).putLong(0).putLong(BS);
        var e = assertThrows(DeltaFormatException.class, () -> DeltaCodec.decodeFrames(unknown.array(), 17,
                new DeltaCodec.FrameOrder(h)));
        assertTrue(e.getMessage().contains("COPY"), e.getMessage());
    }

    @Property(tries = 200)
    void fuzzedStreamsOnlyEverFailCleanly(@ForAll @IntRange(min = 0, max = 20) int mutations, @ForAll long seed,
                                          @ForAll boolean version1) throws IOException {
        byte[] good = version1 ? sampleV1() : sample();
        byte[] bad = good.clone();
        Random r = new Random(seed);
        for (int i = 0; i < mutations; i++) {
            switch (r.nextInt(3)) {
                case 0 -> bad[r.nextInt(bad.length)] ^= (byte) (1 + r.nextInt(255));   // always a change
                case 1 -> bad = Arrays.copyOf(bad, Math.max(1, bad.length - 1 - r.nextInt(200)));
                default -> {
                    int at = r.nextInt(bad.length);
                    bad[at] = (byte) (bad[at] + 1);
                }
            }
        }
        if (Arrays.equals(bad, good)) {
            // no mutation, or mutations that undid each other: the stream is the valid one
            DeltaReader.verify(new ByteArrayInputStream(bad));
        } else {
            mustBeRejected(bad, "a stream with " + mutations + " mutations");
        }
    }

    @Example
    void writerRefusesFramesTheReaderWouldRefuse() throws IOException {
        DeltaHeader h = new DeltaHeader(UUID.randomUUID(), "vda", 64L * BS, 0, 1, BS, DeltaFormat.CODEC_NONE, 65536);
        try (DeltaWriter w = new DeltaWriter(new ByteArrayOutputStream(), h, new XzBlockCodec.Preset(0, false), POOL, 1,
                DeltaWriter.ResultListener.NONE)) {
            w.data(4 * BS, new byte[BS]);
            assertThrows(IllegalArgumentException.class, () -> w.zero(0, BS));
            assertThrows(IllegalArgumentException.class, () -> w.data(8 * BS + 1, new byte[BS]));
        }
    }
}
