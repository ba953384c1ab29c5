package io.amirror.lab;

/**
 * One writable disk of a lab domain.
 *
 * @param target  the guest device name libvirt gets ({@code vda}, {@code vdb}, ...)
 * @param sizeBytes virtual size
 * @param content {@link Content#BLANK} or pre-formatted {@link Content#EXT4}
 * @param format  {@code qcow2} (version 3, so persistent bitmaps work) or {@code raw}
 */
public record DiskSpec(String target, long sizeBytes, Content content, String format) {

    public enum Content { BLANK, EXT4 }

    public DiskSpec {
        if (!target.matches("vd[a-z]")) {
            throw new IllegalArgumentException("disk target must be vda..vdz, not " + target);
        }
        if (sizeBytes < (1 << 20) || sizeBytes % 512 != 0) {
            throw new IllegalArgumentException("disk size must be a multiple of 512 and at least 1 MiB: " + sizeBytes);
        }
        if (!format.equals("qcow2") && !format.equals("raw")) {
            throw new IllegalArgumentException("disk format must be qcow2 or raw, not " + format);
        }
    }

    public static DiskSpec qcow2(String target, long sizeBytes, Content content) {
        return new DiskSpec(target, sizeBytes, content, "qcow2");
    }
}
