package io.amirror.libvirt;

import java.nio.file.Path;

/**
 * A disk of a domain as its XML describes it.
 *
 * @param target   the guest device name (vda, sda, ...), which libvirt also uses as the NBD export name
 * @param source   the image file or block device, or null for a disk with no local source (network, volume,
 *                 empty cdrom)
 * @param format   the driver type (qcow2, raw, ...)
 * @param readOnly whether the guest cannot write it
 * @param device   disk, cdrom or floppy
 * @param type     where the source is: {@code file}, {@code block} (a host block device such as an LVM
 *                 volume), {@code network}, {@code volume}, ...
 */
public record DiskInfo(String target, Path source, String format, boolean readOnly, String device, String type) {

    /** A file-backed disk ({@code type='file'}). */
    public DiskInfo(String target, Path source, String format, boolean readOnly, String device) {
        this(target, source, format, readOnly, device, "file");
    }

    /** Whether the guest can write this disk: a writable disk device, whatever its source. */
    public boolean writable() {
        return device.equals("disk") && !readOnly;
    }

    /** Whether amirror replicates this disk at all: a writable disk with a local source (a file or a block device). */
    public boolean replicated() {
        return writable() && source != null && (type.equals("file") || type.equals("block"));
    }

    /** Whether QEMU can track its writes in a persistent dirty bitmap (qcow2 v3 only). */
    public boolean incrementallyTrackable() {
        return format.equals("qcow2");
    }

    /**
     * Whether it is read whole at every point: a raw file or block device keeps no persistent bitmap
     * in libvirt 9.0, so what changed is found by reading it and comparing block hashes.
     */
    public boolean readWhole() {
        return format.equals("raw");
    }
}
