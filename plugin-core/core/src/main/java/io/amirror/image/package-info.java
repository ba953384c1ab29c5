/**
 * Disk images on this host, raw or qcow2, read and written by guest-visible offset: raw files
 * directly, any other format through a private {@code qemu-nbd} and the project's NBD client. The
 * standby's replicas, offline delta files and seed media are read and written through it.
 *
 * <p>Stage: a boundary, under {@code delta} and {@code standby}. Entry: {@link io.amirror.image.DiskImage}.
 * May use: {@code nbd}, {@code util}. Must not use any stage, nor the lab (where {@code qemu-img}
 * and {@code qemu-nbd} are is the core's own knowledge).
 */
package io.amirror.image;
