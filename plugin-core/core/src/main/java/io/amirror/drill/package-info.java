/**
 * Drills, beside the standby: a replica proven by booting it while replication goes on. A drill
 * boots a kept recovery point in a throwaway domain of its own (thin qcow2 overlays over the point,
 * exported read-only by {@code qemu-nbd} beside the standby's writes; copies of the point's NVRAM
 * and TPM state; its NICs on an isolated network of its own, a named one, or none), checks that the
 * guest came up and runs the admin's checks through its agent, then removes everything it made,
 * also after a failure, a timeout or Ctrl-C; a drill killed outright is swept by the next run.
 * The drilled point is pinned ({@link io.amirror.standby.ReplicaDomain#pinForDrill}) so retention
 * cannot take it away, and the replica's own image is never written.
 *
 * <p>Entry: {@link io.amirror.drill.ReplicaDrill}; the domain it boots is built by the pure
 * {@link io.amirror.drill.DrillDefinition} from the definition the standby itself made for the
 * replica. May use: {@code standby} (replicas, their points, the guest check), {@code image},
 * {@code nbd}, {@code libvirt}, {@code state}, {@code util}. The standby never uses this package:
 * the commands run drills and sweep their leftovers.
 */
package io.amirror.drill;
