package io.amirror.transport;

import net.jqwik.api.Arbitrary;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.From;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import net.jqwik.api.lifecycle.AfterProperty;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hostile input into the wire codec. The contract: whatever the bytes, a decoder either returns a
 * message or throws {@link WireProtocolException}; anything else (an IndexOutOfBounds, a
 * BufferUnderflow, a NegativeArraySize, an OutOfMemory, an IllegalArgument) fails the test with
 * the input in hex.
 *
 * <p>Random bytes through the frame reader mostly stop at its header checks, so the decoders are
 * fuzzed directly: random payloads, and valid payloads of every type truncated and mutated, fed
 * straight to the type's own decoder and to another one. Each property counts the inputs each
 * decoder got and how it answered, and fails unless every decoder got its share; the mutation
 * fuzz must also see every decoder both accept and refuse, which shows it reaches past the first
 * field. A payload that decodes must encode back to the same bytes: a decoder accepts one
 * spelling of each message only.
 */
class WireFuzzTest {
    private static final HexFormat HEX = HexFormat.of();
    /** Values that hit the edges of length, count and sign fields. */
    private static final int[] EDGE_BYTES = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff};

    /** Per decoder name: inputs, decoded, refused; per property (jqwik makes one instance per property). */
    private final TreeMap<String, int[]> tally = new TreeMap<>();
    private int minAttempts;
    private boolean mustAcceptAndRefuse;
    /** Set when a decoder broke the contract: then that failure is the news, not the tally. */
    private boolean broken;

    @Provide
    Arbitrary<WireMessage> messages() {
        return WireArbitraries.messages();
    }

    @Property(tries = 400)
    void randomPayloadsIntoEveryDecoder(@ForAll @Size(max = 300) byte[] payload) {
        expect(400, false);
        for (MessageCodec<?> c : MessageCodecs.ALL) {
            feed(c, payload, "random payload");
        }
    }

    @Property(tries = 2500)
    void mutatedPayloadsIntoTheirOwnDecoderAndAnother(@ForAll("messages") WireMessage m, @ForAll long seed) {
        expect(100, true);
        Random r = new Random(seed);
        byte[] valid = payloadOf(m);
        StringBuilder how = new StringBuilder("mutated " + HEX.formatHex(valid) + " by");
        byte[] mutated = valid;
        for (int i = 1 + r.nextInt(3); i > 0; i--) {
            mutated = mutate(mutated, r, how);
        }
        feed(WireCodec.codecOf(m), mutated, how.toString());
        MessageCodec<?> other = MessageCodecs.ALL.get(r.nextInt(MessageCodecs.ALL.size()));
        feed(other, valid, "a valid " + WireCodec.codecOf(m).name + " payload");
        feed(other, mutated, how.toString());
    }

    /** Every prefix of each golden payload and every byte of it set to each edge value, into its decoder. */
    @Example
    void everyTruncationAndByteMutationOfTheGoldenPayloads() {
        expect(1, false);
        for (WireMessage m : WireGoldenTest.golden().keySet()) {
            MessageCodec<?> codec = WireCodec.codecOf(m);
            byte[] payload = payloadOf(m);
            feed(codec, payload, "the golden payload itself");
            feed(codec, Arrays.copyOf(payload, payload.length + 1), "the golden payload and a zero byte");
            for (int len = 0; len < payload.length; len++) {
                feed(codec, Arrays.copyOf(payload, len), "the first " + len + " bytes");
            }
            for (int at = 0; at < payload.length; at++) {
                for (int v : EDGE_BYTES) {
                    byte[] p = payload.clone();
                    p[at] = (byte) v;
                    feed(codec, p, "byte " + at + " set to " + v);
                }
            }
        }
    }

    /** Plain random bytes through the stream reader (what a confused or hostile peer sends). */
    @Property(tries = 500)
    void randomStreamsThroughTheFrameReader(@ForAll @Size(max = 300) byte[] stream) {
        readAll(stream, "random stream");
    }

    /** Well-formed headers of any type, known or not, with random payloads: these reach the decoders through the reader. */
    @Property(tries = 1500)
    void randomFramesThroughTheFrameReader(@ForAll @IntRange(min = 0, max = 20) int type,
            @ForAll @Size(max = 300) byte[] payload) {
        expect(40, false);
        byte[] frame = ByteBuffer.allocate(WireConstants.FRAME_HEADER + payload.length).put((byte) type)
                .putInt(payload.length).put(payload).array();
        boolean refused = readAll(frame, "a frame of type " + type);
        MessageCodec<?> c = MessageCodecs.ALL.stream().filter(k -> k.type == type).findFirst().orElse(null);
        if (c != null) {
            int[] t = tally.computeIfAbsent(c.name, k -> new int[3]);
            t[0]++;
            t[refused ? 2 : 1]++;
        }
    }

    /** Streams of valid frames with their headers and payloads mutated alike. */
    @Property(tries = 600)
    void mutatedStreamsOfValidFramesThroughTheFrameReader(@ForAll @Size(min = 1, max = 3) List<@From("messages") WireMessage> ms,
            @ForAll long seed) throws Exception {
        ByteArrayOutputStream stream = new ByteArrayOutputStream();
        for (WireMessage m : ms) {
            stream.write(WireCodec.encode(m));
        }
        Random r = new Random(seed);
        StringBuilder how = new StringBuilder("frames mutated by");
        byte[] mutated = mutate(stream.toByteArray(), r, how);
        readAll(mutated, how.toString());
    }

    @AfterProperty
    void everyDecoderGotItsShare() {
        if (minAttempts == 0 || broken) {
            return; // a property that counts nothing, or one that failed already with the input that broke it
        }
        for (MessageCodec<?> c : MessageCodecs.ALL) {
            int[] t = tally.getOrDefault(c.name, new int[3]);
            assertTrue(t[0] >= minAttempts, c.name + "'s decoder got " + t[0] + " inputs, fewer than " + minAttempts
                    + ": " + summary());
            if (mustAcceptAndRefuse) {
                assertTrue(t[1] > 0 && t[2] > 0, c.name + "'s decoder never " + (t[1] == 0 ? "accepted" : "refused")
                        + " an input: the fuzz does not reach past its first field: " + summary());
            }
        }
    }

    private void expect(int attempts, boolean acceptAndRefuse) {
        minAttempts = attempts;
        mustAcceptAndRefuse = acceptAndRefuse;
    }

    private String summary() {
        StringBuilder s = new StringBuilder();
        tally.forEach((name, t) -> s.append(String.format("%s %d in, %d decoded, %d refused; ", name, t[0], t[1], t[2])));
        return s.toString();
    }

    /** Feeds {@code payload} straight to one decoder; only a message or a WireProtocolException may come out. */
    private void feed(MessageCodec<?> codec, byte[] payload, String how) {
        int[] t = tally.computeIfAbsent(codec.name, k -> new int[3]);
        t[0]++;
        WireMessage m;
        try {
            m = codec.decode(payload);
        } catch (WireProtocolException expected) {
            t[2]++;
            return;
        } catch (Throwable e) {
            broken = true;
            throw new AssertionError(codec.name + "'s decoder threw " + e + " instead of a protocol violation on "
                    + how + ": " + HEX.formatHex(payload), e);
        }
        t[1]++;
        assertEquals(HEX.formatHex(payload), HEX.formatHex(payloadOf(m)),
                codec.name + " decoded " + how + " to a message that encodes differently");
    }

    /**
     * Reads frames until the stream ends or one is refused, and tells which; only a
     * WireProtocolException may stop it.
     */
    private boolean readAll(byte[] stream, String how) {
        ByteArrayInputStream in = new ByteArrayInputStream(stream);
        try {
            while (WireCodec.read(in) != null) {
                // next frame
            }
            return false;
        } catch (WireProtocolException expected) {
            return true; // the connection would be closed
        } catch (Throwable e) {
            broken = true;
            throw new AssertionError("the frame reader threw " + e + " instead of a protocol violation on " + how
                    + ": " + HEX.formatHex(stream), e);
        }
    }

    private static byte[] payloadOf(WireMessage m) {
        byte[] frame = WireCodec.encode(m);
        return Arrays.copyOfRange(frame, WireConstants.FRAME_HEADER, frame.length);
    }

    /** One random change, told in {@code how}: a byte set, a bit flipped, a field overwritten with edges, cut, insert, delete, append. */
    private static byte[] mutate(byte[] p, Random r, StringBuilder how) {
        int op = p.length == 0 ? 3 + r.nextInt(3) : r.nextInt(7); // an empty payload can only be kept or grown
        int at = p.length == 0 ? 0 : r.nextInt(p.length);
        switch (op) {
            case 0 -> {
                p = p.clone();
                p[at] = (byte) (r.nextBoolean() ? EDGE_BYTES[r.nextInt(EDGE_BYTES.length)] : r.nextInt(256));
                how.append(" setting byte ").append(at).append(" to ").append(p[at] & 0xff);
            }
            case 1 -> {
                p = p.clone();
                p[at] ^= (byte) (1 << r.nextInt(8));
                how.append(" flipping a bit of byte ").append(at);
            }
            case 2 -> {
                // a u16/u32/u64 field (a length, a count, an offset) made its largest, smallest or sign value
                p = p.clone();
                int width = new int[] {2, 4, 8}[r.nextInt(3)];
                int kind = r.nextInt(4);
                int first = new int[] {0xff, 0x00, 0x7f, 0x80}[kind];
                int rest = new int[] {0xff, 0x00, 0xff, 0x00}[kind];
                for (int i = at; i < Math.min(p.length, at + width); i++) {
                    p[i] = (byte) (i == at ? first : rest);
                }
                how.append(" filling ").append(width).append(" bytes at ").append(at).append(" from ").append(first);
            }
            case 3 -> {
                int len = p.length == 0 ? 0 : r.nextInt(p.length);
                how.append(" cutting to ").append(len).append(" bytes");
                p = Arrays.copyOf(p, len);
            }
            case 4 -> {
                byte[] extra = new byte[1 + r.nextInt(8)];
                r.nextBytes(extra);
                byte[] q = new byte[p.length + extra.length];
                System.arraycopy(p, 0, q, 0, at);
                System.arraycopy(extra, 0, q, at, extra.length);
                System.arraycopy(p, at, q, at + extra.length, p.length - at);
                how.append(" inserting ").append(extra.length).append(" bytes at ").append(at);
                p = q;
            }
            case 5 -> {
                byte[] extra = new byte[1 + r.nextInt(64)];
                r.nextBytes(extra);
                byte[] q = Arrays.copyOf(p, p.length + extra.length);
                System.arraycopy(extra, 0, q, p.length, extra.length);
                how.append(" appending ").append(extra.length).append(" bytes");
                p = q;
            }
            default -> {
                int len = Math.min(p.length - at, 1 + r.nextInt(8));
                byte[] q = new byte[p.length - len];
                System.arraycopy(p, 0, q, 0, at);
                System.arraycopy(p, at + len, q, at, p.length - at - len);
                how.append(" deleting ").append(len).append(" bytes at ").append(at);
                p = q;
            }
        }
        return p;
    }
}
