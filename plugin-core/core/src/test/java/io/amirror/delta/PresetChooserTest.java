package io.amirror.delta;

import io.amirror.util.WeeklyRate;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class PresetChooserTest {
    static XzBlockCodec.Preset p(String s) {
        return XzBlockCodec.Preset.parse(s);
    }

    /** Speeds like those measured here (BENCHMARKS.md): raw MB/s on one thread, ratio 0.12. */
    static final List<PresetChooser.Measurement> MEASURED = List.of(
            new PresetChooser.Measurement(p("9e"), 2.1e6, 0.12), new PresetChooser.Measurement(p("9"), 4.0e6, 0.12),
            new PresetChooser.Measurement(p("6"), 3.8e6, 0.12), new PresetChooser.Measurement(p("4"), 5.9e6, 0.123),
            new PresetChooser.Measurement(p("2"), 14.9e6, 0.13), new PresetChooser.Measurement(p("0"), 27.8e6, 0.15));

    @Test
    void slowLinksGetTheStrongestPreset() {
        assertEquals(p("9e"), PresetChooser.choose(MEASURED, WeeklyRate.parseRate("1mbit"), 2));
        assertEquals(p("9e"), PresetChooser.choose(MEASURED, WeeklyRate.parseRate("256kbit"), 1));
    }

    @Test
    void fastLinksStepDownUntilTheEncoderKeepsUp() {
        // 10 Mbit/s = 1.25 MB/s, with the 1.25 margin: output must reach 1.5625 MB/s
        assertEquals(p("2"), PresetChooser.choose(MEASURED, WeeklyRate.parseRate("10mbit"), 2));
        assertEquals(p("9"), PresetChooser.choose(MEASURED, WeeklyRate.parseRate("10mbit"), 4), "more cores, stronger preset");
    }

    @Test
    void whenNothingKeepsUpTheFastestIsUsed() {
        assertEquals(p("0"), PresetChooser.choose(MEASURED, WeeklyRate.parseRate("1gbit"), 2));
    }

    @Test
    void parsesRates() {
        assertEquals(125_000, WeeklyRate.parseRate("1mbit"), 1e-6);
        assertEquals(1_250_000, WeeklyRate.parseRate("10Mbit/s"), 1e-6);
        assertEquals(32_000, WeeklyRate.parseRate("256kbit"), 1e-6);
        assertEquals(250, WeeklyRate.parseRate("2000"), 1e-6);
        assertThrows(IllegalArgumentException.class, () -> WeeklyRate.parseRate("fast"));
        assertThrows(IllegalArgumentException.class, () -> WeeklyRate.parseRate("-1mbit"));
        assertEquals(p("9e"), XzBlockCodec.Preset.parse("9e"));
        assertThrows(IllegalArgumentException.class, () -> XzBlockCodec.Preset.parse("12"));
    }
}
