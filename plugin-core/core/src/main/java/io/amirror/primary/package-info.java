/**
 * The primary side: one replication cycle for every point source (a libvirt checkpoint chain, a
 * bridge guest's points): capture, refine, encode into the spool, ship, and on the standby's ACK retire
 * the old point and commit the hash maps ({@link io.amirror.primary.DomainReplication}); around it the
 * daemon, in pieces with one job each: the policy set, the cycle runner, hook events, verify, alerts, status.
 *
 * <p>Entry: {@link io.amirror.primary.PrimaryService}. May use: {@code capture}, {@code delta},
 * {@code spool}, {@code transport}, {@code libvirt}, {@code schedule}, {@code control} (it implements what
 * control serves), {@code config}, {@code state}, {@code util}. Never {@code standby}: it reaches the
 * standby over the wire only.
 */
package io.amirror.primary;
