/**
 * When a cycle runs, on the primary: Quartz with one job per replicated domain
 * ({@link io.amirror.schedule.ReplicationScheduler}), a trigger from the policy's RPO and a calendar
 * of its blackouts ({@link io.amirror.schedule.BlackoutCalendar}); a domain's cycles never overlap
 * ({@link io.amirror.schedule.ReplicationJob}); a jump of the wall clock, which Quartz's fire times
 * follow, is caught by {@code ClockJumpWatch} and the triggers rescheduled.
 *
 * <p>Entry: {@link io.amirror.schedule.ReplicationScheduler}, and {@link io.amirror.schedule.CycleRunner},
 * which the primary implements. May use: {@code config}, {@code util}. Must not use {@code primary} or
 * any stage of the flow: it decides when, the cycle decides what.
 */
package io.amirror.schedule;
