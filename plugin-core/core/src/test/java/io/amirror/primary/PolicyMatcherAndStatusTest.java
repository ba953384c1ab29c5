package io.amirror.primary;

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

    @Test
    void autoCompressionStepsDownWhenTheEncoderCannotKeepUpAndBackUp() {
        AutoCompression a = new AutoCompression();
        double link = 1_000_000;
        var strongest = a.next(false, link);
        a.observe(strongest, 1_000_000, 10, link); // 100 kB/s of output for a 1 MB/s link: too slow
        var weaker = a.next(false, link);
        assertTrue(weaker.compareTo(strongest) < 0);
        a.observe(weaker, 100_000_000, 10, link); // 10 MB/s: plenty of headroom
        assertEquals(strongest, a.next(false, link));
        a.observe(strongest, 1, 1, link); // too short a cycle to learn from
        assertEquals(strongest, a.next(false, link));
        assertEquals(6, a.next(true, link).level(), "a full capture starts at preset 6");
    }

    @Test
    void aSlowerLinkTakesBackTheStrongerPresetItLeftWithoutAnotherLongCycle() {
        AutoCompression a = new AutoCompression();
        double night = 1_250_000; // 10 Mbit/s
        var strongest = a.next(false, night);
        a.observe(strongest, 6_000_000, 20, night); // 300 kB/s: too slow for the night link
        var weaker = a.next(false, night);
        assertTrue(weaker.compareTo(strongest) < 0);
        assertEquals(weaker, a.next(false, 500_000), "4 Mbit/s: 300 kB/s would not keep it busy");
        assertEquals(strongest, a.next(false, 125_000), "1 Mbit/s in office hours: the stronger preset keeps up");
        assertEquals(strongest, a.next(false, 125_000));

        AutoCompression b = new AutoCompression();
        b.observe(b.next(true, night), 1_000_000, 20, night); // a first sync at preset 6 too slow: step down...
        var after = b.next(false, night);
        assertTrue(after.compareTo(strongest) < 0);
        assertEquals(after, b.next(false, 125_000), "...but preset 6's speed says nothing of the stronger one's");
    }
}
