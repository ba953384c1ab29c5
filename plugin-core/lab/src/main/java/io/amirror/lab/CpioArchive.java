package io.amirror.lab;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Writes a cpio archive in the "newc" format (the one the Linux kernel unpacks as an initramfs).
 *
 * <p>Each entry is a 110-byte ASCII header of thirteen 8-digit hex fields, the NUL-terminated name
 * padded to a multiple of four bytes, then the data padded the same way. The archive ends with the
 * entry {@code TRAILER!!!}. Entries need not be sorted, but a directory must precede its contents.
 * Callers close the stream they passed in; {@link #finish()} writes the trailer.
 */
public final class CpioArchive {
    private static final int S_IFDIR = 0040000;
    private static final int S_IFREG = 0100000;
    private static final int S_IFLNK = 0120000;
    private static final int S_IFCHR = 0020000;

    private final OutputStream out;
    private long written;
    private int nextInode = 1;

    public CpioArchive(OutputStream out) {
        this.out = out;
    }

    public void directory(String path, int permissions) throws IOException {
        entry(path, S_IFDIR | permissions, new byte[0], 0, 0);
    }

    public void file(String path, int permissions, byte[] data) throws IOException {
        entry(path, S_IFREG | permissions, data, 0, 0);
    }

    public void symlink(String path, String target) throws IOException {
        entry(path, S_IFLNK | 0777, target.getBytes(StandardCharsets.UTF_8), 0, 0);
    }

    public void charDevice(String path, int permissions, int major, int minor) throws IOException {
        entry(path, S_IFCHR | permissions, new byte[0], major, minor);
    }

    public void finish() throws IOException {
        entry("TRAILER!!!", 0, new byte[0], 0, 0);
        out.flush();
    }

    private void entry(String path, int mode, byte[] data, int rdevMajor, int rdevMinor) throws IOException {
        byte[] name = path.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream header = new ByteArrayOutputStream(110);
        header.writeBytes("070701".getBytes(StandardCharsets.US_ASCII));
        int[] fields = {
            "TRAILER!!!".equals(path) ? 0 : nextInode++, // ino
            mode, 0, 0,                                   // mode, uid, gid
            (mode & S_IFDIR) == S_IFDIR ? 2 : 1,          // nlink
            0,                                            // mtime: fixed, so kits are reproducible
            data.length, 0, 0, rdevMajor, rdevMinor,      // filesize, devmajor, devminor, rdev
            name.length + 1, 0                            // namesize with NUL, check
        };
        for (int f : fields) {
            header.writeBytes(String.format("%08x", f).getBytes(StandardCharsets.US_ASCII));
        }
        write(header.toByteArray());
        write(name);
        write(new byte[] {0});
        pad();
        write(data);
        pad();
    }

    private void write(byte[] b) throws IOException {
        out.write(b);
        written += b.length;
    }

    private void pad() throws IOException {
        while (written % 4 != 0) {
            out.write(0);
            written++;
        }
    }
}
