/**
 * The standby side, after receive: verify, journal "pending k+1", apply (idempotent), keep recovery
 * points, define the replica domain ({@link io.amirror.standby.ReplicaDefinition} is pure), promote it at
 * {@code virsh start} ({@link io.amirror.standby.Promotion}, run by the hook), answer verify and seed
 * requests. A replica is a {@link io.amirror.standby.ReplicaDomain} of {@link io.amirror.standby.ReplicaDisk}s.
 *
 * <p>Entry: {@code StandbyService}. May use: {@code transport} (to listen), {@code delta}, {@code image},
 * {@code libvirt}, {@code config}, {@code state}, {@code util}. Never {@code primary} nor {@code capture}:
 * the standby trusts no primary beyond its own replicas.
 */
package io.amirror.standby;
