package io.amirror.drill;

import io.amirror.config.DrillPlan;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which replicas a schedule drills when, how many at once, and with how much memory left to the host. */
class DrillSchedulerTest {
    static final Instant NOW = Instant.parse("2026-12-03T12:00:00Z");

    static DrillScheduler.Candidate c(String name, Instant last, boolean drilling) {
        return new DrillScheduler.Candidate(UUID.nameUUIDFromBytes(name.getBytes()), name + "-replica", name, last, drilling, 1024);
    }

    static DrillPlan plan(int atOnce) {
        return new DrillPlan(atOnce, 512, List.of(
                new DrillPlan.Schedule(List.of("files*"), Duration.ofDays(7), List.of(), Duration.ofMinutes(10), "isolated", Duration.ofSeconds(60)),
                new DrillPlan.Schedule(List.of("*"), Duration.ofDays(30), List.of(), Duration.ofMinutes(10), "none", Duration.ofSeconds(60))));
    }

    @Test
    void dueByTheFirstScheduleThatNamesTheReplicaNeverDrilledFirstThenTheOldest() {
        List<DrillScheduler.Candidate> all = List.of(
                c("files", NOW.minus(Duration.ofDays(8)), false),       // weekly: due
                c("files2", NOW.minus(Duration.ofDays(6)), false),      // weekly: not yet
                c("mail", NOW.minus(Duration.ofDays(8)), false),        // monthly: not yet
                c("pbx", null, false),                                  // never: due first
                c("erp", NOW.minus(Duration.ofDays(31)), false),        // monthly: due
                c("web", null, true));                                  // a drill runs: not again
        List<String> due = DrillScheduler.due(all, plan(8), NOW, 0).stream().map(DrillScheduler.Candidate::primary).toList();
        assertEquals(List.of("pbx", "erp", "files"), due);
        assertEquals(List.of("pbx"), DrillScheduler.due(all, plan(2), NOW, 1).stream()
                .map(DrillScheduler.Candidate::primary).toList(), "one slot of two is taken");
        assertEquals(List.of(), DrillScheduler.due(all, plan(1), NOW, 1), "none while the one slot is taken");
        assertEquals(List.of(), DrillScheduler.due(all, new DrillPlan(1, 512, List.of()), NOW, 0), "no schedule, no drill");
        assertEquals("files", DrillScheduler.due(List.of(c("files", NOW.minus(Duration.ofDays(7)), false)), plan(1), NOW, 0)
                .get(0).primary(), "due exactly at its interval");
    }

    @Test
    void memoryAndTheDomainsSize() {
        assertTrue(DrillScheduler.memoryAllows(4096, 2048, 512));
        assertFalse(DrillScheduler.memoryAllows(2400, 2048, 512));
        assertEquals(2048, DrillScheduler.memoryMiB("<domain><memory unit='KiB'>2097152</memory></domain>"));
        assertEquals(2048, DrillScheduler.memoryMiB("<domain><memory>2097152</memory></domain>"));
        assertEquals(4096, DrillScheduler.memoryMiB("<domain><memory unit='GiB'>4</memory></domain>"));
        assertEquals(256, DrillScheduler.memoryMiB("<domain><memory unit='MiB'>256</memory></domain>"));
        assertEquals(0, DrillScheduler.memoryMiB("<domain/>"));
    }
}
