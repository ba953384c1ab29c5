package io.amirror.lab;

import io.amirror.util.Exec;
import io.amirror.util.FileTrees;
import io.amirror.util.Pause;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The cached images of the lab's {@link DebianGuest}: {@code root.qcow2}, {@code data.qcow2} and
 * {@code nvram.fd} in {@code <workDir>/debian-<key>/}, where the key hashes the build script
 * ({@code debian-guest.sh}) and the domain layout, so a change to either builds a new image.
 *
 * <p>The build (about 5 minutes on two cores under TCG) runs once per key, under a file lock so two
 * test JVMs do not build it twice, in a {@code .build} directory renamed into place only when done:
 * the script debootstraps Debian 12 from {@link #MIRROR_PROPERTY} (default {@link #DEFAULT_MIRROR}),
 * installs the kernel, GRUB, the guest agent, PostgreSQL (with its {@code pgbench} database) and the
 * TPM tools, and writes the disks; then the lab boots the guest once from its fallback loader, and the
 * guest registers its {@code debian} boot entry in its NVRAM, removes the fallback and powers off.
 */
public final class DebianImage {
    private static final Logger log = LoggerFactory.getLogger(DebianImage.class);
    public static final String MIRROR_PROPERTY = "amirror.lab.debianMirror";
    public static final String DEFAULT_MIRROR = "http://deb.debian.org/debian";
    static final String SCRIPT = "debian-guest.sh";
    /** Bump when the guest's domain layout changes in a way its first boot depends on. */
    private static final String LAYOUT = "1";
    private static final Duration SCRIPT_LIMIT = Duration.ofMinutes(30);
    private static final Duration FIRST_BOOT_LIMIT = Duration.ofMinutes(15);

    private final Path dir;

    private DebianImage(Path dir) {
        this.dir = dir;
    }

    public Path root() {
        return dir.resolve("root.qcow2");
    }

    public Path data() {
        return dir.resolve("data.qcow2");
    }

    public Path nvram() {
        return dir.resolve("nvram.fd");
    }

    /** The cached image, built first if this key has none. */
    public static synchronized DebianImage prepare(Lab lab) {
        Path work = lab.options().workDir();
        byte[] script = script();
        String key = key(script);
        Path dir = work.resolve("debian-" + key);
        if (Files.isRegularFile(dir.resolve("ready"))) {
            return new DebianImage(dir);
        }
        try {
            Files.createDirectories(work);
            try (FileChannel ch = FileChannel.open(work.resolve("debian.lock"), StandardOpenOption.CREATE,
                    StandardOpenOption.WRITE); FileLock ignored = ch.lock()) {
                if (!Files.isRegularFile(dir.resolve("ready"))) {
                    build(lab, script, dir);
                }
            }
        } catch (IOException e) {
            throw new GuestException("cannot build the Debian guest image in " + dir + ": " + e.getMessage(), e);
        }
        sweepOthers(work, dir);
        return new DebianImage(dir);
    }

    private static void build(Lab lab, byte[] script, Path dir) throws IOException {
        Path out = dir.resolveSibling(dir.getFileName() + ".build");
        FileTrees.delete(out);
        Files.createDirectories(out);
        out.toFile().setExecutable(true, false);
        Path file = out.resolve(SCRIPT);
        Files.write(file, script);
        String mirror = System.getProperty(MIRROR_PROPERTY, DEFAULT_MIRROR);
        long t0 = System.nanoTime();
        log.info("building the Debian guest image in {} from {} (once per build script)", out, mirror);
        Exec.Result r = Exec.run(List.of("/bin/bash", file.toString(), out.toString(), mirror,
                DebianGuest.OVMF_VARS.toString()), null, Map.of("PATH", lab.options().searchPath()), SCRIPT_LIMIT);
        if (!r.ok()) {
            throw new GuestException("the Debian guest build failed (exit " + r.exitCode() + "): " + r.stdout()
                    + r.stderr());
        }
        long disks = System.nanoTime();
        firstBoot(lab, out);
        Files.writeString(out.resolve("ready"), "built in " + (System.nanoTime() - t0) / 1_000_000_000 + " s\n");
        log.info("Debian guest image ready: disks in {} s, first boot in {} s", (disks - t0) / 1_000_000_000,
                (System.nanoTime() - disks) / 1_000_000_000);
        Files.move(out, dir);
    }

    /** Boots the fresh images once; the guest's first-boot service powers it off when it is done. */
    private static void firstBoot(Lab lab, Path out) throws IOException {
        String name = lab.newDomainName();
        Path serial = out.resolve("first-boot.log");
        String xml = DebianGuest.render(name, lab.host().tool("qemu-system-x86_64"), out.resolve("root.qcow2"),
                out.resolve("data.qcow2"), out.resolve("nvram.fd"), serial, false);
        for (String f : List.of("root.qcow2", "data.qcow2", "nvram.fd")) {
            Files.setPosixFilePermissions(out.resolve(f), java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        }
        try {
            Domain d = lab.libvirt().domainDefineXML(xml);
            try {
                d.create();
                long deadline = System.nanoTime() + FIRST_BOOT_LIMIT.toNanos();
                while (d.isActive() == 1) {
                    if (System.nanoTime() > deadline) {
                        d.destroy();
                        throw new GuestException("the Debian guest's first boot did not end within "
                                + FIRST_BOOT_LIMIT.toMinutes() + " minutes; its console ends with:\n" + tail(serial, 40));
                    }
                    Pause.millis(1000);
                }
            } finally {
                d.undefine(LabDomain.UNDEFINE_ALL_METADATA);
            }
        } catch (LibvirtException e) {
            throw new GuestException("the Debian guest's first boot failed: " + e.getMessage(), e);
        }
        String console = Files.readString(serial, StandardCharsets.ISO_8859_1);
        if (!console.contains("lab-first-boot: done")) {
            throw new GuestException("the Debian guest's first boot stopped before it was done; its console ends with:\n"
                    + tail(serial, 40));
        }
    }

    /** The last {@code lines} lines of a log file, or a note that it is missing. */
    static String tail(Path file, int lines) {
        try {
            List<String> all = List.of(Files.readString(file, StandardCharsets.ISO_8859_1).split("\r?\n"));
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(no " + file + ": " + e.getMessage() + ")";
        }
    }

    private static byte[] script() {
        try (InputStream in = DebianImage.class.getResourceAsStream(SCRIPT)) {
            if (in == null) {
                throw new IllegalStateException("resource " + SCRIPT + " is missing from the lab");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String key(byte[] script) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(script);
            md.update(LAYOUT.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(md.digest()).substring(0, 12);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Removes images and unfinished builds of other keys (older scripts); they are a few GB each. */
    private static void sweepOthers(Path work, Path current) {
        try (Stream<Path> s = Files.list(work)) {
            for (Path p : s.toList()) {
                String f = p.getFileName().toString();
                if (f.startsWith("debian-") && !p.equals(current) && Files.isDirectory(p)
                        && Files.getLastModifiedTime(p).toMillis() < System.currentTimeMillis() - 3_600_000L) {
                    FileTrees.delete(p);
                }
            }
        } catch (IOException e) {
            log.warn("could not sweep old Debian images in {}: {}", work, e.getMessage());
        }
    }
}
