/**
 * The standby side, after receive: for each peer its own replicas only ({@link io.amirror.standby.Tenancy}),
 * receive into partials, resume, verify and stage each disk's delta, apply a point to all its disks as one
 * ({@link io.amirror.standby.PointApply}; each disk journals "pending k+1", idempotent), keep recovery points
 * within the standby's retention floor, refuse what does not fit before writing, define the replica domain ({@link io.amirror.standby.ReplicaDefinition} is pure; reconciled with libvirt at start and
 * every minute), retire a disk the primary removed, promote it when {@code virsh start} really runs it
 * ({@link io.amirror.standby.Promotion}, run by the hook: prepared, then promoted, or a replica again), never change an
 * image a running process holds, answer verify and seed requests. Every change of a domain's replicas happens under its
 * lock, shared across processes and held for a whole transfer ({@code DomainLock}). A replica is a {@link io.amirror.standby.ReplicaDomain} of {@link io.amirror.standby.ReplicaDisk}s.
 *
 * <p>Entry: {@link io.amirror.standby.StandbyService} (one {@code StandbyConnection} per primary
 * connection, the {@code transport.ConnectionHandler} the receiver dispatches to; every path in
 * {@link io.amirror.standby.StandbyLayout}). May use: {@code transport} (to listen), {@code delta}, {@code image},
 * {@code libvirt}, {@code config}, {@code state}, {@code util}. Never {@code primary} nor {@code capture}:
 * the standby trusts no primary beyond its own replicas.
 */
package io.amirror.standby;
