/**
 * A point source for guests outside libvirt (Lguest-style launchers, bare QEMU, other VMMs), in the
 * guest's I/O path as the original Amirror was: {@link io.amirror.bridge.BridgeVolume} (a raw image,
 * crash-safe dirty maps, points with copy-on-write snapshots) served over NBD on the core's codecs by
 * {@link io.amirror.bridge.BridgeServer}, with a control socket that cuts and deletes points. Every
 * door is bounded ({@link io.amirror.bridge.BridgeServer.Limits}: connections, request sizes,
 * deadlines); TCP beyond loopback only with {@link io.amirror.bridge.BridgeTls} (STARTTLS, client
 * certificates).
 *
 * <p>Entry: {@link io.amirror.bridge.BridgeServer}; its points feed the core's one replication cycle.
 * May use the core's {@code nbd}, {@code capture}, {@code libvirt} (point names), {@code primary} (the
 * cycle), {@code state}, {@code util}, {@code transport} (the manifest, certificate fingerprints). Must not run a cycle of its own nor use {@code standby}: shipping,
 * status, verify and alerts come from the core.
 */
package io.amirror.bridge;
