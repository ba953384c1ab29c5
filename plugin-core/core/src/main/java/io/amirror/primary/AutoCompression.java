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
 * <p>A capture whose backup scratch outgrew its budget ({@link #readTooSlow}) makes that domain's
 * next capture take the fastest preset, and leaves the preset used out for the next
 * {@link #BAN_POINTS} incremental points of the link; the first copy's ladder steps below it.
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
    /** Domains whose capture overflowed its scratch ({@link #readTooSlow}): their next capture takes the fastest preset. */
    private final java.util.Set<String> hurry = new java.util.HashSet<>();
    /** Per ladder preset: how many more incremental points leave it out since a capture with it overflowed. */
    private final int[] bannedFor = new int[LADDER.size()];
    /** How many points a preset whose capture overflowed is left out for; then its measured rate decides again. */
    static final int BAN_POINTS = 10;

    /**
     * A capture with {@code used} read its point so slowly that the backup's scratch outgrew its
     * budget (the guest writes while the point is read): the domain's next capture takes the fastest
     * preset, and {@code used} is left out for {@link #BAN_POINTS} points.
     */
    public synchronized void readTooSlow(String domain, XzBlockCodec.Preset used) {
        hurry.add(domain);
        int at = LADDER.indexOf(used);
        if (at >= 0) {
            bannedFor[at] = BAN_POINTS;
        }
        if (at < 0 || at >= fullRung) {
            fullRung = Math.min(LADDER.size() - 1, Math.max(fullRung, at) + 1);
        }
    }

    /**
     * The preset for {@code domain}'s next capture: a first copy's from the link-pace ladder, an
     * incremental point's the strongest whose capture and encoding fit {@code budget}.
     */
    public synchronized XzBlockCodec.Preset next(String domain, boolean fullCapture, Duration budget) {
        if (hurry.remove(domain)) {
            return LADDER.get(LADDER.size() - 1);
        }
        if (fullCapture) {
            return LADDER.get(fullRung);
        }
        if (raw == 0) {
            // no point measured yet: preset 6 (or one below a preset that overflowed), of known cost on any size;
            // this point measures the load, and the next one takes the strongest its budget allows
            for (int i = LADDER.indexOf(FULL); i < LADDER.size(); i++) {
                if (bannedFor[i] == 0) {
                    return LADDER.get(i);
                }
            }
            return LADDER.get(LADDER.size() - 1);
        }
        double seconds = budget.toMillis() / 1000.0;
        int fastest = LADDER.size() - 1;
        double fastestTime = Double.MAX_VALUE;
        for (int i = 0; i < LADDER.size(); i++) { // strongest first
            if (bannedFor[i] > 0 && i < LADDER.size() - 1) {
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
        }
        for (int i = 0; i < LADDER.size(); i++) {
            bannedFor[i] = Math.max(0, bannedFor[i] - 1);
        }
    }

    private static double smooth(double old, double now) {
        return old == 0 ? now : old + SMOOTHING * (now - old);
    }
}
