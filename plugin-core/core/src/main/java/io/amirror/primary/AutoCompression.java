package io.amirror.primary;

import io.amirror.delta.PresetChooser;
import io.amirror.delta.XzBlockCodec;

import java.util.List;

/**
 * The {@code compression: auto} of a policy, for one standby link: the strongest xz preset whose
 * compressed output still keeps the link busy. It learns from each cycle: when a capture produced
 * compressed bytes slower than the link carries them (with {@link #MARGIN}), the next cycle steps
 * one preset down; when it produced them more than {@link #HEADROOM} times faster, it steps one
 * up. Cycles shorter than {@link #MIN_SECONDS} say too little and change nothing. Full captures
 * (the first sync) start at preset 6, which runs several times faster than 9e at 1–8 % more bytes
 * on large inputs.
 *
 * <p>A step down remembers the rate the stronger preset did produce. When the link later gets
 * slower (a policy's bandwidth window: a fast night, a slow office day), that preset is taken
 * again as soon as its remembered rate keeps the slower link busy: the short cycles of a slow
 * day would never teach it, and every byte counts most on the slow link.
 */
public final class AutoCompression {
    static final double MARGIN = 1.25;
    static final double HEADROOM = 4;
    static final double MIN_SECONDS = 5;
    private static final List<XzBlockCodec.Preset> LADDER = PresetChooser.CANDIDATES; // strongest first
    private static final XzBlockCodec.Preset FULL = new XzBlockCodec.Preset(6, false);

    private int rung; // index into LADDER
    /** Per rung: the output rate (bytes/s) it produced when it was found too slow, 0 if never. */
    private final double[] producedWhenLeft = new double[LADDER.size()];

    /** Set by {@link #readTooSlow}: the next capture takes the fastest preset. */
    private boolean hurry;

    /**
     * A capture with {@code used} read its point so slowly that the backup's scratch outgrew its
     * budget (the guest writes while the point is read): the next capture takes the fastest preset,
     * whatever the link, and the ladder starts again one rung below {@code used}.
     */
    public synchronized void readTooSlow(XzBlockCodec.Preset used) {
        hurry = true;
        int at = LADDER.indexOf(used);
        if (at >= rung && at < LADDER.size() - 1) {
            rung = at + 1;
        } else if (at < 0 && rung < LADDER.size() - 1) {
            rung++;
        }
    }

    /** The preset for the next capture on a link that carries {@code linkBytesPerSecond} now. */
    public synchronized XzBlockCodec.Preset next(boolean fullCapture, double linkBytesPerSecond) {
        if (hurry) {
            hurry = false;
            return LADDER.get(LADDER.size() - 1);
        }
        while (rung > 0 && linkBytesPerSecond > 0 && producedWhenLeft[rung - 1] >= linkBytesPerSecond * MARGIN) {
            rung--; // the link got slower: a stronger preset that was left for being too slow keeps up again
        }
        if (fullCapture) {
            XzBlockCodec.Preset current = LADDER.get(rung);
            return current.compareTo(FULL) > 0 ? FULL : current;
        }
        return LADDER.get(rung);
    }

    /**
     * What the last cycle did: with {@code used} it turned its captured data into
     * {@code storedBytes} of delta in {@code seconds}, for a link of {@code linkBytesPerSecond}.
     * A full capture uses a weaker preset than the rung's: when even that was too slow the rung
     * steps down, but it says nothing of the rung's own speed.
     */
    public synchronized void observe(XzBlockCodec.Preset used, long storedBytes, double seconds,
                                     double linkBytesPerSecond) {
        if (seconds < MIN_SECONDS || linkBytesPerSecond <= 0) {
            return;
        }
        boolean ownPreset = used.equals(LADDER.get(rung));
        double produced = storedBytes / seconds;
        if (produced < linkBytesPerSecond * MARGIN && rung < LADDER.size() - 1) {
            producedWhenLeft[rung] = ownPreset ? produced : 0;
            rung++;
        } else if (ownPreset && produced > linkBytesPerSecond * HEADROOM && rung > 0) {
            rung--;
        }
    }
}
