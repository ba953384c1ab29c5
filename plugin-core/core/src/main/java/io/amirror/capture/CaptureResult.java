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

    /**
     * Per disk: how many bytes and extents of each kind were captured.
     *
     * @param readWhole whether the disk was read in full because it keeps no dirty bitmap (raw)
     * @param bytesRead what was read from the export (its DATA extents; ZERO extents are never read)
     */
    public record DiskStats(String target, long virtualSize, long dataBytes, int dataExtents, long zeroBytes,
                            int zeroExtents, boolean readWhole, long bytesRead) {
        /** A disk read by its plan, not whole: what was read is what was captured as DATA. */
        public DiskStats(String target, long virtualSize, long dataBytes, int dataExtents, long zeroBytes, int zeroExtents) {
            this(target, virtualSize, dataBytes, dataExtents, zeroBytes, zeroExtents, false, dataBytes);
        }
    }

    public long dataBytes() {
        return disks.stream().mapToLong(DiskStats::dataBytes).sum();
    }

    /** Bytes read from the exports, all disks. */
    public long bytesRead() {
        return disks.stream().mapToLong(DiskStats::bytesRead).sum();
    }

    /** The disks read whole (raw files and block devices, which keep no dirty bitmap). */
    public List<String> readWhole() {
        return disks.stream().filter(DiskStats::readWhole).map(DiskStats::target).toList();
    }
}
