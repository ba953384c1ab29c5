package io.amirror.schedule;

import io.amirror.config.Policy;
import io.amirror.util.WeekWindow;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.time.LocalTime;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The real Quartz scheduler with a runner that records when cycles run; seconds-scale intervals. */
class ReplicationSchedulerTest {
    static final ZoneId ZONE = ZoneId.systemDefault();

    static Policy policy(String name, Duration every, List<WeekWindow> blackouts) {
        return new Policy(name, name + ".json", new Policy.DomainSelector(List.of(), List.of(), null),
                new Policy.StandbyTarget("127.0.0.1:1", "sha256:" + "0".repeat(64)),
                new Policy.Rpo(every, null, every), null, null, blackouts, null, 24, Duration.ofDays(30), false,
                every.multipliedBy(2), List.of(), Policy.ReplicaMapping.NONE, null, null);
    }

    /** Records each cycle's start and end per domain, and how many ran at once. */
    static final class Recorder implements CycleRunner {
        final Map<String, List<long[]>> runs = new ConcurrentHashMap<>();
        final Map<String, AtomicInteger> running = new ConcurrentHashMap<>();
        final AtomicInteger maxSameDomain = new AtomicInteger();
        final AtomicInteger maxAll = new AtomicInteger();
        final AtomicInteger all = new AtomicInteger();
        volatile Map<Integer, Long> sleepByRun = Map.of();
        volatile long sleepMs;

        @Override
        public void runCycle(String domain, String policy) throws Exception {
            int now = running.computeIfAbsent(domain, d -> new AtomicInteger()).incrementAndGet();
            maxSameDomain.accumulateAndGet(now, Math::max);
            maxAll.accumulateAndGet(all.incrementAndGet(), Math::max);
            List<long[]> mine = runs.computeIfAbsent(domain, d -> Collections.synchronizedList(new ArrayList<>()));
            long[] r = {System.currentTimeMillis(), 0};
            int index = mine.size();
            mine.add(r);
            try {
                Thread.sleep(sleepByRun.getOrDefault(index, sleepMs));
            } finally {
                r[1] = System.currentTimeMillis();
                all.decrementAndGet();
                running.get(domain).decrementAndGet();
            }
        }

        List<long[]> of(String d) {
            return new ArrayList<>(runs.getOrDefault(d, List.of()));
        }
    }

    static Policy continuous(String name, Duration target, Duration minSpacing) {
        return continuous(name, target, minSpacing, List.of());
    }

    static Policy continuous(String name, Duration target, Duration minSpacing, List<WeekWindow> blackouts) {
        Policy p = policy(name, minSpacing, List.of());
        return new Policy(p.name(), p.file(), p.domains(), p.standby(), Policy.Rpo.continuous(target, minSpacing),
                null, null, blackouts, null, 24, Duration.ofDays(30), false, target, List.of(), Policy.ReplicaMapping.NONE,
                null, null);
    }

    @Test
    void aContinuousScheduleCutsTheNextPointAsSoonAsTheCycleEndsAndNeverSoonerThanTheSpacing() throws Exception {
        Recorder rec = new Recorder();
        rec.sleepByRun = Map.of(0, 1_500L, 1, 1_500L, 2, 1_500L); // a slow link: cycles longer than the spacing
        rec.sleepMs = 50; // then a quiet one
        try (ReplicationScheduler s = new ReplicationScheduler(rec, 2, Map.of(), 500, ZONE)) {
            s.apply(List.of(new ReplicationScheduler.Assignment("web",
                    continuous("p", Duration.ofSeconds(20), Duration.ofMillis(700)))));
            s.start();
            Thread.sleep(8_000);
        }
        List<long[]> r = rec.of("web");
        assertTrue(r.size() >= 8, "cycles in 8 s: " + r.size());
        for (int i = 1; i < 3; i++) {
            long idle = r.get(i)[0] - r.get(i - 1)[1];
            assertTrue(idle >= 0 && idle < 300, "after a long cycle the next starts at once: " + idle + " ms idle");
        }
        for (int i = 4; i < r.size(); i++) {
            long spacing = r.get(i)[0] - r.get(i - 1)[0];
            assertTrue(spacing >= 600 && spacing <= 1_100, "short cycles are spaced by 700 ms: " + spacing + " ms");
        }
        assertEquals(1, rec.maxSameDomain.get(), "cycles of one domain never overlap");
    }

