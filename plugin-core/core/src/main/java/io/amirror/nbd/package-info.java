/**
 * The NBD boundary, under capture and images: wire constants ({@link io.amirror.nbd.NbdConstants}),
 * records ({@link io.amirror.nbd.NbdMessages}) and pure codecs ({@link io.amirror.nbd.NbdCodec},
 * {@link io.amirror.nbd.ReplyAssembler}: byte buffers in, records out, no sockets), then on top the
 * client {@link io.amirror.nbd.NbdClient} (over a package-private channel with timeouts) and
 * {@link io.amirror.nbd.QemuNbd}, a {@code qemu-nbd} process. The bridge's NBD server uses the same codecs.
 *
 * <p>Entry: {@link io.amirror.nbd.NbdClient}, {@link io.amirror.nbd.NbdAddress}. May use: {@code util}.
 * Must not use any stage above it; every server is treated as hostile.
 */
package io.amirror.nbd;
