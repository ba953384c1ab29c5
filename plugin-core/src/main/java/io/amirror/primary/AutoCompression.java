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
 */
public final class AutoCompression {
    static final double MARGIN = 1.25;
    static final double HEADROOM = 4;
    static final double MIN_SECONDS = 5;
    private static final List<XzBlockCodec.Preset> LADDER = PresetChooser.CANDIDATES; // strongest first
    private static final XzBlockCodec.Preset FULL = new XzBlockCodec.Preset(6, false);

    private int rung; // index into LADDER

    public synchronized XzBlockCodec.Preset next(boolean fullCapture) {
        if (fullCapture) {
            XzBlockCodec.Preset current = LADDER.get(rung);
            return current.compareTo(FULL) > 0 ? FULL : current;
        }
        return LADDER.get(rung);
    }

    /**
     * What the last cycle did: it turned its captured data into {@code storedBytes} of delta in
     * {@code seconds}, for a link of {@code linkBytesPerSecond}.
     */
    public synchronized void observe(long storedBytes, double seconds, double linkBytesPerSecond) {
        if (seconds < MIN_SECONDS || linkBytesPerSecond <= 0) {
            return;
        }
        double produced = storedBytes / seconds;
        if (produced < linkBytesPerSecond * MARGIN && rung < LADDER.size() - 1) {
            rung++;
        } else if (produced > linkBytesPerSecond * HEADROOM && rung > 0) {
            rung--;
        }
    }
}
