package io.amirror.standby;

import io.amirror.state.StateFile;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.LongSupplier;

/**
 * The times of one replica disk's recovery points ({@code times.json} beside the image; this class
 * its only reader and writer): for each point, when the primary cut it and when this standby
 * received it. {@link ReplicaDisk.Retention} ages points by these, never by the standby's wall
 * clock against a snapshot's date, so that a jump of either host's clock prunes nothing it would
 * not have pruned anyway.
 *
 * <p>The rules, applied when a point is recorded ({@link #record}):
 * <ul>
 *   <li><b>Receipt time</b>: this standby's {@link #RECEIVE_CLOCK} (wall clock at the process's
 *       start, then advanced by {@link System#nanoTime}, so a jump of the wall clock while the
 *       daemon runs moves it not at all), and never before the receipt of an earlier point (a
 *       clock set back across a restart makes time stand still, not run backwards).</li>
 *   <li><b>Cut time</b>: the primary's word from the delta header (format 3), bounded: never before
 *       an earlier point's cut time (a primary's clock that went back makes its points the same
 *       age, not younger than older ones), and never more than {@link #AHEAD} past the receipt time
 *       (a hostile primary sending a cut time 100 years ahead gets the receipt time plus an hour:
 *       the older points look at most an hour older than they are). 0 when the delta has none
 *       (formats 1 and 2): such a point is kept by count alone.</li>
 * </ul>
 *
 * <p>A crash between a point's snapshot and its record leaves a point without times: it is treated
 * as a point of an older format (its snapshot date is its receipt time, its cut time unknown).
 * Records of points that no longer exist are dropped on the next write. Callers hold the domain's
 * lock.
 */
final class PointTimes {
    /** How far ahead of the standby's receipt a primary's cut time may be: clocks are rarely this far apart. */
    static final long AHEAD = 3_600_000L;

    /** The standby's receive clock, in milliseconds since 1970: see the class comment. */
    static final LongSupplier RECEIVE_CLOCK = monotonicFrom(System.currentTimeMillis(), System.nanoTime());

    /**
     * One point's times. {@code cutMillis}: the bounded cut time (0 unknown); {@code sentCutMillis}:
     * what the primary said, kept for the record; {@code receivedMillis}: by the receive clock.
     */
    record Entry(int point, long cutMillis, long sentCutMillis, long receivedMillis) {
    }

    /** The file: format 1. */
    record Times(List<Entry> points) {
        Times {
            points = points == null ? List.of() : List.copyOf(points);
        }
    }

    static final StateFile<Times> FILE = StateFile.of("recovery point times", Times.class, 1);

    private final Path file;
    private final LongSupplier clock;

    PointTimes(Path file, LongSupplier clock) {
        this.file = file;
        this.clock = clock;
    }

    /** A clock that starts at {@code wallMillis} and then follows {@link System#nanoTime} from {@code nanos}. */
    static LongSupplier monotonicFrom(long wallMillis, long nanos) {
        return () -> wallMillis + (System.nanoTime() - nanos) / 1_000_000;
    }

    /** Every recorded point's times, by point. */
    Map<Integer, Entry> read() throws IOException {
        Map<Integer, Entry> out = new TreeMap<>();
        for (Entry e : FILE.read(file).map(Times::points).orElse(List.of())) {
            out.put(e.point(), e);
        }
        return out;
    }

    /**
     * Records that {@code point} was just received with the primary's cut time {@code sentCutMillis}
     * (0 none), bounded as the class comment says; records of points not in {@code existing} go.
     */
    Entry record(int point, long sentCutMillis, Set<Integer> existing) throws IOException {
        Map<Integer, Entry> all = read();
        all.keySet().retainAll(existing);
        Collection<Entry> earlier = all.values().stream().filter(e -> e.point() < point).toList();
        Entry e = bound(point, sentCutMillis, clock.getAsLong(), earlier);
        all.put(point, e);
        List<Entry> list = new ArrayList<>(all.values());
        list.sort(Comparator.comparingInt(Entry::point));
        FILE.write(file, new Times(list));
        return e;
    }

    /** The rules of the class comment, pure: {@code now} by the receive clock, {@code earlier} the points before. */
    static Entry bound(int point, long sentCutMillis, long now, Collection<Entry> earlier) {
        long received = Math.max(now, earlier.stream().mapToLong(Entry::receivedMillis).max().orElse(0));
        long cut = 0;
        if (sentCutMillis > 0) {
            long lastCut = earlier.stream().mapToLong(Entry::cutMillis).max().orElse(0);
            cut = Math.max(Math.min(sentCutMillis, received + AHEAD), lastCut);
        }
        return new Entry(point, cut, sentCutMillis, received);
    }

    /** The cut time of {@code point}, when known. */
    static Optional<Long> cut(Map<Integer, Entry> times, int point) {
        Entry e = times.get(point);
        return e == null || e.cutMillis() == 0 ? Optional.empty() : Optional.of(e.cutMillis());
    }
}
