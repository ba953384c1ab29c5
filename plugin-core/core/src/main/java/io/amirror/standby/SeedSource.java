package io.amirror.standby;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.amirror.image.DiskImage;
import io.amirror.util.Exec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A copy of a disk offered as the start of a replica ({@code amirror seed adopt}), as qemu-img sees
 * it, checked before anything reads it whole.
 *
 * <p>Its content is the guest's, not the admin's: a qcow2 header can name a backing file (say
 * {@code /etc/shadow} or {@code /dev/sda}) or an external data file, and a raw disk whose guest
 * wrote such a header at its start looks like one to a format probe. Copied as qemu-img would open
 * it, that host file would go into the replica and its hashes to the primary. So a seed is a raw
 * or qcow2 image (a regular file or a block device) whose whole content is its own: no backing
 * file, no external data file, not encrypted, and no larger than the standby takes. The copy
 * then opens it with the probed (or given) format and protocol fixed and, for qcow2, backing
 * files switched off ({@link #descriptor()}), so it reads only this file.
 *
 * @param path        the source, symbolic links resolved (an LVM volume's {@code /dev/vg/lv} is one)
 * @param format      {@code raw} or {@code qcow2}
 * @param virtualSize the disk's size in bytes
 * @param blockDevice whether the source is a block device rather than a regular file
 */
public record SeedSource(Path path, String format, long virtualSize, boolean blockDevice) {
    /** The formats a seed may have. */
    public static final Set<String> FORMATS = Set.of("raw", "qcow2");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int S_IFMT = 0170000;
    private static final int S_IFBLK = 0060000;

    /**
     * Looks at {@code given} with {@code qemu-img info} (sharing it with a guest that may hold it)
     * and refuses what may not seed a replica, with the reason and what to do. {@code format} is
     * the format the admin names ({@code raw} or {@code qcow2}), or null to take what qemu-img
     * probes. Reads the image's header only and writes nothing.
     */
    public static SeedSource probe(Path given, String format, long maxDiskBytes, DiskImage.Tools tools) throws IOException {
        if (format != null && !FORMATS.contains(format)) {
            throw new IOException("a seed is a raw or qcow2 image, not '" + format + "'");
        }
        Path real;
        try {
            real = given.toAbsolutePath().toRealPath();
        } catch (NoSuchFileException e) {
            throw new IOException("no such image: " + given);
        }
        BasicFileAttributes attrs = Files.readAttributes(real, BasicFileAttributes.class);
        boolean block = !attrs.isRegularFile() && attrs.isOther() && isBlockDevice(real);
        if (!attrs.isRegularFile() && !block) {
            throw new IOException(given + " is neither a regular file nor a block device: give the disk image itself");
        }
        List<String> cmd = new ArrayList<>(List.of(tools.qemuImg().toString(), "info", "--output=json", "-U"));
        if (format != null) {
            cmd.addAll(List.of("-f", format));
        }
        cmd.add(real.toString()); // absolute: never read as a protocol ("nbd:...", "json:...")
        Exec.Result r = Exec.run(cmd, null, Map.of(), Duration.ofMinutes(1));
        if (!r.ok()) {
            throw new IOException("qemu-img cannot read " + given + (format == null ? "" : " as " + format) + ": "
                    + r.stderr().strip());
        }
        JsonNode info = JSON.readTree(r.stdout());
        String seen = info.path("format").asText("");
        if (!FORMATS.contains(seen) || (format != null && !format.equals(seen))) {
            throw new IOException(given + " is a " + (seen.isEmpty() ? "image of no known format" : seen + " image")
                    + ": a seed is raw or qcow2; convert it to one first (qemu-img convert -O qcow2)");
        }
        for (String backing : List.of("backing-filename", "full-backing-filename", "backing-filename-format")) {
            if (info.has(backing)) {
                throw new IOException(given + " has a backing file ('" + info.path("backing-filename")
                        .asText(info.path("full-backing-filename").asText("?")) + "'): a seed must hold the whole disk "
                        + "itself. If the chain is yours, flatten it first (qemu-img convert -O qcow2 " + given
                        + " FLAT.qcow2) and adopt that; if " + given + " is a raw disk, say so with --format raw");
            }
        }
        JsonNode specific = info.path("format-specific").path("data");
        if (seen.equals("qcow2")) {
            if (specific.has("data-file")) {
                throw new IOException(given + " keeps its data in an external file ('" + specific.path("data-file").asText()
                        + "'): a seed must hold the whole disk itself; flatten it first (qemu-img convert -O qcow2)");
            }
            if (info.path("encrypted").asBoolean(false) || specific.has("encrypt")) {
                throw new IOException(given + " is encrypted: decrypt it into a plain qcow2 first");
            }
            if (specific.path("corrupt").asBoolean(false)) {
                throw new IOException(given + " is marked corrupt: repair it first (qemu-img check -r all)");
            }
        }
        long size = info.path("virtual-size").asLong(-1);
        if (size <= 0) {
            throw new IOException(given + " has no size qemu-img can tell (" + info.path("virtual-size") + ")");
        }
        if (size > maxDiskBytes) {
            throw new IOException(given + " is a disk of " + size + " bytes, more than the " + maxDiskBytes
                    + " this standby takes (limits.maxDiskBytes in its configuration)");
        }
        return new SeedSource(real, seen, size, block);
    }

    private static boolean isBlockDevice(Path p) throws IOException {
        Object mode = Files.getAttribute(p, "unix:mode");
        return mode instanceof Integer m && (m & S_IFMT) == S_IFBLK;
    }

    /**
     * The source as {@code qemu-img convert} is to open it: a {@code json:} descriptor that fixes the
     * format, the protocol ({@code file} or {@code host_device}) and the path, and for qcow2 opens
     * no backing file, whatever the header says by then.
     */
    public String descriptor() {
        ObjectNode d = JSON.createObjectNode();
        d.put("driver", format);
        d.putObject("file").put("driver", blockDevice ? "host_device" : "file").put("filename", path.toString());
        if (format.equals("qcow2")) {
            d.putNull("backing");
        }
        return "json:" + d;
    }
}
