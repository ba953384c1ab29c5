package io.amirror.libvirt;

import java.nio.file.Path;

/**
 * A disk of a domain as its XML describes it.
 *
 * @param target   the guest device name (vda, sda, ...), which libvirt also uses as the NBD export name
 * @param source   the image file, or null for a disk with no file (network, empty cdrom)
 * @param format   the driver type (qcow2, raw, ...)
 * @param readOnly whether the guest cannot write it
 * @param device   disk, cdrom or floppy
 */
public record DiskInfo(String target, Path source, String format, boolean readOnly, String device) {

    /** Whether amirror replicates this disk at all: a writable disk backed by a file. */
    public boolean replicated() {
        return device.equals("disk") && !readOnly && source != null;
    }

    /** Whether QEMU can track its writes in a persistent dirty bitmap (qcow2 v3 only). */
    public boolean incrementallyTrackable() {
        return format.equals("qcow2");
    }
}
