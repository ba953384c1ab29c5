package io.amirror.primary;

import io.amirror.delta.PresetChooser;
import io.amirror.delta.XzBlockCodec;

import java.time.Duration;
import java.util.List;

/**
 * The {@code compression: auto} of a policy, for one standby link. Bytes come first: an
 * incremental point takes the strongest xz preset whose point still fits in its time budget; only
 * the first copy, which has hours, is chosen by the link's pace.
 *
 * <p><b>Incremental points.</b> The budget (a share of the schedule's spacing or of a continuous
 * target, {@code Policy.Rpo#pointBudget}) bounds the point's capture and encoding. For each preset
 * of the ladder the expected time is {@code raw / rate(p)}, with {@code raw} the bytes the recent
 * points gave the encoder and {@code rate(p)} the raw bytes per second a point with that preset was
 * captured and encoded at (measured while the guests ran, so on the CPU actually free). The
 * transfer is not counted: a stronger preset only shortens it. A preset not used yet is estimated
 * from the nearest measured one by the presets' relative speeds ({@link #RELATIVE_SPEED}); its
 * first use measures it. The strongest preset whose expected time fits is taken; when none fits,
 * the fastest. Rates and sizes are smoothed, so one load gets one preset, point after point.
 *
 * <p><b>The first copy</b> (a full capture) starts at preset 6, which runs several times faster than
 * 9e at 1–8 % more bytes on large inputs, and follows a ladder: when a cycle produced compressed
 * bytes slower than the link carries them (with {@link #MARGIN}) the next full capture steps one
 * preset down, and one up when it produced them more than {@link #HEADROOM} times faster.
 *
 * <p>A capture whose backup scratch outgrew its budget ({@link #readTooSlow}) makes the next capture
 * take the fastest preset, and the preset used is not taken again until it (or a weaker one) has
 * been measured at a point that did not overflow.
 */
public final class AutoCompression {
    static final double MARGIN = 1.25;
    static final double HEADROOM = 4;
    /** First copies shorter than this say too little of the encoder's pace against the link. */
    static final double MIN_SECONDS = 5;
    /** How much of a new measurement replaces the smoothed one. */
    static final double SMOOTHING = 0.5;
    private static final List<XzBlockCodec.Preset> LADDER = PresetChooser.CANDIDATES; // strongest first
    /**
     * Speeds of the ladder's presets against preset 6 (xz -T1 on 24 MiB of the lab database's 4 KiB
     * blocks, 2026-12-04: 9e 27.7 s, 9 5.2 s, 6 4.5 s, 4 1.9 s, 2 0.52 s, 1 0.37 s, 0 0.25 s); only
     * for presets not measured on this link yet.
     */
    static final double[] RELATIVE_SPEED = {0.16, 0.88, 1, 2.4, 8.8, 12.4, 18.5};
    private static final XzBlockCodec.Preset FULL = new XzBlockCodec.Preset(6, false);

    private int fullRung = LADDER.indexOf(FULL);
    /** Per ladder preset: raw bytes per second of capture and encoding; 0 while unmeasured. */
    private final double[] rate = new double[LADDER.size()];
    /** Raw bytes an incremental point gave the encoder, smoothed; 0 before the first. */
    private double raw;
    /** Set by {@link #readTooSlow}: the next capture takes the fastest preset. */
    private boolean hurry;
    /** Per ladder preset: its capture overflowed the scratch; not taken again until a weaker one was measured. */
    private final boolean[] tooSlow = new boolean[LADDER.size()];

    /**
     * A capture with {@code used} read its point so slowly that the backup's scratch outgrew its
     * budget (the guest writes while the point is read): the next capture takes the fastest preset,
     * and {@code used} counts as too slow for this load until measured again.
     */
    public synchronized void readTooSlow(XzBlockCodec.Preset used) {
        hurry = true;
        int at = LADDER.indexOf(used);
        if (at >= 0) {
            tooSlow[at] = true;
        }
        if (fullRung < LADDER.size() - 1 && (at < 0 || at >= fullRung)) {
            fullRung = Math.max(fullRung, at) + 1;
        }
    }

