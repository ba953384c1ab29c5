package io.amirror.lab;

import io.amirror.util.Exec;
import io.amirror.util.FileTrees;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

/**
 * The files every lab guest boots from: the host's Debian kernel, a busybox initramfs whose
 * {@code /init} serves the console protocol (see {@code guest-init.sh}), and a read-only ext4 image
 * of test data that guests copy from to write realistic content.
 *
 * <p>A kit is built once per kernel and init script and reused: it lives in
 * {@code <workDir>/kit-<key>}, where the key hashes everything that goes into it, and is built in a
 * temporary directory that is renamed into place only when complete.
 */
public final class GuestKit {

    /** Modules the guest loads, in dependency order (busybox insmod does not resolve dependencies). */
    static final List<String> MODULES = List.of(
            "drivers/virtio/virtio_ring", "drivers/virtio/virtio", "drivers/virtio/virtio_pci_modern_dev",
            "drivers/virtio/virtio_pci_legacy_dev", "drivers/virtio/virtio_pci", "drivers/block/virtio_blk",
            "lib/crc16", "crypto/crc32c_generic", "fs/mbcache", "fs/jbd2/jbd2", "fs/ext4/ext4");

    /**
     * Drivers for disks off virtio (virtio-scsi, SATA's AHCI, IDE's PIIX), in dependency order: in the
     * initramfs but loaded only by {@link GuestConsole#loadDiskBuses()}, so guests that do not need
     * them boot as fast as before (probing an ATA controller costs seconds under TCG).
     */
    static final List<String> BUS_MODULES = List.of(
            "drivers/scsi/scsi_common", "drivers/scsi/scsi_mod", "crypto/crct10dif_common",
            "crypto/crct10dif_generic", "lib/crc-t10dif", "lib/crc64", "crypto/crc64_rocksoft_generic",
            "lib/crc64-rocksoft", "block/t10-pi", "drivers/scsi/sd_mod", "drivers/scsi/virtio_scsi",
            "drivers/ata/libata", "drivers/ata/libahci", "drivers/ata/ahci", "drivers/ata/ata_piix");

    /**
     * Host trees copied into the test-data disk, each up to its budget of bytes: text, compressed
     * documentation, scripts and shared libraries, a mix like an office file share.
     */
    static final Map<Path, Long> TEST_DATA_SOURCES = testDataSources();

    private static Map<Path, Long> testDataSources() {
        Map<Path, Long> m = new LinkedHashMap<>();
        m.put(Path.of("/usr/share/common-licenses"), 1L << 20);
        m.put(Path.of("/usr/share/doc"), 15L << 20);
        m.put(Path.of("/usr/share/perl5"), 8L << 20);
        m.put(Path.of("/usr/lib/x86_64-linux-gnu"), 24L << 20);
        return m;
    }

    /** Bump when the layout of a kit changes, so stale kits are rebuilt. */
    private static final String KIT_FORMAT = "5";

    private final Path dir;

    private GuestKit(Path dir) {
        this.dir = dir;
    }

    public Path kernel() {
        return dir.resolve("vmlinuz");
    }

    public Path initramfs() {
        return dir.resolve("initramfs.gz");
    }

    /** Read-only ext4 image (raw, label {@code testdata}) of host files, for guests to copy from. */
    public Path testData() {
        return dir.resolve("testdata.img");
    }

    public static GuestKit prepare(Path workDir, LabHost.Prepared host) {
        try {
            String init = initScript();
            String key = sha256(KIT_FORMAT + "\n" + host.kernel().release() + "\n" + init + "\n" + BUS_MODULES)
                    .substring(0, 16);
            Path dir = workDir.resolve("kit-" + key);
            if (Files.isRegularFile(dir.resolve("complete"))) {
                return new GuestKit(dir);
            }
            Files.createDirectories(workDir);
            Path tmp = Files.createTempDirectory(workDir, "kit-build-");
            try {
                Files.copy(host.kernel().image(), tmp.resolve("vmlinuz"));
                writeInitramfs(tmp.resolve("initramfs.gz"), init, host.kernel());
                writeTestData(tmp, host.tool("mkfs.ext4"));
                Files.writeString(tmp.resolve("complete"), host.kernel().release() + "\n");
                setReadable(tmp);
                try {
                    Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
                } catch (FileAlreadyExistsException | DirectoryNotEmptyException raced) {
                    // another process built the same kit first; theirs is as good as ours
                }
            } finally {
                FileTrees.delete(tmp);
            }
            return new GuestKit(dir);
        } catch (IOException e) {
            throw new LabUnavailableException("cannot build the guest kit under " + workDir + ": " + e.getMessage(), e);
        }
    }

