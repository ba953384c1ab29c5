package io.amirror.capture;

/**
 * How far a pull backup's scratch files may grow while a point is read: at most
 * {@code maxBytes} (0: no fixed bound) and at most {@code shareOfFree} of the scratch file
 * system's free space when the point is cut, and never so far that less than
 * {@code reserveBytes} stays free there ({@link ScratchWatch}).
 */
public record ScratchBudget(long maxBytes, double shareOfFree, long reserveBytes) {
    /** Half the free space, and 256 MiB kept free: the host's other users of that disk go on. */
    public static final ScratchBudget DEFAULT = new ScratchBudget(0, 0.5, 256L << 20);

    public ScratchBudget {
        if (maxBytes < 0 || reserveBytes < 0 || !(shareOfFree > 0 && shareOfFree <= 1)) {
            throw new IllegalArgumentException("a scratch budget needs sizes >= 0 and a share of the free space in (0, 1]");
        }
    }

    /** The scratch bytes allowed for a job started with {@code freeBytes} free on the scratch file system. */
    long limitFor(long freeBytes) {
        long share = (long) (Math.max(0, freeBytes - reserveBytes) * shareOfFree);
        return maxBytes > 0 ? Math.min(maxBytes, share) : share;
    }
}