    /**
     * The preset for the next capture on a link that carries {@code linkBytesPerSecond} now, for a
     * point that should be acknowledged within {@code budget} of its cut.
     */
    public synchronized XzBlockCodec.Preset next(boolean fullCapture, double linkBytesPerSecond, Duration budget) {
        if (hurry) {
            hurry = false;
            return LADDER.get(LADDER.size() - 1);
        }
        if (fullCapture) {
            return LADDER.get(fullRung);
        }
        if (raw == 0) {
            // nothing measured yet: bytes first, the strongest preset (or one below a preset that overflowed);
            // this point measures it
            for (int i = 0; i < LADDER.size(); i++) {
                if (!tooSlow[i]) {
                    return LADDER.get(i);
                }
            }
            return LADDER.get(LADDER.size() - 1);
        }
        double seconds = budget.toMillis() / 1000.0;
        int fastest = LADDER.size() - 1;
        double fastestTime = Double.MAX_VALUE;
        for (int i = 0; i < LADDER.size(); i++) { // strongest first
            if (tooSlow[i] && i < LADDER.size() - 1) {
                continue;
            }
            double t = expectedSeconds(i);
            if (t <= seconds) {
                return LADDER.get(i);
            }
            if (t < fastestTime) {
                fastestTime = t;
                fastest = i;
            }
        }
        return LADDER.get(fastest);
    }

    /**
     * Expected capture and encoding time of a point of {@link #raw} bytes with ladder preset
     * {@code i}. Its transfer is not counted: a stronger preset only shortens it, and the link is
     * what it is whatever the preset.
     */
    synchronized double expectedSeconds(int i) {
        return raw / estimatedRate(i);
    }

    private double estimatedRate(int i) {
        if (rate[i] > 0) {
            return rate[i];
        }
        int near = nearestMeasured(i);
        return near < 0 ? 1 : rate[near] * RELATIVE_SPEED[i] / RELATIVE_SPEED[near];
    }

    private int nearestMeasured(int i) {
        for (int d = 1; d < LADDER.size(); d++) {
            for (int j : new int[] {i - d, i + d}) {
                if (j >= 0 && j < LADDER.size() && rate[j] > 0) {
                    return j;
                }
            }
        }
        return -1;
    }

    /**
     * What the last cycle did: with {@code used} it captured {@code rawBytes} for the encoder and
     * turned them into {@code storedBytes} of delta in {@code seconds}, for a link of
     * {@code linkBytesPerSecond}.
     */
    public synchronized void observe(XzBlockCodec.Preset used, boolean fullCapture, long rawBytes, long storedBytes,
                                     double seconds, double linkBytesPerSecond) {
        if (rawBytes <= 0 || seconds <= 0) {
            return;
        }
        int at = LADDER.indexOf(used);
        if (fullCapture) {
            if (seconds < MIN_SECONDS || linkBytesPerSecond <= 0) {
                return;
            }
            double produced = storedBytes / seconds;
            if (produced < linkBytesPerSecond * MARGIN && fullRung < LADDER.size() - 1) {
                fullRung++;
            } else if (at == fullRung && produced > linkBytesPerSecond * HEADROOM && fullRung > 0) {
                fullRung--;
            }
            return; // a first copy's size and speed say little of the points after it
        }
        // a short point's time is mostly the backup job's own cost: its rate is low, which only errs on the safe side
        raw = smooth(raw, rawBytes);
        if (at >= 0) {
            rate[at] = smooth(rate[at], rawBytes / seconds);
            for (int i = at; i < LADDER.size(); i++) {
                tooSlow[i] = false; // this preset, and the weaker ones, read fast enough this time
            }
        }
    }

    private static double smooth(double old, double now) {
        return old == 0 ? now : old + SMOOTHING * (now - old);
    }
}
