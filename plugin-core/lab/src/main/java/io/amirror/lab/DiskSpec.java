package io.amirror.lab;

/**
 * One writable disk of a lab domain.
 *
 * @param target  the guest device name libvirt gets: {@code vda}... on virtio, {@code sda}... on SCSI or SATA,
 *                {@code hda}... on IDE
 * @param sizeBytes virtual size
 * @param content {@link Content#BLANK} or pre-formatted {@link Content#EXT4}
 * @param format  {@code qcow2} (version 3, so persistent bitmaps work) or {@code raw}; {@code vmdk} (blank only)
 *                for a disk in a format amirror refuses
 * @param blockDevice a host block device the disk is ({@code <disk type='block'>}, raw; the test made it and
 *                    removes it, e.g. a loop device), or null for an image file the lab creates
 * @param bus     the controller libvirt puts it on: {@code virtio} (virtio-blk), {@code scsi} (on a virtio-scsi
 *                controller), {@code sata} (AHCI) or {@code ide} (the PIIX controller of the {@code pc} machine);
 *                the guest finds the ones off virtio after {@link GuestConsole#loadDiskBuses()}
 */
public record DiskSpec(String target, long sizeBytes, Content content, String format, java.nio.file.Path blockDevice,
                       String bus) {

    /** An image file the lab creates, on virtio. */
    public DiskSpec(String target, long sizeBytes, Content content, String format) {
        this(target, sizeBytes, content, format, null, "virtio");
    }

    public enum Content { BLANK, EXT4 }

    public DiskSpec {
        String names = switch (bus) {
            case "virtio" -> "vd[a-z]";
            case "scsi", "sata" -> "sd[a-z]";
            case "ide" -> "hd[a-d]";
            default -> throw new IllegalArgumentException("disk bus must be virtio, scsi, sata or ide, not " + bus);
        };
        if (!target.matches(names)) {
            throw new IllegalArgumentException("a disk on " + bus + " is named " + names + ", not " + target);
        }
        if (sizeBytes < (1 << 20) || sizeBytes % 512 != 0) {
            throw new IllegalArgumentException("disk size must be a multiple of 512 and at least 1 MiB: " + sizeBytes);
        }
        if (!format.equals("qcow2") && !format.equals("raw") && !format.equals("vmdk")) {
            throw new IllegalArgumentException("disk format must be qcow2, raw or vmdk, not " + format);
        }
        if (format.equals("vmdk") && content != Content.BLANK) {
            throw new IllegalArgumentException("a vmdk disk is blank: " + target);
        }
        if (blockDevice != null && (!format.equals("raw") || content != Content.BLANK)) {
            throw new IllegalArgumentException("a block device disk is raw and used as it is: " + blockDevice);
        }
    }

    /** The host block device {@code device} (of {@code sizeBytes}) as the raw disk {@code target}. */
    public static DiskSpec block(String target, java.nio.file.Path device, long sizeBytes) {
        return new DiskSpec(target, sizeBytes, Content.BLANK, "raw", device, "virtio");
    }

    /** This disk on another bus, as {@code target}. */
    public DiskSpec on(String otherBus, String otherTarget) {
        return new DiskSpec(otherTarget, sizeBytes, content, format, blockDevice, otherBus);
    }

    public static DiskSpec qcow2(String target, long sizeBytes, Content content) {
        return new DiskSpec(target, sizeBytes, content, "qcow2");
    }
}