    @Test
    void intervalIsRespected() throws Exception {
        Recorder rec = new Recorder();
        try (ReplicationScheduler s = new ReplicationScheduler(rec, 2, Map.of(), 500, ZONE)) {
            s.apply(List.of(new ReplicationScheduler.Assignment("web", policy("p", Duration.ofSeconds(1), List.of()))));
            s.start();
            Thread.sleep(4_500);
        }
        List<long[]> r = rec.of("web");
        assertTrue(r.size() >= 4 && r.size() <= 6, "runs in 4.5 s at 1 s: " + r.size());
        for (int i = 1; i < r.size(); i++) {
            long gap = r.get(i)[0] - r.get(i - 1)[0];
            assertTrue(gap >= 800 && gap <= 1_400, "gap " + gap + " ms");
        }
    }

    @Test
    void cyclesOfOneDomainNeverOverlapButDomainsRunTogether() throws Exception {
        Recorder rec = new Recorder();
        rec.sleepMs = 700;
        try (ReplicationScheduler s = new ReplicationScheduler(rec, 2, Map.of(), 60_000, ZONE)) {
            Policy p = policy("p", Duration.ofMillis(200), List.of());
            s.apply(List.of(new ReplicationScheduler.Assignment("a", p), new ReplicationScheduler.Assignment("b", p)));
            s.start();
            Thread.sleep(3_000);
            for (int i = 0; i < 5; i++) {
                s.runNow("a"); // a sync request while a cycle runs waits its turn
            }
            Thread.sleep(1_500);
        }
        assertEquals(1, rec.maxSameDomain.get(), "a domain's cycles overlapped");
        assertEquals(2, rec.maxAll.get(), "two domains should run at once");
        List<long[]> a = rec.of("a");
        for (int i = 1; i < a.size(); i++) {
            assertTrue(a.get(i)[0] >= a.get(i - 1)[1], "run " + i + " started before the previous ended");
        }
    }

    @Test
    void aMisfireFiresOnceNowNotInABurst() throws Exception {
        Recorder rec = new Recorder();
        rec.sleepMs = 10;
        rec.sleepByRun = Map.of(0, 3_500L); // the first cycle overruns three and a half intervals
        try (ReplicationScheduler s = new ReplicationScheduler(rec, 2, Map.of(), 500, ZONE)) {
            s.apply(List.of(new ReplicationScheduler.Assignment("web", policy("p", Duration.ofSeconds(1), List.of()))));
            s.start();
            Thread.sleep(5_800);
        }
        List<long[]> r = rec.of("web");
        assertTrue(r.size() >= 3, "runs: " + r.size());
        long afterOverrun = r.get(1)[0] - r.get(0)[1];
        assertTrue(afterOverrun < 600, "the misfired fire should run at once, ran after " + afterOverrun + " ms");
        long next = r.get(2)[0] - r.get(1)[0];
        assertTrue(next >= 800, "then one interval later, not a catch-up burst: " + next + " ms");
        assertTrue(r.size() <= 5, "no catch-up: " + r.size() + " runs in 5.8 s");
    }

