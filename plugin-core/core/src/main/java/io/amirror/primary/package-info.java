/**
 * The primary side: one replication cycle for every point source (a libvirt checkpoint chain, a
 * bridge guest's points): capture, refine, encode into the spool, ship, and on the standby's ACK retire
 * the old point and commit the hash maps ({@link io.amirror.primary.Replication} over a
 * {@link io.amirror.primary.PointSource}, one run of it a {@link io.amirror.primary.ReplicationCycle});
 * around it the daemon, in pieces with one job each: the policy set ({@code PolicySet}), the scheduled
 * cycles ({@code ScheduledCycles}), hook events ({@code HookEvents}), verify ({@code Verifier}), alerts
 * ({@code RpoAlerts}), status ({@code Guests}, {@code DomainStatus}).
 *
 * <p>Entry: {@link io.amirror.primary.PrimaryService}. May use: {@code capture}, {@code delta},
 * {@code spool}, {@code transport}, {@code libvirt}, {@code schedule}, {@code control} (it implements
 * {@link io.amirror.control.PrimaryControl}), {@code config}, {@code state}, {@code util}. Never {@code standby}: it reaches the
 * standby over the wire only.
 */
package io.amirror.primary;