    static String initScript() throws IOException {
        try (InputStream in = GuestKit.class.getResourceAsStream("guest-init.sh")) {
            if (in == null) {
                throw new IOException("guest-init.sh missing from the classpath");
            }
            String template = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            StringBuilder names = new StringBuilder();
            for (String m : MODULES) {
                names.append(names.isEmpty() ? "" : " ").append(m.substring(m.lastIndexOf('/') + 1));
            }
            return template.replace("@MODULES@", names);
        }
    }

    private static void writeInitramfs(Path target, String init, LabHost.Kernel kernel) throws IOException {
        try (OutputStream file = Files.newOutputStream(target); GZIPOutputStream gz = new GZIPOutputStream(file)) {
            CpioArchive cpio = new CpioArchive(gz);
            for (String d : List.of("bin", "sbin", "dev", "proc", "sys", "tmp", "mnt", "data", "lib", "lib/modules")) {
                cpio.directory(d, 0755);
            }
            cpio.charDevice("dev/console", 0600, 5, 1);
            cpio.file("bin/busybox", 0755, Files.readAllBytes(LabHost.STATIC_BUSYBOX));
            cpio.symlink("bin/sh", "busybox");
            cpio.file("init", 0755, init.getBytes(StandardCharsets.UTF_8));
            for (String m : java.util.stream.Stream.concat(MODULES.stream(), BUS_MODULES.stream()).toList()) {
                Path ko = kernel.modules().resolve(m + ".ko");
                if (!Files.isRegularFile(ko)) {
                    throw new LabUnavailableException("kernel " + kernel.release() + " lacks module " + ko
                            + "; the lab guest needs virtio_blk and ext4 as modules");
                }
                cpio.file("lib/modules/" + ko.getFileName(), 0644, Files.readAllBytes(ko));
            }
            cpio.finish();
        }
    }

    /**
     * Copies host files (documentation, licences, shared libraries: text and binaries, like an office
     * file share) into a directory and turns it into an ext4 image with {@code mkfs.ext4 -d}, which
     * needs neither root nor a loop mount.
     */
    private static void writeTestData(Path kitDir, Path mkfs) throws IOException {
        Path staging = kitDir.resolve("testdata");
        long used = 0;
        for (Map.Entry<Path, Long> e : TEST_DATA_SOURCES.entrySet()) {
            Path source = e.getKey();
            long[] budget = {e.getValue()};
            if (!Files.isDirectory(source)) {
                continue;
            }
            Path base = staging.resolve(source.getFileName().toString());
            List<Path> files;
            try (var walk = Files.walk(source)) {
                files = walk.filter(p -> Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)).sorted().toList();
            }
            for (Path f : files) {
                long size = Files.size(f);
                if (size == 0 || size > budget[0] || !Files.isReadable(f)) {
                    continue;
                }
                Path to = base.resolve(source.relativize(f).toString());
                Files.createDirectories(to.getParent());
                Files.copy(f, to);
                budget[0] -= size;
                used += size;
            }
        }
        long imageBytes = ((used + used / 2 + (16L << 20)) / (1 << 20) + 1) << 20;
        Path image = kitDir.resolve("testdata.img");
        Exec.run(List.of(mkfs.toString(), "-q", "-F", "-t", "ext4", "-L", "testdata", "-d", staging.toString(),
                image.toString(), (imageBytes >> 10) + "k"), null, Map.of(), Duration.ofMinutes(5)).orThrow();
        FileTrees.delete(staging);
    }

    private static void setReadable(Path dir) throws IOException {
        // QEMU runs as libvirt-qemu and must read the kernel, initramfs and test data.
        try (var s = Files.walk(dir)) {
            for (Path p : s.toList()) {
                p.toFile().setReadable(true, false);
                if (Files.isDirectory(p)) {
                    p.toFile().setExecutable(true, false);
                }
            }
        }
    }

    static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new UncheckedIOException(new IOException(e));
        }
    }
}
