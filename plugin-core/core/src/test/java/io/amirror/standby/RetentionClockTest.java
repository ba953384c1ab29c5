package io.amirror.standby;

import io.amirror.standby.ReplicaDisk.Retention;
import io.amirror.standby.ReplicaDisk.Retention.Aged;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Retention by the primary's cut times and the standby's receive clock ({@link Retention#toDrop},
 * {@link PointTimes#bound}), with clocks that jump: the standby's either way (nothing is pruned that
 * would not have been pruned without the jump), and a hostile primary's cut times (no point it did
 * not send itself looks older than it is by more than {@link PointTimes#AHEAD}).
 */
class RetentionClockTest {
    static final long H = 3_600_000L;
    static final long DAY = 24 * H;

    /** Points recorded one after another: receipt {@code receivedAt[i]} by the standby's clock, cut {@code sent[i]}. */
    static List<Aged> record(long[] receivedAt, long[] sent) {
        List<PointTimes.Entry> done = new ArrayList<>();
        List<Aged> out = new ArrayList<>();
        for (int i = 0; i < receivedAt.length; i++) {
            PointTimes.Entry e = PointTimes.bound(i + 1, sent[i], receivedAt[i], done);
            done.add(e);
            out.add(new Aged(e.point(), e.cutMillis(), e.receivedMillis()));
        }
        return out;
    }

    /** {@code n} points every {@code gap}, from {@code start}, each cut {@code transfer} before its receipt. */
    static long[][] honest(int n, long start, long gap, long transfer) {
        long[] rec = new long[n];
        long[] cut = new long[n];
        for (int i = 0; i < n; i++) {
            rec[i] = start + i * gap;
            cut[i] = rec[i] - transfer;
        }
        return new long[][] {rec, cut};
    }

    @Example
    void aThirtyDayJumpOfTheStandbysClockPrunesNothing() {
        Retention r = new Retention(24, Duration.ofDays(7), Duration.ofDays(2));
        long[][] p = honest(10, 1_800_000_000_000L, 6 * H, 60_000);
        long[] jumped = p[0].clone();
        jumped[9] += 30 * DAY; // the newest arrives after the standby's clock jumped 30 days ahead
        assertEquals(List.of(), r.toDrop(record(p[0], p[1])));
        assertEquals(List.of(), r.toDrop(record(jumped, p[1])), "the jump made older points look old");
        // and the ages on the cut axis stay those of the primary: 54 hours from the first to the newest
        List<Aged> a = record(jumped, p[1]);
        assertEquals(54 * H, a.get(9).cutMillis() - a.get(0).cutMillis());
    }

    @Example
    void pointsWithoutACutTimeGoByCountAloneWhateverTheirDates() {
        Retention r = new Retention(3, Duration.ofDays(1));
        List<Aged> legacy = new ArrayList<>();
        for (int i = 1; i <= 5; i++) {
            legacy.add(new Aged(i, 0, i * 40 * DAY)); // snapshot dates 40 days apart: far beyond maxAge
        }
        assertEquals(List.of(1, 2), r.toDrop(legacy), "only the count prunes");
        // an upgraded primary's first point: the older points still have no cut time to be aged by
        legacy.add(new Aged(6, 300 * DAY, 300 * DAY));
        assertEquals(List.of(1, 2, 3), r.toDrop(legacy));
    }

    @Example
    void theCutTimeIsBoundedByTheReceiptAndByEarlierPoints() {
        long now = 1_800_000_000_000L;
        PointTimes.Entry first = PointTimes.bound(1, now - 1000, now, List.of());
        assertEquals(now - 1000, first.cutMillis());
        // 100 years ahead: the receipt plus an hour
        PointTimes.Entry ahead = PointTimes.bound(2, now + 36500 * DAY, now + 5000, List.of(first));
        assertEquals(now + 5000 + PointTimes.AHEAD, ahead.cutMillis());
        assertEquals(now + 36500 * DAY, ahead.sentCutMillis(), "what the primary said is kept for the record");
        // a cut before the last one (a primary's clock set back, or a forgery): the same age as the last
        PointTimes.Entry back = PointTimes.bound(3, 1, now + 6000, List.of(first, ahead));
        assertEquals(ahead.cutMillis(), back.cutMillis());
        // the standby's clock set back: its receipt stands still, never before an earlier one
        PointTimes.Entry still = PointTimes.bound(4, now + 7000, now - 10 * DAY, List.of(first, ahead, back));
        assertEquals(now + 6000, still.receivedMillis());
        // no cut time (formats 1 and 2): unknown, whatever came before
        assertEquals(0, PointTimes.bound(5, 0, now, List.of(first)).cutMillis());
    }

    /**
     * A jump of the standby's clock by {@code jumpHours} (either way) before point {@code at}: every
     * point dropped with the jump is dropped without it, but for the cut times' skew at a threshold.
     */
    @Property(tries = 300)
    void aJumpOfTheStandbysClockNeverPrunesMore(@ForAll @IntRange(min = 2, max = 40) int n,
                                                @ForAll @IntRange(min = 1, max = 30) int count,
                                                @ForAll @IntRange(min = 0, max = 20) int maxAgeDays,
                                                @ForAll @IntRange(min = 0, max = 5) int immutableDays,
                                                @ForAll @LongRange(min = -1500, max = 1500) long jumpHours,
                                                @ForAll long seed) {
        Random rnd = new Random(seed);
        Retention r = new Retention(count, Duration.ofDays(maxAgeDays), Duration.ofDays(immutableDays));
        long[] rec = new long[n];
        long[] cut = new long[n];
        long t = 1_800_000_000_000L;
        for (int i = 0; i < n; i++) {
            t += 1 + rnd.nextLong(2 * DAY);
            rec[i] = t;
            cut[i] = t - rnd.nextLong(10 * 60_000) + rnd.nextLong(5 * 60_000); // transfer time, skew of a few minutes
        }
        int at = 1 + rnd.nextInt(n - 1);
        long[] jumped = rec.clone();
        for (int i = at; i < n; i++) {
            jumped[i] += jumpHours * H;
        }
        List<Aged> honest = record(rec, cut);
        Set<Integer> without = new HashSet<>(r.toDrop(honest));
        List<Integer> with = r.toDrop(record(jumped, cut));
        // A jump back of more than PointTimes.AHEAD makes the honest cut times after it look ahead of their
        // receipts, and bounds them to receipt + AHEAD: ages among them lose the cut times' skew (up to
        // SKEW here). A point may then reach a threshold (maxAge, or the immutable window's cut clause) by
        // that much sooner, never more: every other point dropped with the jump is dropped without it.
        long newestCut = honest.get(n - 1).cutMillis();
        for (int k : with) {
            if (without.contains(k)) {
                continue;
            }
            long age = newestCut - honest.get(k - 1).cutMillis();
            boolean nearMaxAge = Math.abs(age - maxAgeDays * DAY) <= SKEW;
            boolean nearLock = Math.abs(age - (immutableDays * DAY + PointTimes.AHEAD)) <= SKEW;
            assertTrue(nearMaxAge || nearLock, "a jump of " + jumpHours + " h before point " + (at + 1) + " dropped "
                    + with + ", without it " + without + ": point " + k + " is " + age + " ms old on the cut axis");
        }
    }

    /** How far a cut time in these trials may be from its receipt, either way (10 min before, 5 after, summed). */
    static final long SKEW = 15 * 60_000;

    /**
     * A primary turned hostile after {@code honest} points sends any cut times at all: no point of the
     * honest ones is dropped for its age unless it is older than {@code maxAge} less
     * {@link PointTimes#AHEAD} by the standby's clock, and none younger than the immutable window is.
     */
    @Property(tries = 300)
    void forgedCutTimesCannotAgeTheCleanPoints(@ForAll @IntRange(min = 1, max = 20) int honest,
                                               @ForAll @IntRange(min = 1, max = 20) int forged,
                                               @ForAll @IntRange(min = 1, max = 60) int count,
                                               @ForAll @IntRange(min = 1, max = 20) int maxAgeDays,
                                               @ForAll @IntRange(min = 0, max = 5) int immutableDays,
                                               @ForAll long seed) {
        Random rnd = new Random(seed);
        int n = honest + forged;
        Retention r = new Retention(count, Duration.ofDays(maxAgeDays), Duration.ofDays(immutableDays));
        long[] rec = new long[n];
        long[] cut = new long[n];
        long t = 1_800_000_000_000L;
        for (int i = 0; i < n; i++) {
            t += 1 + rnd.nextLong(DAY);
            rec[i] = t;
            cut[i] = i < honest ? t - rnd.nextLong(60_000)
                    : switch (rnd.nextInt(4)) {
                        case 0 -> Long.MAX_VALUE;
                        case 1 -> 1;
                        case 2 -> t + rnd.nextLong(1000 * DAY);
                        default -> rnd.nextLong(Long.MAX_VALUE);
                    };
        }
        List<Integer> dropped = r.toDrop(record(rec, cut));
        for (int k : dropped) {
            int i = k - 1;
            long realAge = rec[n - 1] - rec[i];
            assertTrue(realAge >= immutableDays * DAY, "point " + k + " in the immutable window was dropped");
            if (i < honest) {
                boolean beyondCount = i < n - count;
                assertTrue(beyondCount || realAge > maxAgeDays * DAY - PointTimes.AHEAD - 60_000,
                        "clean point " + k + ", " + realAge / H + " h old by the standby's clock, was aged out");
            }
        }
    }

    @Example
    void theTimesFileKeepsOnlyExistingPointsAndSurvivesARestart() throws Exception {
        Path dir = Files.createTempDirectory("amirror-times");
        long[] clock = {1_800_000_000_000L};
        PointTimes times = new PointTimes(dir.resolve("times.json"), () -> clock[0]);
        times.record(1, clock[0] - 5000, Set.of(1));
        clock[0] += H;
        times.record(2, clock[0] - 5000, Set.of(1, 2));
        clock[0] -= 10 * DAY; // a restart with the clock set back
        PointTimes after = new PointTimes(dir.resolve("times.json"), () -> clock[0]);
        PointTimes.Entry e = after.record(3, clock[0] + 10 * DAY + H, Set.of(2, 3));
        assertEquals(List.of(2, 3), List.copyOf(after.read().keySet()), "point 1 is gone, so is its record");
        assertEquals(1_800_000_000_000L + H, e.receivedMillis(), "the receipt never goes back");
        assertTrue(Files.readString(dir.resolve("times.json")).contains("\"format\""));
        Files.delete(dir.resolve("times.json"));
        Files.delete(dir);
    }
}
