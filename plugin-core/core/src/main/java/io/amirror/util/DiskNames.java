package io.amirror.util;

/**
 * The disk names amirror accepts everywhere a disk target becomes part of a file name or a message
 * (deltas, the spool, the wire, replica directories): short, lower-case letters and digits, starting
 * with a letter, as libvirt's targets are ({@code vda}, {@code sdb}). Anything else is refused, so
 * no name can climb out of a directory.
 */
public final class DiskNames {
    /** The longest disk name, in characters. */
    public static final int MAX_LENGTH = 32;

    private DiskNames() {
    }

    public static boolean valid(String disk) {
        return disk != null && disk.matches("[a-z][a-z0-9]{0," + (MAX_LENGTH - 1) + "}");
    }
}
