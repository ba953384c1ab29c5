package io.amirror.schedule;

import io.amirror.config.Policy;
import org.quartz.CronScheduleBuilder;
import org.quartz.JobBuilder;
import org.quartz.JobDetail;
import org.quartz.JobKey;
import org.quartz.Scheduler;
import org.quartz.SchedulerException;
import org.quartz.SimpleScheduleBuilder;
import org.quartz.Trigger;
import org.quartz.TriggerBuilder;
import org.quartz.TriggerKey;
import org.quartz.impl.StdSchedulerFactory;
import org.quartz.impl.matchers.GroupMatcher;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Instant;
import java.time.ZoneId;
import java.util.Date;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TimeZone;

/**
 * Quartz wiring: one job per replicated domain (group {@value #GROUP}, named after the domain), with
 * one trigger from its policy's RPO and the policy's blackout calendar.
 *
 * <p>{@link #apply} makes the scheduler match a new set of assignments, as on a policy reload:
 * jobs whose schedule did not change are left alone; changed ones get a new trigger; removed ones
 * are deleted. A cycle already running is never interrupted by any of this: Quartz lets a running
 * job finish even when its job or trigger is removed.
 *
 * <p>Misfires (a fire that could not run on time, because the previous cycle of the domain was
 * still running or the daemon was busy) fire once, now: repeat triggers reschedule from now,
 * cron triggers fire once and proceed.
 *
 * <p>Jumps of the wall clock: Quartz keeps each next fire time on the wall clock, so a clock set back
 * an hour would hold every cycle back an hour. A {@link ClockJumpWatch} compares the wall clock with
 * elapsed time every {@value #CLOCK_CHECK_MS} ms; on a jump of more than {@value #JUMP_TOLERANCE_MS}
 * ms either way, every trigger is rescheduled ({@link #clockJumped}): a repeat trigger to fire when it
 * was due by elapsed time (its old next fire time moved by the jump, or now if that passed), a cron
 * trigger at its next match from the new time. The jump is logged.
 */
public final class ReplicationScheduler implements AutoCloseable {
    public static final String GROUP = "amirror";

    /** A domain and the policy that covers it. */
    public record Assignment(String domain, Policy policy) {
        String scheduleKey() {
            return policy.name() + "|" + policy.rpo() + "|" + policy.blackouts();
        }
    }

    /** How often the wall clock is compared with elapsed time, and the difference that is a jump. */
    static final long CLOCK_CHECK_MS = 5_000;
    static final long JUMP_TOLERANCE_MS = 10_000;
    private static final Logger log = LoggerFactory.getLogger(ReplicationScheduler.class);

    private final Scheduler scheduler;
    private final ZoneId zone;
    private final ClockJumpWatch clockWatch = new ClockJumpWatch(JUMP_TOLERANCE_MS, this::clockJumped);
    private final Map<String, Assignment> current = new HashMap<>();

    /**
     * @param threads    how many domains may run a cycle at once
     * @param extra      more Quartz properties (a JDBC job store, for example); RAMJobStore otherwise
     * @param misfireMs  how late a fire may start before it counts as misfired
     */
    public ReplicationScheduler(CycleRunner runner, int threads, Map<String, String> extra, long misfireMs, ZoneId zone)
            throws SchedulerException {
        Properties p = new Properties();
        p.setProperty("org.quartz.scheduler.instanceName", "amirror");
        p.setProperty("org.quartz.scheduler.skipUpdateCheck", "true");
        p.setProperty("org.quartz.threadPool.threadCount", Integer.toString(threads));
        p.setProperty("org.quartz.threadPool.makeThreadsDaemons", "true");
        p.setProperty("org.quartz.jobStore.class", "org.quartz.simpl.RAMJobStore");
        p.setProperty("org.quartz.jobStore.misfireThreshold", Long.toString(misfireMs));
        extra.forEach(p::setProperty);
        StdSchedulerFactory f = new StdSchedulerFactory(p);
        this.scheduler = f.getScheduler();
        this.scheduler.getContext().put(ReplicationJob.RUNNER, runner);
        this.zone = zone;
    }

    public void start() throws SchedulerException {
        scheduler.start();
        clockWatch.start(CLOCK_CHECK_MS);
    }

    /**
     * The wall clock jumped by {@code jumpMs} (negative: back): every trigger rescheduled as the class
     * comment says. Returns how many were.
     */
    synchronized int clockJumped(long jumpMs) {
        long now = System.currentTimeMillis();
        int n = 0;
        for (Assignment a : current.values()) {
            TriggerKey key = new TriggerKey(a.domain(), GROUP);
            try {
                Trigger old = scheduler.getTrigger(key);
                if (old == null) {
                    continue;
                }
                Date next = old.getNextFireTime();
                Date at = next == null ? new Date(now) : new Date(Math.max(now, next.getTime() + jumpMs));
                scheduler.rescheduleJob(key, trigger(a, new JobKey(a.domain(), GROUP), at));
                n++;
            } catch (SchedulerException e) {
                log.warn("cannot reschedule {} after a clock jump: {}", a.domain(), e.getMessage());
            }
        }
        log.warn("the wall clock jumped {} by {} s: {} schedule(s) moved to follow it", jumpMs < 0 ? "back" : "ahead",
                Math.abs(jumpMs) / 1000, n);
        return n;
    }

