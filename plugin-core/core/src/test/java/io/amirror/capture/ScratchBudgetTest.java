package io.amirror.capture;

import io.amirror.delta.PresetChooser;
import io.amirror.delta.XzBlockCodec;
import io.amirror.primary.AutoCompression;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The scratch budget's arithmetic, and what the next capture does after a scratch overflow. */
class ScratchBudgetTest {
    @Test
    void theBudgetIsAShareOfTheFreeSpaceAboveTheReserveAndAtMostItsBound() {
        ScratchBudget d = ScratchBudget.DEFAULT;
        long gib = 1L << 30;
        assertEquals((10 * gib - (256L << 20)) / 2, d.limitFor(10 * gib));
        assertEquals(0, d.limitFor(100L << 20), "under the reserve: no scratch at all");
        assertEquals(1 << 20, new ScratchBudget(1 << 20, 0.5, 0).limitFor(10 * gib));
        assertEquals(gib, new ScratchBudget(8 * gib, 0.5, 0).limitFor(2 * gib), "the share when it is smaller");
        assertThrows(IllegalArgumentException.class, () -> new ScratchBudget(-1, 0.5, 0));
        assertThrows(IllegalArgumentException.class, () -> new ScratchBudget(0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new ScratchBudget(0, 1.5, 0));
    }

    @Test
    void afterAnOverflowTheNextCaptureTakesTheFastestPresetThenOneBelowTheOneThatOverflowed() {
        AutoCompression auto = new AutoCompression();
        java.time.Duration budget = java.time.Duration.ofMinutes(5);
        XzBlockCodec.Preset first = auto.next("web", false, budget);
        auto.readTooSlow("web", first);
        XzBlockCodec.Preset fastest = PresetChooser.CANDIDATES.get(PresetChooser.CANDIDATES.size() - 1);
        assertEquals(fastest, auto.next("web", false, budget), "the attempt right after the overflow");
        XzBlockCodec.Preset then = auto.next("web", false, budget);
        assertNotEquals(first, then, "not the preset that was too slow");
        assertEquals(PresetChooser.CANDIDATES.get(PresetChooser.CANDIDATES.indexOf(first) + 1), then, "one rung below it");
    }
}