    @Test
    void blackoutsStopFiresAndSyncStillRuns() throws Exception {
        ZonedDateTime now = ZonedDateTime.now(ZONE);
        LocalTime from = now.toLocalTime().minusMinutes(1);
        LocalTime to = now.toLocalTime().plusMinutes(3);
        assumeTrue(from.isBefore(to), "too close to midnight for a one-day window");
        String day = now.getDayOfWeek().name().substring(0, 1) + now.getDayOfWeek().name().substring(1, 3).toLowerCase();
        WeekWindow w = WeekWindow.parse(day, hhmm(from), hhmm(to.plusMinutes(1)));
        // an interval and a continuous schedule alike: nothing is cut inside the window
        for (Policy p : List.of(policy("p", Duration.ofSeconds(1), List.of(w)),
                continuous("c", Duration.ofSeconds(20), Duration.ofMillis(500), List.of(w)))) {
            Recorder rec = new Recorder();
            try (ReplicationScheduler s = new ReplicationScheduler(rec, 2, Map.of(), 500, ZONE)) {
                s.apply(List.of(new ReplicationScheduler.Assignment("web", p)));
                s.start();
                Thread.sleep(2_500);
                assertEquals(0, rec.of("web").size(), p.rpo() + ": fired inside a blackout");
                assertTrue(s.nextRun("web").orElseThrow().isAfter(Instant.now().plusSeconds(60)),
                        p.rpo() + ": next run should be after the window: " + s.nextRun("web"));
                s.runNow("web");
                Thread.sleep(500);
                assertEquals(1, rec.of("web").size(), p.rpo() + ": an explicit sync runs in a blackout");
            }
        }
    }

    @Test
    void reloadReschedulesAndRemovesWithoutInterruptingARunningCycle() throws Exception {
        Recorder rec = new Recorder();
        rec.sleepByRun = Map.of(0, 1_500L);
        try (ReplicationScheduler s = new ReplicationScheduler(rec, 2, Map.of(), 500, ZONE)) {
            s.apply(List.of(new ReplicationScheduler.Assignment("web", policy("p", Duration.ofHours(1), List.of()))));
            s.start();
            Thread.sleep(300); // the first cycle is running
            s.apply(List.of());
            assertFalse(s.domains().contains("web"));
            Thread.sleep(1_600);
            assertEquals(1, rec.of("web").size());
            assertTrue(rec.of("web").get(0)[1] - rec.of("web").get(0)[0] >= 1_500, "the running cycle was cut short");
            s.apply(List.of(new ReplicationScheduler.Assignment("db", policy("p", Duration.ofHours(1), List.of()))));
            Thread.sleep(300); // its first fire is now; afterwards the next is an hour away
            Instant first = s.nextRun("db").orElseThrow();
            s.apply(List.of(new ReplicationScheduler.Assignment("db", policy("p", Duration.ofHours(1), List.of()))));
            assertEquals(first, s.nextRun("db").orElseThrow(), "an unchanged schedule must be left alone");
            s.apply(List.of(new ReplicationScheduler.Assignment("db", policy("p", Duration.ofHours(2), List.of()))));
            assertTrue(s.domains().contains("db"));
        }
    }

    @Test
    void blackoutCalendarSkipsToTheWindowsEnd() {
        ZoneId utc = ZoneId.of("UTC");
        BlackoutCalendar c = new BlackoutCalendar(List.of(WeekWindow.parse("Mon-Fri", "09:00", "09:30")), utc);
        long wed0910 = ZonedDateTime.parse("2026-11-25T09:10:00Z[UTC]").toInstant().toEpochMilli();
        assertFalse(c.isTimeIncluded(wed0910));
        assertEquals(ZonedDateTime.parse("2026-11-25T09:30:00Z[UTC]").toInstant().toEpochMilli(),
                c.getNextIncludedTime(wed0910));
        long sat0910 = ZonedDateTime.parse("2026-11-28T09:10:00Z[UTC]").toInstant().toEpochMilli();
        assertTrue(c.isTimeIncluded(sat0910));
        assertEquals("Mon-Fri 09:00-09:30", WeekWindow.parse("Mon-Fri", "09:00", "09:30").toString());
        assertEquals("Fri-Mon 22:00-24:00", WeekWindow.parse("Fri-Mon", "22:00", "24:00").toString());
        assertEquals("Sun 01:00-02:00", WeekWindow.parse("Sun", "01:00", "02:00").toString());
    }

    private static String hhmm(LocalTime t) {
        return String.format("%02d:%02d", t.getHour(), t.getMinute());
    }
}