    /** Makes the jobs match {@code assignments}; see the class comment. */
    public synchronized void apply(List<Assignment> assignments) throws SchedulerException {
        Set<String> calendars = new HashSet<>();
        Map<String, Assignment> wanted = new HashMap<>();
        current.clear();
        for (Assignment a : assignments) {
            wanted.put(a.domain(), a);
            current.put(a.domain(), a);
            String cal = calendarName(a.policy());
            if (cal != null && calendars.add(cal)) {
                scheduler.addCalendar(cal, calendar(a.policy()), true, true);
            }
        }
        for (JobKey k : scheduler.getJobKeys(GroupMatcher.jobGroupEquals(GROUP))) {
            if (!wanted.containsKey(k.getName())) {
                scheduler.deleteJob(k);
            }
        }
        for (Assignment a : wanted.values()) {
            JobKey key = new JobKey(a.domain(), GROUP);
            JobDetail existing = scheduler.getJobDetail(key);
            if (existing != null && a.scheduleKey().equals(existing.getJobDataMap().getString("schedule"))) {
                continue;
            }
            JobDetail job = JobBuilder.newJob(ReplicationJob.class).withIdentity(key)
                    .usingJobData(ReplicationJob.DOMAIN, a.domain())
                    .usingJobData(ReplicationJob.POLICY, a.policy().name())
                    .usingJobData("schedule", a.scheduleKey()).storeDurably().build();
            scheduler.addJob(job, true, true);
            Trigger t = trigger(a, key, null);
            if (scheduler.checkExists(t.getKey())) {
                scheduler.rescheduleJob(t.getKey(), t);
            } else {
                scheduler.scheduleJob(t);
            }
        }
        for (String cal : scheduler.getCalendarNames()) {
            if (!calendars.contains(cal)) {
                try {
                    scheduler.deleteCalendar(cal);
                } catch (SchedulerException stillUsed) {
                    // a trigger still refers to it; it goes at the next apply
                }
            }
        }
    }

    /** {@code repeatFrom}: when a repeat trigger fires first (null: now); a cron trigger starts now in any case. */
    private Trigger trigger(Assignment a, JobKey job, Date repeatFrom) {
        Policy.Rpo rpo = a.policy().rpo();
        TriggerBuilder<Trigger> b = TriggerBuilder.newTrigger().withIdentity(new TriggerKey(a.domain(), GROUP))
                .forJob(job);
        b = repeatFrom != null && rpo.interval() != null ? b.startAt(repeatFrom) : b.startNow();
        String cal = calendarName(a.policy());
        if (cal != null) {
            b.modifiedByCalendar(cal);
        }
        if (rpo.interval() != null) {
            return b.withSchedule(SimpleScheduleBuilder.simpleSchedule()
                    .withIntervalInMilliseconds(rpo.interval().toMillis()).repeatForever()
                    .withMisfireHandlingInstructionNowWithExistingCount()).build();
        }
        return b.withSchedule(CronScheduleBuilder.cronSchedule(rpo.cron()).inTimeZone(TimeZone.getTimeZone(zone))
                .withMisfireHandlingInstructionFireAndProceed()).build();
    }

    private static String calendarName(Policy p) {
        return p.blackouts().isEmpty() ? null : "blackouts:" + p.name();
    }

    private BlackoutCalendar calendar(Policy p) {
        return new BlackoutCalendar(p.blackouts(), zone);
    }

    /** Runs the domain's job now (outside its schedule and its blackouts); false if it has no job. */
    public boolean runNow(String domain) throws SchedulerException {
        JobKey key = new JobKey(domain, GROUP);
        if (!scheduler.checkExists(key)) {
            return false;
        }
        scheduler.triggerJob(key);
        return true;
    }

    /** When the domain's trigger fires next, if it has one. */
    public Optional<Instant> nextRun(String domain) throws SchedulerException {
        Trigger t = scheduler.getTrigger(new TriggerKey(domain, GROUP));
        Date d = t == null ? null : t.getNextFireTime();
        return Optional.ofNullable(d).map(Date::toInstant);
    }

    /** The domains that have a job. */
    public Set<String> domains() throws SchedulerException {
        Set<String> out = new HashSet<>();
        for (JobKey k : scheduler.getJobKeys(GroupMatcher.jobGroupEquals(GROUP))) {
            out.add(k.getName());
        }
        return out;
    }

    /** Stops firing; waits for running cycles when {@code waitForCycles}. */
    public void shutdown(boolean waitForCycles) throws SchedulerException {
        clockWatch.close();
        scheduler.shutdown(waitForCycles);
    }

    @Override
    public void close() throws SchedulerException {
        shutdown(true);
    }
}
