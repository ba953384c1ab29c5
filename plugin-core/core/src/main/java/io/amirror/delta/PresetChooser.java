package io.amirror.delta;


import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Picks the strongest xz preset that still keeps the link busy: the encoder must produce compressed
 * bytes at least as fast as the link carries them, with a margin, using all its threads. The speed
 * of each preset is measured on a sample of the very data to be sent, because it varies with the
 * data as much as with the preset.
 */
public final class PresetChooser {
    /** Compressed output must outrun the link by this factor, for other work and for bursts. */
    static final double MARGIN = 1.25;
    /** Candidates, strongest first. 7..9 differ from 6 only in dictionary size, which blocks cap anyway. */
    public static final List<XzBlockCodec.Preset> CANDIDATES = List.of(new XzBlockCodec.Preset(9, true),
            new XzBlockCodec.Preset(9, false), new XzBlockCodec.Preset(6, false), new XzBlockCodec.Preset(4, false),
            new XzBlockCodec.Preset(2, false), new XzBlockCodec.Preset(1, false), new XzBlockCodec.Preset(0, false));

    /** One preset's measured speed on the sample: raw bytes in per second (one thread), and stored/raw. */
    public record Measurement(XzBlockCodec.Preset preset, double rawBytesPerSecond, double ratio) {
        /** Compressed bytes per second this preset produces on {@code threads} threads. */
        public double outputRate(int threads) {
            return rawBytesPerSecond * threads * ratio;
        }
    }

    private PresetChooser() {
    }

    /** The strongest measured preset fast enough, or the fastest one if none is. Pure. */
    public static XzBlockCodec.Preset choose(List<Measurement> measured, double linkBytesPerSecond, int threads) {
        List<Measurement> strongestFirst = new ArrayList<>(measured);
        strongestFirst.sort(Comparator.comparing(Measurement::preset).reversed());
        for (Measurement m : strongestFirst) {
            if (m.outputRate(threads) >= linkBytesPerSecond * MARGIN) {
                return m.preset();
            }
        }
        return strongestFirst.stream().max(Comparator.comparingDouble(Measurement::rawBytesPerSecond))
                .orElseThrow().preset();
    }

    /**
     * Measures candidates on {@code sample}, strongest first, stopping at the first fast enough: the
     * slow strong presets are tried first, so the whole calibration costs about one slow compression
     * of the sample plus quick ones.
     */
    public static XzBlockCodec.Preset calibrate(byte[] sample, int length, double linkBytesPerSecond, int threads) {
        List<Measurement> measured = new ArrayList<>();
        for (XzBlockCodec.Preset p : CANDIDATES) {
            Measurement m = measure(sample, length, p);
            measured.add(m);
            if (m.outputRate(threads) >= linkBytesPerSecond * MARGIN) {
                return p;
            }
        }
        return choose(measured, linkBytesPerSecond, threads);
    }

    public static Measurement measure(byte[] sample, int length, XzBlockCodec.Preset p) {
        long t0 = System.nanoTime();
        byte[] out = XzBlockCodec.compress(sample, length, p);
        double seconds = Math.max(1e-6, (System.nanoTime() - t0) / 1e9);
        return new Measurement(p, length / seconds, (double) out.length / Math.max(1, length));
    }
}
