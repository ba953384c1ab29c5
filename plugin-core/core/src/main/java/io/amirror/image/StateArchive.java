package io.amirror.image;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A small directory tree (an emulated TPM's state: a few files of some KiB) as the bytes of a
 * fixed-size image, so it can travel and be kept like a disk ({@link DeviceState#TPM}).
 *
 * <p>Layout, all integers big-endian: magic {@code AMSTATE1} (8 bytes), u32 entry count, then per
 * regular file: u16 path length, the relative path (UTF-8, components separated by {@code /}), u64
 * size, the bytes; then zeros up to the image size, a multiple of {@link #UNIT} (at least one
 * unit), so the size changes only when the tree outgrows it and a rewrite of one file changes the
 * blocks around it, not the whole image. Directories are implied by the paths; modes are not kept
 * (the writer gives 0700 and 0600, the modes swtpm itself uses).
 *
 * <p>{@link #decode} takes bytes from a primary, which may be hostile: a path with an empty,
 * {@code .} or {@code ..} component, a character outside {@code [A-Za-z0-9._+-]}, more than
 * {@link #MAX_ENTRIES} entries or sizes beyond the image are refused with the reason.
 */
public final class StateArchive {
    /** The image grows in steps of 1 MiB. */
    public static final int UNIT = 1 << 20;
    static final int MAX_ENTRIES = 256;
    static final int MAX_DEPTH = 4;
    private static final byte[] MAGIC = "AMSTATE1".getBytes(StandardCharsets.US_ASCII);
    private static final Pattern COMPONENT = Pattern.compile("[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,127}");

    /** One regular file of the tree. */
    public record Entry(String path, byte[] data) {
        public Entry {
            checkPath(path);
        }
    }

    private StateArchive() {
    }

    /** The image of {@code entries}, padded to a multiple of {@link #UNIT}. */
    public static byte[] encode(List<Entry> entries) {
        if (entries.size() > MAX_ENTRIES) {
            throw new IllegalArgumentException(entries.size() + " files: at most " + MAX_ENTRIES + " travel as device state");
        }
        long length = MAGIC.length + 4L;
        for (Entry e : entries) {
            length += 2 + e.path().getBytes(StandardCharsets.UTF_8).length + 8 + e.data().length;
        }
        long size = Math.max(UNIT, (length + UNIT - 1) / UNIT * UNIT);
        if (size > 64L * UNIT) {
            throw new IllegalArgumentException("device state of " + length + " bytes is beyond the 64 MiB it may have");
        }
        ByteBuffer b = ByteBuffer.allocate((int) size);
        b.put(MAGIC).putInt(entries.size());
        for (Entry e : entries) {
            byte[] p = e.path().getBytes(StandardCharsets.UTF_8);
            b.putShort((short) p.length).put(p).putLong(e.data().length).put(e.data());
        }
        return b.array();
    }

    /** The files of an image made by {@link #encode}; refuses anything else. */
    public static List<Entry> decode(byte[] image) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(image);
        byte[] magic = new byte[MAGIC.length];
        if (image.length >= MAGIC.length + 4) {
            b.get(magic);
        }
        if (!java.util.Arrays.equals(magic, MAGIC)) {
            throw new IOException("not a device state image (no " + new String(MAGIC, StandardCharsets.US_ASCII) + " header)");
        }
        int count = b.getInt();
        if (count < 0 || count > MAX_ENTRIES) {
            throw new IOException("device state image claims " + Integer.toUnsignedString(count) + " files; at most "
                    + MAX_ENTRIES);
        }
        List<Entry> out = new ArrayList<>();
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (int i = 0; i < count; i++) {
            if (b.remaining() < 2) {
                throw new IOException("device state image ends inside entry " + i);
            }
            int pathLength = Short.toUnsignedInt(b.getShort());
            if (pathLength == 0 || pathLength > 1024 || b.remaining() < pathLength + 8) {
                throw new IOException("device state entry " + i + " has a path of " + pathLength + " bytes beyond the image");
            }
            byte[] p = new byte[pathLength];
            b.get(p);
            String path = new String(p, StandardCharsets.UTF_8);
            long size = b.getLong();
            if (size < 0 || size > b.remaining()) {
                throw new IOException("device state entry " + i + " claims " + size + " bytes; " + b.remaining() + " remain");
            }
            byte[] data = new byte[(int) size];
            b.get(data);
            try {
                out.add(new Entry(path, data));
            } catch (IllegalArgumentException e) {
                throw new IOException("device state entry " + i + ": " + e.getMessage());
            }
            if (!seen.add(path)) {
                throw new IOException("device state names " + path + " twice");
            }
        }
        for (String a : seen) { // a file cannot also be a directory of another
            if (seen.stream().anyMatch(o -> o.startsWith(a + "/"))) {
                throw new IOException("device state names " + a + " both as a file and as a directory");
            }
        }
        return out;
    }

    private static void checkPath(String path) {
        String[] parts = path.split("/", -1);
        if (parts.length > MAX_DEPTH) {
            throw new IllegalArgumentException("path '" + clip(path) + "' is deeper than " + MAX_DEPTH + " levels");
        }
        for (String c : parts) {
            if (!COMPONENT.matcher(c).matches() || c.equals(".") || c.equals("..")) {
                throw new IllegalArgumentException("path '" + clip(path) + "' is not a plain relative path");
            }
        }
    }

    private static String clip(String s) {
        String t = s.replaceAll("[^\\x20-\\x7e]", "?");
        return t.length() > 80 ? t.substring(0, 80) + "…" : t;
    }

    /**
     * The regular files under {@code dir}, by relative path in sorted order; symbolic links, other
     * special files and hidden files are left out (swtpm's {@code .lock} is its process's, not state).
     */
    public static List<Entry> readTree(Path dir) throws IOException {
        List<Entry> out = new ArrayList<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.comparing(Path::toString)).toList()) {
                Path rel = dir.relativize(p);
                boolean hidden = false;
                for (Path c : rel) {
                    hidden |= c.toString().startsWith(".");
                }
                if (!hidden && Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    out.add(new Entry(dir.relativize(p).toString(), Files.readAllBytes(p)));
                }
            }
        }
        return out;
    }

    /**
     * Makes {@code dir} hold exactly {@code entries}: the new tree is written beside it ({@code dir}
     * itself with {@code topMode}, directories below 0700, files 0600, each file synced), then takes
     * its place by renames, so a crash leaves either the old tree or the new one under the name, and
     * a leftover beside it that the next write removes. {@code dir}'s parent must exist.
     *
     * @param topMode e.g. {@code rwx--x--x}: swtpm runs as its own user and passes through the
     *                domain's directory (libvirt gives the directories below it to that user at start)
     */
    public static void writeTree(List<Entry> entries, Path dir, String topMode) throws IOException {
        Path parent = dir.toAbsolutePath().getParent();
        Path fresh = parent.resolve("." + dir.getFileName() + ".amirror-new");
        Path old = parent.resolve("." + dir.getFileName() + ".amirror-old");
        deleteTree(fresh);
        deleteTree(old);
        Files.createDirectory(fresh);
        Files.setPosixFilePermissions(fresh, PosixFilePermissions.fromString(topMode)); // not through the umask
        for (Entry e : entries) {
            Path f = fresh.resolve(e.path());
            Path d = fresh;
            for (Path part : fresh.relativize(f.getParent() == null ? fresh : f.getParent())) {
                d = d.resolve(part);
                if (!part.toString().isEmpty() && !Files.isDirectory(d, LinkOption.NOFOLLOW_LINKS)) {
                    createPrivateDirectory(d);
                }
            }
            Files.createFile(f, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            try (var ch = java.nio.channels.FileChannel.open(f, StandardOpenOption.WRITE)) {
                ByteBuffer b = ByteBuffer.wrap(e.data());
                while (b.hasRemaining()) {
                    ch.write(b);
                }
                ch.force(true);
            }
        }
        if (Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
        }
        Files.move(fresh, dir, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(old);
    }

    private static void createPrivateDirectory(Path d) throws IOException {
        Files.createDirectory(d, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    }

    /** Deletes a tree this class wrote (a leftover beside the state directory), following no link. */
    private static void deleteTree(Path d) throws IOException {
        if (!Files.exists(d, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        io.amirror.util.FileTrees.delete(d);
    }
}
