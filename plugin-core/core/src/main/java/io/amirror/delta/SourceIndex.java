package io.amirror.delta;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.OptionalLong;

/**
 * Where the replica already holds a given 4 KiB block: block hash to block number, built from the
 * replica hash map at the delta's base point, so that a changed block whose content exists
 * elsewhere on the replica goes as a COPY frame (19 bytes per run plus 16 per block) instead of
 * data.
 *
 * <p>Memory is bounded: an open-addressing table of the first 8 bytes of each hash and a block
 * number, at most {@code maxEntries} entries (12 bytes each, at a load of at most one half). A
 * replica with more distinct non-zero blocks than that is <em>sampled</em>: only hashes whose top
 * bits are zero are indexed, 1 in 2^k. The trade-off: an isolated duplicate block is then found
 * with probability 2^-k, while a copied run of blocks (a file copied or moved) is still found as
 * soon as one of its blocks is sampled, because {@link Refiner} extends a COPY run block by block
 * through the map itself. With the default of 2^20 entries (24 MiB), replicas of up to 4 GiB of
 * distinct data are indexed whole.
 *
 * <p>The index only proposes: every candidate is confirmed against the full 16-byte hash in the
 * map before it is used, and the standby checks every source block again before it copies.
 */
public final class SourceIndex {
    public static final int DEFAULT_MAX_ENTRIES = 1 << 20;
    private static final int BATCH = 1 << 16;

    private final long[] keys;   // 0: empty slot
    private final int[] blocks;
    private final int mask;
    private final int sampleBits;
    private int size;

    private SourceIndex(int capacity, int sampleBits) {
        this.keys = new long[capacity];
        this.blocks = new int[capacity];
        this.mask = capacity - 1;
        this.sampleBits = sampleBits;
    }

    /** Indexes the known, non-zero blocks of {@code map} (its acknowledged point). */
    public static SourceIndex build(ReplicaHashMap map, int maxEntries) throws IOException {
        long total = map.blocks();
        long candidates = 0;
        for (long first = 0; first < total; first += BATCH) {
            int n = (int) Math.min(BATCH, total - first);
            byte[] h = map.read(first, n);
            for (int i = 0; i < n; i++) {
                if (indexable(h, i)) {
                    candidates++;
                }
            }
        }
        int bits = 0;
        while ((candidates >> bits) > maxEntries) {
            bits++;
        }
        long wanted = Math.max(16, Math.min(candidates >> bits, maxEntries) * 2);
        int capacity = Integer.highestOneBit((int) Math.min(1 << 30, wanted - 1)) << 1;
        SourceIndex index = new SourceIndex(capacity, bits);
        for (long first = 0; first < total && first < Integer.MAX_VALUE; first += BATCH) {
            int n = (int) Math.min(BATCH, total - first);
            byte[] h = map.read(first, n);
            for (int i = 0; i < n; i++) {
                if (indexable(h, i)) {
                    index.add(key(h, i * BlockHash.LENGTH), (int) (first + i));
                }
            }
        }
        return index;
    }

    private static boolean indexable(byte[] hashes, int i) {
        return ReplicaHashMap.known(hashes, i) && !ReplicaHashMap.matches(hashes, i, BlockHash.ZERO);
    }

    private static long key(byte[] hash, int at) {
        long k = ByteBuffer.wrap(hash, at, 8).getLong();
        return k == 0 ? 1 : k;
    }

    private boolean sampled(long key) {
        return sampleBits == 0 || key >>> (64 - sampleBits) == 0;
    }

    private void add(long key, int block) {
        if (!sampled(key) || size >= keys.length / 2) {
            return;
        }
        for (int slot = slot(key); ; slot = (slot + 1) & mask) {
            if (keys[slot] == 0) {
                keys[slot] = key;
                blocks[slot] = block;
                size++;
                return;
            }
            if (keys[slot] == key) {
                return; // any one source will do
            }
        }
    }

    private int slot(long key) {
        return (int) (key ^ (key >>> 29)) & mask;
    }

    /** A block of the replica whose hash may be {@code hash} (confirm it in the map before use). */
    public OptionalLong find(byte[] hash) {
        long key = key(hash, 0);
        if (!sampled(key)) {
            return OptionalLong.empty();
        }
        for (int slot = slot(key); keys[slot] != 0; slot = (slot + 1) & mask) {
            if (keys[slot] == key) {
                return OptionalLong.of(blocks[slot]);
            }
        }
        return OptionalLong.empty();
    }

    public int size() {
        return size;
    }

    /** 0 when every indexable block is in; k when 1 in 2^k is. */
    public int sampleBits() {
        return sampleBits;
    }
}
