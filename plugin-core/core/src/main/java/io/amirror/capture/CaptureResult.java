package io.amirror.capture;

import java.util.List;

/**
 * What one capture produced.
 *
 * @param basePoint the point the changes are relative to; 0 for a full capture
 * @param newPoint  the point the standby reaches by applying them
 * @param offline   whether the domain was shut off (read through qemu-nbd) rather than running
 * @param consistency what a guest booted from the point sees
 */
public record CaptureResult(String domain, int basePoint, int newPoint, boolean offline, List<DiskStats> disks,
                            Consistency consistency) {

    /** Shut off: clean; quiesced: filesystems frozen by the guest agent; crash: as after a power cut. */
    public enum Consistency { SHUT_OFF, QUIESCED, CRASH }

    /** Per disk: how many bytes and extents of each kind were captured. */
    public record DiskStats(String target, long virtualSize, long dataBytes, int dataExtents, long zeroBytes,
                            int zeroExtents) {
    }

    public long dataBytes() {
        return disks.stream().mapToLong(DiskStats::dataBytes).sum();
    }
}
