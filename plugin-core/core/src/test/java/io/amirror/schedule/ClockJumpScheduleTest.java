package io.amirror.schedule;

import io.amirror.config.Policy;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Schedules that survive a jump of the wall clock. {@link ClockJumpWatch} on its own with injected
 * clocks; then the real scheduler in a process whose wall clock is really set back an hour while it
 * runs (libfaketime preloaded, its offset read from a file the test rewrites; the monotonic clock
 * left alone, as a clock setting leaves it): the next cycle still comes on time, where Quartz alone
 * would wait the hour.
 */
class ClockJumpScheduleTest {
    static final Path LIBFAKETIME = Path.of("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1");
    static final long EVERY_MS = 3_000;

    @Test
    void theWatchReportsJumpsEitherWayAndNotASlewingClock() {
        long[] wall = {1_800_000_000_000L};
        long[] nanos = {5_000_000_000L};
        List<Long> jumps = new ArrayList<>();
        ClockJumpWatch w = new ClockJumpWatch(() -> wall[0], () -> nanos[0], 10_000, jumps::add);
        nanos[0] += 5_000_000_000L;
        wall[0] += 5_002; // 2 ms off in 5 s: a slewing clock
        assertEquals(0, w.check());
        nanos[0] += 5_000_000_000L;
        wall[0] += 5_000 - 3_600_000; // set back an hour
        assertEquals(-3_600_000L, w.check());
        nanos[0] += 5_000_000_000L;
        wall[0] += 5_000 + 30L * 86_400_000; // 30 days ahead
        assertEquals(30L * 86_400_000, w.check());
        assertEquals(List.of(-3_600_000L, 30L * 86_400_000), jumps);
    }

    /** The child process: the real scheduler, one domain every {@link #EVERY_MS}, a line per cycle. */
    public static final class Child {
        public static void main(String[] args) throws Exception {
            Policy p = ReplicationSchedulerTest.policy("p", Duration.ofMillis(EVERY_MS), List.of());
            CycleRunner runner = (domain, policy) -> {
                System.out.println("cycle wall=" + System.currentTimeMillis());
                System.out.flush();
            };
            try (ReplicationScheduler s = new ReplicationScheduler(runner, 1, Map.of(), 500, ZoneId.of("UTC"))) {
                s.apply(List.of(new ReplicationScheduler.Assignment("web", p)));
                s.start();
                Thread.sleep(Long.parseLong(args[0]));
            }
        }
    }

    @Test
    @Tag("real") // a real process with a real clock change
    void aCycleRunsOnTimeAfterTheWallClockIsSetBackAnHour(@TempDir Path dir) throws Exception {
        assertTrue(Files.exists(LIBFAKETIME), "libfaketime is missing: apt-get install faketime (./quickstart does)");
        Path offset = Files.writeString(dir.resolve("offset"), "+0\n");
        Path log = dir.resolve("child.log");
        ProcessBuilder pb = new ProcessBuilder(ProcessHandle.current().info().command().orElse("java"), "-cp",
                System.getProperty("java.class.path"), Child.class.getName(), "60000")
                .redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("LD_PRELOAD", LIBFAKETIME.toString());
        pb.environment().put("FAKETIME_TIMESTAMP_FILE", offset.toString());
        pb.environment().put("FAKETIME_CACHE_DURATION", "1");
        pb.environment().put("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        Process child = pb.start();
        try {
            List<Long> before = awaitCycles(log, child, 2, 30_000);
            Files.writeString(offset, "-1h\n");
            long jumpedAt = System.nanoTime();
            // the first cycle the child runs with its clock an hour back
            long firstAfter = 0;
            List<Long> all = before;
            while (firstAfter == 0) {
                all = awaitCycles(log, child, all.size() + 1, 20_000);
                long wall = all.get(all.size() - 1);
                if (wall < System.currentTimeMillis() - 50 * 60_000) {
                    firstAfter = System.nanoTime();
                }
                assertTrue((System.nanoTime() - jumpedAt) / 1_000_000 < 20_000,
                        "no cycle within 20 s of the clock set back: " + Files.readString(log));
            }
            long late = (firstAfter - jumpedAt) / 1_000_000;
            // due within 3 s; the watch looks every 5 s; the faked clock is read anew every second
            assertTrue(late < EVERY_MS + ReplicationScheduler.CLOCK_CHECK_MS + 2_000,
                    "the first cycle after the jump came " + late + " ms after it: " + Files.readString(log));
            // and the schedule goes on at its pace on the new time
            List<Long> next = awaitCycles(log, child, all.size() + 2, 15_000);
            long gap = next.get(next.size() - 1) - next.get(next.size() - 2);
            assertTrue(gap >= EVERY_MS - 600 && gap <= EVERY_MS + 1_000, "gap " + gap + " ms: " + Files.readString(log));
            assertTrue(Files.readString(log).contains("the wall clock jumped back by 3"), Files.readString(log));
        } finally {
            child.destroyForcibly().waitFor();
        }
    }

    /** The wall times of the child's cycles, once it has printed at least {@code n}. */
    private static List<Long> awaitCycles(Path log, Process child, int n, long withinMs) throws Exception {
        long deadline = System.nanoTime() + withinMs * 1_000_000;
        while (true) {
            List<Long> walls = new ArrayList<>();
            for (String line : Files.readAllLines(log)) {
                if (line.startsWith("cycle wall=")) {
                    walls.add(Long.parseLong(line.substring("cycle wall=".length())));
                }
            }
            if (walls.size() >= n) {
                return walls;
            }
            assertTrue(child.isAlive(), "the child ended: " + Files.readString(log));
            assertTrue(System.nanoTime() < deadline, "fewer than " + n + " cycles within " + withinMs + " ms: "
                    + Files.readString(log));
            Thread.sleep(100);
        }
    }
}
