package io.amirror.delta;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;

/**
 * The strong hash of one 4 KiB block: the first 16 bytes of its SHA-256. Sixteen bytes keep the
 * replica hash map at 0.4 % of the disk while a collision stays out of reach (2^64 work even for
 * an attacker who controls the guest's writes, by the birthday bound).
 */
public final class BlockHash {
    public static final int LENGTH = 16;
    private static final byte[] ZERO_BLOCK = new byte[DeltaFormat.BLOCK_SIZE];
    /** The hash of a full block of zeroes. */
    public static final byte[] ZERO = of(ZERO_BLOCK, 0, ZERO_BLOCK.length);

    private BlockHash() {
    }

    public static byte[] of(byte[] b, int offset, int length) {
        MessageDigest md = sha256();
        md.update(b, offset, length);
        return Arrays.copyOf(md.digest(), LENGTH);
    }

    /** The hash of {@code length} zero bytes (a partial block at the end of the disk, or a full one). */
    public static byte[] zero(int length) {
        return length == DeltaFormat.BLOCK_SIZE ? ZERO : of(ZERO_BLOCK, 0, length);
    }

    public static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks SHA-256", e);
        }
    }

    public static boolean isZero(byte[] b, int offset, int length) {
        return Arrays.mismatch(b, offset, offset + length, ZERO_BLOCK, 0, length) < 0;
    }
}
