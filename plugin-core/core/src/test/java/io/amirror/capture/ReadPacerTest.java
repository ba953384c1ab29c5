package io.amirror.capture;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The whole-disk read's bound, on a fake clock. */
class ReadPacerTest {
    private long now = 1_000L;
    private long slept;

    private ReadPacer pacer(long rate) {
        return new ReadPacer(rate, () -> now, n -> {
            slept += n;
            now += n;
        });
    }

    @Test
    void holdsTheReaderToTheRate() {
        ReadPacer p = pacer(10L << 20); // 10 MiB/s
        for (int i = 0; i < 50; i++) {
            p.paid(1 << 20); // an instant reader: 50 MiB
        }
        assertEquals(5 * ReadPacer.NANOS, slept, "50 MiB at 10 MiB/s take 5 s");
    }

    @Test
    void aSlowReaderIsNotSlowedAndCatchesUpByAtMostOneSecond() {
        ReadPacer p = pacer(10L << 20);
        now += 3 * ReadPacer.NANOS; // the disk was slower than the bound for 3 s
        p.paid(1 << 20);
        assertEquals(0, slept);
        for (int i = 0; i < 30; i++) {
            p.paid(1 << 20);
        }
        // at most one second's worth (10 MiB) came without waiting: the other 21 MiB at the rate
        assertEquals(21 * ReadPacer.NANOS / 10, slept, 1_000);
    }

    @Test
    void zeroIsUnbounded() {
        ReadPacer p = pacer(0);
        p.paid(1L << 40);
        assertEquals(0, slept);
    }
}
