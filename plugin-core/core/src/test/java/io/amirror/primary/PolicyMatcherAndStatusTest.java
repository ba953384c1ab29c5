package io.amirror.primary;

import io.amirror.delta.XzBlockCodec;
import io.amirror.control.StatusReport;

import io.amirror.config.Policy;
import io.amirror.primary.PolicyMatcher.DefinedDomain;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PolicyMatcherAndStatusTest {

    static Policy policy(String name, List<String> names, List<String> globs, String tag) {
        Duration every = Duration.ofMinutes(15);
        return new Policy(name, name + ".json", new Policy.DomainSelector(names, globs, tag),
                new Policy.StandbyTarget("127.0.0.1:1", "sha256:" + "0".repeat(64)),
                new Policy.Rpo(every, null, every), null, null, List.of(), null, 24, Duration.ofDays(30), false,
                every.multipliedBy(2), List.of(), Policy.ReplicaMapping.NONE, null, null);
    }

    @Test
    void namesGlobsAndTagsMatchAndTheFirstPolicyWinsAConflict() {
        List<DefinedDomain> defined = List.of(new DefinedDomain("office-files", null),
                new DefinedDomain("office-db", "nightly"), new DefinedDomain("web", null),
                new DefinedDomain("a 'quoted' $(name)", "nightly"));
        PolicyMatcher.Result r = PolicyMatcher.match(List.of(
                policy("a", List.of("web", "later"), List.of("office-*"), null),
                policy("b", List.of(), List.of(), "nightly")), defined);
        List<String> a = r.assignments().stream().filter(x -> x.policy().name().equals("a")).map(x -> x.domain()).toList();
        List<String> b = r.assignments().stream().filter(x -> x.policy().name().equals("b")).map(x -> x.domain()).toList();
        assertEquals(List.of("web", "later", "office-files", "office-db"), a, "named domains count even if not defined yet");
        assertEquals(List.of("a 'quoted' $(name)"), b);
        assertEquals(1, r.conflicts().size());
        assertTrue(r.conflicts().get(0).problem().contains("office-db"), r.conflicts().toString());
    }

    @Test
    void theAchievableRpoIsTheSpacingOrTheCycleThenTheCycleAndSaysOnceWhenTheTargetCannotBeHeld() {
        DomainStatus s = new DomainStatus("web");
        s.assign("p", "standby:1", Duration.ofMinutes(5), Duration.ofMinutes(5), Duration.ofSeconds(30));
        Instant t0 = Instant.parse("2026-11-25T10:00:00Z");
        assertNull(s.rpoAchievable(), "no point yet");
        s.acknowledged(1, t0, t0.plusSeconds(12), "CRASH", 1000);
        assertEquals(Duration.ofSeconds(42), s.rpoAchievable(), "the spacing (30 s), then the 12 s cycle");
        assertFalse(s.checkUnsustainableTransition());
        // the link slows down: 200 s from cut to ack; the next cut waits for that ack
        s.acknowledged(2, t0.plusSeconds(40), t0.plusSeconds(240), "CRASH", 1000);
        assertEquals(Duration.ofSeconds(400), s.rpoAchievable());
        assertEquals(400L, s.view(t0.plusSeconds(241), null).rpoAchievableSeconds());
        assertTrue(s.checkUnsustainableTransition(), "beyond the 5 min target");
        assertFalse(s.checkUnsustainableTransition(), "once per transition");
        for (int k = 3; k < 3 + DomainStatus.RECENT_CYCLES; k++) { // fast again: the slow point ages out of the window
            s.acknowledged(k, t0.plusSeconds(300L * k), t0.plusSeconds(300L * k + 10), "CRASH", 1000);
        }
        assertEquals(Duration.ofSeconds(40), s.rpoAchievable());
        assertFalse(s.checkUnsustainableTransition());
    }

    @Test
    void rpoMissAlertsOncePerMiss() {
        DomainStatus s = new DomainStatus("web");
        s.assign("p", "standby:1", Duration.ofMinutes(15), Duration.ofMinutes(30));
        Instant t0 = Instant.parse("2026-11-25T10:00:00Z");
        s.known("u", 3, t0);
        assertFalse(s.checkRpoMissedTransition(t0.plusSeconds(29 * 60), t0));
        assertTrue(s.checkRpoMissedTransition(t0.plusSeconds(31 * 60), t0));
        assertFalse(s.checkRpoMissedTransition(t0.plusSeconds(40 * 60), t0), "still the same miss");
        assertEquals("missed", s.view(t0.plusSeconds(40 * 60), null).rpoState());
        s.acknowledged(4, t0.plusSeconds(39 * 60), t0.plusSeconds(39 * 60 + 20), "CRASH", 1000);
        assertFalse(s.checkRpoMissedTransition(t0.plusSeconds(40 * 60), t0));
        assertEquals("ok", s.view(t0.plusSeconds(40 * 60), null).rpoState());
        assertTrue(s.checkRpoMissedTransition(t0.plusSeconds(80 * 60), t0), "a new miss alerts again");
    }

    @Test
    void theRpoAchievedIsTheOldestThePointOnTheStandbyGotBeforeANewerOneLanded() {
        DomainStatus s = new DomainStatus("web");
        s.assign("p", "standby:1", Duration.ofSeconds(30), Duration.ofMinutes(2));
        Instant t0 = Instant.parse("2026-11-25T10:00:00Z");
        assertEquals(null, s.view(t0, null).worstRpoSeconds(), "nothing achieved before the first point");
        s.sent(5_000);
        s.acknowledged(1, t0, t0.plusSeconds(12), "CRASH", 5_000);
        StatusReport.Domain v = s.view(t0.plusSeconds(13), null);
        assertEquals(null, v.worstRpoSeconds(), "the first point replaces no point");
        assertEquals(12.0, v.lastPointLagSeconds());
        s.sent(700);
        s.acknowledged(2, t0.plusSeconds(30), t0.plusSeconds(41), "CRASH", 900); // point 1 was 41 s old when 2 landed
        s.sent(300);
        s.acknowledged(3, t0.plusSeconds(60), t0.plusSeconds(63), "CRASH", 300); // point 2: 33 s
        v = s.view(t0.plusSeconds(70), null);
        assertEquals(41, v.worstRpoSeconds());
        assertEquals(3.0, v.lastPointLagSeconds());
        assertEquals(3, v.pointsAcknowledged());
        assertEquals(6_000, v.deltaBytesSent());
        assertEquals(10, v.rpoSeconds(), "the age now is another figure");
    }

    static final XzBlockCodec.Preset P9E = new XzBlockCodec.Preset(9, true);
    static final XzBlockCodec.Preset P6 = new XzBlockCodec.Preset(6, false);

    @Test
    void incrementalPointsTakeTheStrongestPresetTheirBudgetAllowsAndKeepItForTheSameLoad() {
        AutoCompression a = new AutoCompression();
        double link = 125_000; // 1 Mbit/s
        Duration budget = Duration.ofMinutes(15).dividedBy(4); // a 15 min interval: 225 s
        assertEquals(P6, a.next("web", false, budget), "no point measured: preset 6, which measures the load");
        // a pgbench-like point at preset 6: 40 MB raw, 2.6 MB/s (15 s), 1.3 MB stored
        a.observe(P6, false, 40_000_000, 1_300_000, 15.4, link);
        // 9e estimated at 0.16 of 6's speed: 96 s + 83 s of transfer fits 225 s
        assertEquals(P9E, a.next("web", false, budget));
        a.observe(P9E, false, 40_000_000, 1_100_000, 90, link); // measured: 90 s, 1.1 MB
        for (int i = 0; i < 4; i++) { // the same load: the same preset, point after point
            assertEquals(P9E, a.next("web", false, budget), "point " + i);
            a.observe(P9E, false, 41_000_000, 1_120_000, 92, link);
        }
        // a tight budget (a 20 s interval: 5 s) leaves the strong presets out: the fastest expected point
        XzBlockCodec.Preset tight = a.next("web", false, Duration.ofSeconds(5));
        assertTrue(tight.compareTo(P6) < 0, "a weaker preset than 6 for 5 s: " + tight);
        // the first copy follows the link's pace from preset 6, not the incremental points' budget
        assertEquals(P6, a.next("web", true, budget));
    }

    @Test
    void aPresetThatProvesSlowerThanEstimatedIsLeftAtTheNextPoint() {
        AutoCompression a = new AutoCompression();
        double link = 1_250_000; // 10 Mbit/s
        Duration budget = Duration.ofSeconds(60);
        a.observe(P6, false, 20_000_000, 600_000, 8, link); // 2.5 MB/s at 6
        XzBlockCodec.Preset first = a.next("web", false, budget); // 9e estimated 0.4 MB/s: 50 s + 0.5 s fits
        assertEquals(P9E, first);
        a.observe(P9E, false, 20_000_000, 560_000, 150, link); // but it took 150 s on the busy host
        a.observe(P9E, false, 20_000_000, 560_000, 150, link);
        XzBlockCodec.Preset after = a.next("web", false, budget);
        assertTrue(after.compareTo(P9E) < 0, "9e measured too slow for 60 s: " + after);
        assertEquals(after, a.next("web", false, budget), "the same choice for the same load");
        // a scratch overflow: the next capture takes the fastest preset, then the budget rules again
        a.readTooSlow("web", after);
        assertEquals(0, a.next("web", false, budget).level());
        assertTrue(a.next("web", false, budget).compareTo(after) < 0, "the preset that overflowed counts as slow");
        for (int i = 0; i < AutoCompression.BAN_POINTS; i++) {
            a.observe(a.next("web", false, budget), false, 20_000_000, 600_000, 8, link);
        }
        assertEquals(after, a.next("web", false, budget), "after its ban its measured rate decides again");
        // an overflow is the domain's: another domain's next capture on the same link is not hurried
        a.readTooSlow("db", after);
        assertTrue(a.next("web", false, budget).level() > 0);
        assertEquals(0, a.next("db", false, budget).level());
        // the first copy's ladder never steps past its weakest rung
        for (int i = 0; i < 10; i++) {
            a.readTooSlow("web", new XzBlockCodec.Preset(0, false));
        }
        assertEquals(0, a.next("web", true, budget).level());
        assertEquals(0, a.next("web", true, budget).level());
    }

    @Test
    void theFirstCopyStepsDownWhenTheEncoderCannotKeepTheLinkBusyAndBackUp() {
        AutoCompression a = new AutoCompression();
        double night = 1_250_000; // 10 Mbit/s
        Duration budget = Duration.ofHours(1);
        assertEquals(P6, a.next("web", true, budget));
        a.observe(P6, true, 1_000_000_000, 20_000_000, 200, night); // 100 kB/s of output: too slow
        XzBlockCodec.Preset weaker = a.next("web", true, budget);
        assertTrue(weaker.compareTo(P6) < 0);
        a.observe(weaker, true, 1_000_000_000, 300_000_000, 30, night); // 10 MB/s: plenty of headroom
        assertEquals(P6, a.next("web", true, budget));
        assertEquals(P6, a.next("web", false, budget), "a first copy measures nothing for the points after it");
    }
}
