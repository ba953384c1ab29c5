package io.amirror.delta;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A compact summary of a disk's content for {@code verify}: the disk's 4 KiB blocks in groups of
 * {@code groupBlocks}; each group's digest is the first 16 bytes of SHA-256 over its blocks'
 * {@link BlockHash}es. The standby computes it from the replica image, the primary from its
 * {@link ReplicaHashMap}; equal digests mean equal content, and only 16 bytes per group cross the
 * link (a 100 GiB disk in 1 MiB groups: 1.6 MB; groups grow for larger disks so that at most
 * {@link #MAX_GROUPS} are sent).
 */
public final class GroupDigests {
    public static final int LENGTH = 16;
    public static final int MIN_GROUP_BLOCKS = 256;
    public static final int MAX_GROUPS = 32768;

    private GroupDigests() {
    }

    /** The group size for a disk of {@code virtualSize} bytes: 1 MiB, larger when needed to stay under {@link #MAX_GROUPS}. */
    public static int groupBlocks(long virtualSize) {
        long g = Math.max(MIN_GROUP_BLOCKS, ceilDiv(blocks(virtualSize), MAX_GROUPS));
        return (int) Math.min(g, Integer.MAX_VALUE);
    }

    /**
     * How many groups of {@code groupBlocks} blocks a disk of {@code virtualSize} bytes has; past
     * {@link Integer#MAX_VALUE}, that (callers refuse more than {@link #MAX_GROUPS} long before).
     */
    public static int groups(long virtualSize, int groupBlocks) {
        if (groupBlocks <= 0) {
            throw new IllegalArgumentException("groups of " + groupBlocks + " blocks");
        }
        return (int) Math.min(ceilDiv(blocks(virtualSize), groupBlocks), Integer.MAX_VALUE);
    }

    private static long blocks(long virtualSize) {
        return ceilDiv(Math.max(0, virtualSize), DeltaFormat.BLOCK_SIZE);
    }

    /** {@code a / b} rounded up, for {@code a >= 0, b > 0}, without overflow. */
    private static long ceilDiv(long a, long b) {
        return a / b + (a % b == 0 ? 0 : 1);
    }

    /** Digests of an image's content, read in order (the standby's side). */
    public static byte[] ofImage(InputStream image, long virtualSize, int groupBlocks) throws IOException {
        int groups = groups(virtualSize, groupBlocks);
        byte[] out = new byte[groups * LENGTH];
        byte[] block = new byte[DeltaFormat.BLOCK_SIZE];
        long remaining = virtualSize;
        for (int g = 0; g < groups; g++) {
            MessageDigest d = BlockHash.sha256();
            for (int i = 0; i < groupBlocks && remaining > 0; i++) {
                int n = (int) Math.min(block.length, remaining);
                if (image.readNBytes(block, 0, n) != n) {
                    throw new EOFException("image ends " + remaining + " bytes early");
                }
                d.update(BlockHash.of(block, 0, n));
                remaining -= n;
            }
            System.arraycopy(d.digest(), 0, out, g * LENGTH, LENGTH);
        }
        return out;
    }

    /**
     * Digests of what the map says the replica holds (the primary's side); a group with a block the
     * map does not know has no digest: {@code null} in its place.
     */
    public static byte[][] ofMap(ReplicaHashMap map, int groupBlocks) throws IOException {
        int groups = groups(map.virtualSize(), groupBlocks);
        byte[][] out = new byte[groups][];
        for (int g = 0; g < groups; g++) {
            long first = (long) g * groupBlocks;
            int count = (int) Math.min(groupBlocks, map.blocks() - first);
            byte[] hashes = map.read(first, count);
            MessageDigest d = BlockHash.sha256();
            boolean known = true;
            for (int i = 0; i < count && known; i++) {
                known = ReplicaHashMap.known(hashes, i);
            }
            if (known) {
                d.update(hashes);
                out[g] = Arrays.copyOf(d.digest(), LENGTH);
            }
        }
        return out;
    }

    /** How two summaries of one disk compare: groups equal, groups the primary cannot judge, byte ranges that differ. */
    public record Comparison(int matching, int unknown, List<long[]> mismatches) {
    }

    /**
     * Compares the primary's digests ({@link #ofMap}, null where unknown) with the standby's
     * ({@link #ofImage}, same group size); differing groups come back as {@code [offset, length]}.
     */
    public static Comparison compare(byte[][] mine, byte[] theirs, int groupBlocks, long virtualSize) {
        long groupBytes = (long) groupBlocks * DeltaFormat.BLOCK_SIZE;
        int matching = 0;
        int unknown = 0;
        List<long[]> mismatches = new ArrayList<>();
        for (int g = 0; g < mine.length; g++) {
            if (mine[g] == null) {
                unknown++;
            } else if (Arrays.equals(mine[g], 0, LENGTH, theirs, g * LENGTH, (g + 1) * LENGTH)) {
                matching++;
            } else {
                long off = g * groupBytes;
                mismatches.add(new long[] {off, Math.min(groupBytes, virtualSize - off)});
            }
        }
        return new Comparison(matching, unknown, mismatches);
    }
}
