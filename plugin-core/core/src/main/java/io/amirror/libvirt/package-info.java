/**
 * The hypervisor boundary: a connection that survives libvirtd restarts
 * ({@link io.amirror.libvirt.LibvirtSession}), a domain's {@link io.amirror.libvirt.CheckpointChain}
 * (checkpoint k goes only after the standby acknowledged a newer point) with every checkpoint's XML
 * kept in a {@link io.amirror.libvirt.ChainStore}, pull backups, dirty bitmaps, guest freeze, the hook's
 * installation, and pure readers of domain and checkpoint XML.
 *
 * <p>Stage: under capture on the primary and under replica definition on the standby. May use:
 * {@code nbd}, {@code state}, {@code util}. Must not use the stages above it.
 */
package io.amirror.libvirt;
