package io.amirror.config;

import com.fasterxml.jackson.databind.JsonNode;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The standby's scheduled drills (its configuration's {@code drills} section): how many at once,
 * the memory a drill leaves the host, and per schedule which replicas, how often, which checks.
 */
public record DrillPlan(int maxAtOnce, long memoryReserveMiB, List<Schedule> schedules) {
    public static final DrillPlan NONE = new DrillPlan(1, 512, List.of());

    /**
     * Replicas named by {@code replicas} (names or {@code *}/{@code ?} patterns) drilled {@code every},
     * with these checks, network and timeout; {@code settle}: how long a guest without an agent runs
     * before the evidence is taken.
     */
    public record Schedule(List<String> replicas, Duration every, List<List<String>> checks, Duration timeout,
                           String network, Duration settle) {
        public Schedule {
            replicas = List.copyOf(replicas);
            checks = checks.stream().map(List::copyOf).toList();
        }

        /** Whether this schedule names a replica known by {@code names} (its replica domain's, its primary's). */
        public boolean names(String... names) {
            for (String pattern : replicas) {
                Pattern p = Pattern.compile(pattern.replace(".", "\\.").replace("?", ".").replace("*", ".*"));
                for (String n : names) {
                    if (n != null && p.matcher(n).matches()) {
                        return true;
                    }
                }
            }
            return false;
        }
    }

    public DrillPlan {
        schedules = List.copyOf(schedules);
    }

    static DrillPlan of(JsonNode drills) {
        if (drills.isMissingNode()) {
            return NONE;
        }
        List<Schedule> schedules = new ArrayList<>();
        for (JsonNode s : drills.path("schedules")) {
            List<String> names = new ArrayList<>();
            s.path("replicas").forEach(n -> names.add(n.asText()));
            List<List<String>> checks = new ArrayList<>();
            for (JsonNode c : s.path("checks")) {
                List<String> argv = new ArrayList<>();
                c.forEach(w -> argv.add(w.asText()));
                checks.add(argv);
            }
            schedules.add(new Schedule(names, Durations.parse(s.path("every").asText()), checks,
                    Durations.parse(s.path("timeout").asText("10m")), s.path("network").asText("isolated"),
                    Durations.parse(s.path("settle").asText("60s"))));
        }
        return new DrillPlan(drills.path("maxAtOnce").asInt(1), drills.path("memoryReserveMiB").asLong(512), schedules);
    }
}
