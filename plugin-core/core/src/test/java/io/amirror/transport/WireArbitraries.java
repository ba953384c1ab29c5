package io.amirror.transport;

import io.amirror.transport.WireMessage.Ack;
import io.amirror.transport.WireMessage.Commit;
import io.amirror.transport.WireMessage.Data;
import io.amirror.transport.WireMessage.Describe;
import io.amirror.transport.WireMessage.Described;
import io.amirror.transport.WireMessage.Hello;
import io.amirror.transport.WireMessage.Offer;
import io.amirror.transport.WireMessage.Progress;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.transport.WireMessage.Resume;
import io.amirror.transport.WireMessage.SeedPart;
import io.amirror.transport.WireMessage.SeedQuery;
import io.amirror.transport.WireMessage.Stale;
import io.amirror.transport.WireMessage.Verified;
import io.amirror.transport.WireMessage.Verify;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;

import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

import static io.amirror.transport.WireConstants.BLOCK_SIZE;
import static io.amirror.transport.WireConstants.GROUP_DIGEST_LENGTH;
import static io.amirror.transport.WireConstants.MIN_GROUP_BLOCKS;
import static io.amirror.transport.WireConstants.SEED_BLOCKS;
import static io.amirror.transport.WireConstants.SHA256_LENGTH;

/**
 * Random valid instances of every wire message: values anywhere in the ranges the decoders
 * accept, sizes kept small so that many cases run quickly (the limits themselves are examples in
 * {@link WireRoundTripTest}).
 */
final class WireArbitraries {

    private WireArbitraries() {
    }

    /** Any valid message, every type equally likely. */
    static Arbitrary<WireMessage> messages() {
        return Arbitraries.oneOf(List.copyOf(byType().values()));
    }

    /** One arbitrary per message record; {@link WireRoundTripTest} checks it covers them all. */
    static Map<Class<? extends WireMessage>, Arbitrary<? extends WireMessage>> byType() {
        Map<Class<? extends WireMessage>, Arbitrary<? extends WireMessage>> m = new LinkedHashMap<>();
        m.put(Hello.class, Combinators.combine(u16(), text()).as(Hello::new));
        m.put(Offer.class, Combinators.combine(uuids(), disks(), Arbitraries.integers().between(0, Integer.MAX_VALUE - 1),
                        Arbitraries.integers().between(1, Integer.MAX_VALUE), Arbitraries.longs().between(1, Long.MAX_VALUE),
                        bytes(SHA256_LENGTH, SHA256_LENGTH), Arbitraries.longs().between(1, Long.MAX_VALUE),
                        disks().set().ofMaxSize(4))
                .as((u, d, base, step, size, sha, virtualSize, others) -> {
                    Set<String> all = new LinkedHashSet<>(others);
                    all.add(d);
                    return new Offer(u, d, base, (int) Math.min(Integer.MAX_VALUE, (long) base + step), size, sha,
                            virtualSize, List.copyOf(all));
                }));
        m.put(Resume.class, offsets().map(Resume::new));
        m.put(Data.class, Combinators.combine(offsets(), bytes(0, 600)).as(Data::new));
        m.put(Commit.class, Arbitraries.just(new Commit()));
        m.put(Ack.class, Combinators.combine(uuids(), disks(), points(1)).as(Ack::new));
        m.put(Refuse.class, Combinators.combine(u16(), text()).as(Refuse::new));
        m.put(Describe.class, Combinators.combine(uuids(), points(1), bytes(1, 600)).as(Describe::new));
        m.put(Described.class, Combinators.combine(uuids(), bytes(SHA256_LENGTH, SHA256_LENGTH)).as(Described::new));
        m.put(Verify.class, Combinators.combine(uuids(), disks(), points(1),
                Arbitraries.integers().between(MIN_GROUP_BLOCKS, Integer.MAX_VALUE)).as(Verify::new));
        m.put(Verified.class, Combinators.combine(uuids(), disks(), points(1), Arbitraries.integers().between(0, 40))
                .flatAs((u, d, p, groups) -> bytes(groups * GROUP_DIGEST_LENGTH, groups * GROUP_DIGEST_LENGTH)
                        .map(digests -> new Verified(u, d, p, digests))));
        m.put(SeedQuery.class, Combinators.combine(uuids(), disks(), Arbitraries.longs().between(1, Long.MAX_VALUE), offsets())
                .as(SeedQuery::new));
        m.put(SeedPart.class, Combinators.combine(uuids(), disks(), offsets(), Arbitraries.integers().between(1, SEED_BLOCKS),
                bytes(1, 600)).as(SeedPart::new));
        m.put(Progress.class, Combinators.combine(offsets(), offsets())
                .as((a, b) -> new Progress(Math.min(a, b), Math.max(a, b))));
        m.put(Stale.class, Combinators.combine(uuids(), disks(), points(1), ranges().list().ofMinSize(1).ofMaxSize(40))
                .as(Stale::new));
        m.put(WireMessage.Switchover.class, Combinators.combine(uuids(), points(1), Arbitraries.of(true, false), text(),
                Arbitraries.integers().between(10, WireConstants.MAX_BACK_INTERVAL_SECONDS)).as(WireMessage.Switchover::new));
        m.put(WireMessage.Switched.class, Combinators.combine(uuids(), points(1), text(), uuids())
                .as(WireMessage.Switched::new));
        return m;
    }

    static Arbitrary<UUID> uuids() {
        return Combinators.combine(Arbitraries.longs(), Arbitraries.longs()).as(UUID::new);
    }

    /** Disk target names as amirror accepts them: a letter, then up to 31 letters and digits. */
    static Arbitrary<String> disks() {
        return Combinators.combine(Arbitraries.chars().range('a', 'z'),
                        Arbitraries.strings().withCharRange('a', 'z').withCharRange('0', '9').ofMaxLength(31))
                .as((first, rest) -> first + rest);
    }

    /** Free text of any characters (no lone surrogates, which have no UTF-8 form), well under the string limit. */
    static Arbitrary<String> text() {
        return Arbitraries.strings().withCharRange('\u0000', '\ud7ff').withCharRange('\ue000', '\uffff')
                .ofMaxLength(120);
    }

    static Arbitrary<Integer> points(int min) {
        return Arbitraries.integers().between(min, Integer.MAX_VALUE);
    }

    static Arbitrary<Integer> u16() {
        return Arbitraries.integers().between(0, 0xffff);
    }

    static Arbitrary<Long> offsets() {
        return Arbitraries.longs().between(0, Long.MAX_VALUE);
    }

    static Arbitrary<byte[]> bytes(int min, int max) {
        return Arbitraries.bytes().array(byte[].class).ofMinSize(min).ofMaxSize(max);
    }

    /** Whole-block ranges anywhere on a disk of up to 2^52 bytes. */
    static Arbitrary<long[]> ranges() {
        return Combinators.combine(Arbitraries.longs().between(0, 1L << 40), Arbitraries.longs().between(1, 1L << 20))
                .as((block, blocks) -> new long[] {block * BLOCK_SIZE, blocks * BLOCK_SIZE});
    }
}
