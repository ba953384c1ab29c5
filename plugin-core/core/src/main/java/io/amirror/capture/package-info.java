/**
 * Stage capture, the first on the primary: a point source and a base point in, what changed as
 * DATA and ZERO extents with their data out, disk by disk, into a {@link io.amirror.capture.CaptureSink}.
 * {@link io.amirror.capture.DomainCapture} cuts a libvirt domain's next point (pull backup, or
 * {@code qemu-nbd} on a shut-off disk); {@link io.amirror.capture.ExportReader} reads one NBD export of a
 * point, for every source (libvirt and the bridge); {@link io.amirror.capture.ExtentPlanner} is pure. A
 * running domain's backup scratch is watched against its {@link io.amirror.capture.ScratchBudget} and the
 * job ended before the guest's writes could fail ({@link io.amirror.capture.ScratchOverflowException}); a
 * shut-off domain with nothing new cuts no point ({@link io.amirror.capture.NothingChangedException}).
 *
 * <p>Entry: {@link io.amirror.capture.DomainCapture}, {@link io.amirror.capture.ExportReader}. May use:
 * {@code libvirt}, {@code nbd}, {@code image} (the device state's names and archive), {@code util}. Must not use {@code delta}, {@code spool},
 * {@code transport}, {@code standby} or {@code primary}: refinement plugs in as the sink.
 */
package io.amirror.capture;
