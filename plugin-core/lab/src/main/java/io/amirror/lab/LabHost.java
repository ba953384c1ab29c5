package io.amirror.lab;

import io.amirror.util.Exec;
import io.amirror.util.Pause;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Makes this machine able to run lab guests: the host tools are present, virtlogd and libvirtd run,
 * and a kernel with virtio and ext4 modules is installed.
 *
 * <p>Algorithm: check every requirement; install the Debian packages of those that are missing
 * (once, only as root and only when {@link LabOptions#installMissing()}); check again; start the
 * daemons that are not answering. Anything still missing ends in a {@link LabUnavailableException}
 * naming the missing part and the package, never in a hang: every external step has a deadline.
 */
public final class LabHost {

    private static final Logger log = LoggerFactory.getLogger(LabHost.class);

    /** One host tool the lab needs, and the Debian package that provides it. */
    record Tool(String name, String debianPackage) {
    }

    static final List<Tool> TOOLS = List.of(
            new Tool("qemu-system-x86_64", "qemu-system-x86"),
            new Tool("qemu-img", "qemu-utils"),
            new Tool("qemu-nbd", "qemu-utils"),
            new Tool("libvirtd", "libvirt-daemon-system"),
            new Tool("virtlogd", "libvirt-daemon-system"),
            new Tool("virsh", "libvirt-clients"),
            new Tool("mkfs.ext4", "e2fsprogs"),
            new Tool("nbdinfo", "libnbd-bin"),
            // the Debian guest's build (DebianImage)
            new Tool("debootstrap", "debootstrap"),
            new Tool("mkfs.vfat", "dosfstools"),
            new Tool("mcopy", "mtools"),
            new Tool("sfdisk", "fdisk"));

    /** Packages with no single tool to look for: the driver, the kernel, a static busybox, UEFI firmware. */
    static final List<String> ALWAYS_NEEDED_PACKAGES = List.of(
            "libvirt-daemon-driver-qemu", "linux-image-amd64", "busybox-static", "ovmf", "swtpm", "swtpm-tools");

    static final Path LIBVIRT_SOCKET = Path.of("/var/run/libvirt/libvirt-sock");
    static final Path VIRTLOGD_SOCKET = Path.of("/var/run/libvirt/virtlogd-sock");
    static final Path STATIC_BUSYBOX = Path.of("/bin/busybox");
    static final Path KVM_DEVICE = Path.of("/dev/kvm");

    private final LabOptions options;

    private LabHost(LabOptions options) {
        this.options = options;
    }

    /** The tools found, by name, once {@link #prepare} has succeeded. */
    public record Prepared(Map<String, Path> tools, Kernel kernel) {
        public Path tool(String name) {
            Path p = tools.get(name);
            if (p == null) {
                throw new IllegalArgumentException("not a lab tool: " + name);
            }
            return p;
        }
    }

    /** A kernel image with the matching module tree. */
    public record Kernel(String release, Path image, Path modules) {
    }

    public static Prepared prepare(LabOptions options) {
        return new LabHost(options).prepare();
    }

    private Prepared prepare() {
        Set<String> missingPackages = missingPackages();
        if (!missingPackages.isEmpty()) {
            if (!options.installMissing()) {
                throw new LabUnavailableException("the lab needs Debian packages that are not installed: "
                        + String.join(" ", missingPackages) + " (install them with: apt-get install "
                        + String.join(" ", missingPackages) + ")");
            }
            install(missingPackages);
            Set<String> still = missingPackages();
            if (!still.isEmpty()) {
                throw new LabUnavailableException("installing " + String.join(" ", missingPackages)
                        + " did not provide " + describeMissing() + "; the lab cannot run");
            }
        }
        Map<String, Path> tools = new LinkedHashMap<>();
        for (Tool t : TOOLS) {
            tools.put(t.name(), Exec.which(t.name(), options.searchPath()));
        }
        Kernel kernel = findKernel();
        giveKvmToItsGroup();
        startDaemons(tools);
        return new Prepared(Map.copyOf(tools), kernel);
    }

    private Set<String> missingPackages() {
        Set<String> missing = new LinkedHashSet<>();
        for (Tool t : TOOLS) {
            if (Exec.which(t.name(), options.searchPath()) == null) {
                missing.add(t.debianPackage());
            }
        }
        for (String pkg : ALWAYS_NEEDED_PACKAGES) {
            if (!debianPackageInstalled(pkg)) {
                missing.add(pkg);
            }
        }
        return missing;
    }

    private String describeMissing() {
        List<String> parts = new ArrayList<>();
        for (Tool t : TOOLS) {
            if (Exec.which(t.name(), options.searchPath()) == null) {
                parts.add(t.name() + " (package " + t.debianPackage() + ") not found on " + options.searchPath());
            }
        }
        for (String pkg : ALWAYS_NEEDED_PACKAGES) {
            if (!debianPackageInstalled(pkg)) {
                parts.add("package " + pkg);
            }
        }
        return String.join(", ", parts);
    }

    private boolean debianPackageInstalled(String pkg) {
        Path dpkgQuery = Exec.which("dpkg-query", options.searchPath());
        if (dpkgQuery == null) {
            return false;
        }
        Exec.Result r = Exec.run(Duration.ofSeconds(30), dpkgQuery.toString(), "-W", "-f=${Status}", pkg);
        return r.ok() && r.stdout().contains("install ok installed");
    }

    private void install(Set<String> packages) {
        if (!isRoot()) {
            throw new LabUnavailableException("missing Debian packages " + String.join(" ", packages)
                    + " and not running as root, so they cannot be installed here; run as root or: sudo apt-get install "
                    + String.join(" ", packages));
        }
        Path aptGet = Exec.which("apt-get", options.searchPath());
        if (aptGet == null) {
            throw new LabUnavailableException("missing " + describeMissing() + ", and apt-get is not on "
                    + options.searchPath() + " to install it");
        }
        Map<String, String> env = Map.of("DEBIAN_FRONTEND", "noninteractive");
        Duration limit = Duration.ofMinutes(15);
        Exec.Result update = Exec.run(List.of(aptGet.toString(), "-q", "update"), null, env, limit);
        List<String> cmd = new ArrayList<>(List.of(aptGet.toString(), "install", "-y", "-q", "--no-install-recommends"));
        cmd.addAll(packages);
        Exec.Result r = Exec.run(cmd, null, env, limit);
        if (!r.ok()) {
            throw new LabUnavailableException("apt-get install " + String.join(" ", packages) + " failed (exit "
                    + r.exitCode() + "): " + tail(r.stderr().isBlank() ? update.stderr() : r.stderr()));
        }
    }

    private Kernel findKernel() {
        Path boot = Path.of("/boot");
        List<Path> images;
        try (Stream<Path> s = Files.list(boot)) {
            images = s.filter(p -> p.getFileName().toString().startsWith("vmlinuz-"))
                    .sorted(Comparator.reverseOrder()).toList();
        } catch (IOException e) {
            throw new LabUnavailableException("cannot list /boot for a guest kernel: " + e.getMessage(), e);
        }
        for (Path image : images) {
            String release = image.getFileName().toString().substring("vmlinuz-".length());
            Path modules = Path.of("/lib/modules", release, "kernel");
            if (Files.isRegularFile(modules.resolve("drivers/block/virtio_blk.ko"))) {
                return new Kernel(release, image, modules);
            }
        }
        throw new LabUnavailableException("no kernel in /boot with uncompressed virtio_blk.ko modules under "
                + "/lib/modules; install one with: apt-get install linux-image-amd64");
    }

    /**
     * Does what udev's rule for {@code /dev/kvm} ({@code GROUP="kvm", MODE="0660"}) does on a booted host,
     * where no udev runs (a container whose device node came with a foreign group id). Without it QEMU,
     * running as {@code libvirt-qemu} in group {@code kvm}, cannot open the device while libvirtd, as root,
     * can: libvirtd then finds its cached QEMU capabilities stale on every call and probes QEMU again,
     * and each define or start takes 30-100 s instead of well under one.
     */
    private static void giveKvmToItsGroup() {
        if (!isRoot() || !Files.exists(KVM_DEVICE)) {
            return;
        }
        try {
            GroupPrincipal kvm = KVM_DEVICE.getFileSystem().getUserPrincipalLookupService()
                    .lookupPrincipalByGroupName("kvm");
            PosixFileAttributeView view = Files.getFileAttributeView(KVM_DEVICE, PosixFileAttributeView.class);
            if (!view.readAttributes().group().equals(kvm)) {
                view.setGroup(kvm);
                Files.setPosixFilePermissions(KVM_DEVICE, PosixFilePermissions.fromString("rw-rw----"));
                log.info("{} now belongs to group kvm (mode 0660), as udev would set it", KVM_DEVICE);
            }
        } catch (UserPrincipalNotFoundException e) {
            // no kvm group: libvirt's packages were not installed with it; nothing to match
        } catch (IOException e) {
            throw new LabUnavailableException("cannot give " + KVM_DEVICE + " to group kvm: " + e.getMessage(), e);
        }
    }

    private void startDaemons(Map<String, Path> tools) {
        if (socketAnswers(LIBVIRT_SOCKET)) {
            return;
        }
        if (!isRoot()) {
            throw new LabUnavailableException("libvirtd is not answering on " + LIBVIRT_SOCKET
                    + " and only root can start it; start it with: virtlogd -d && libvirtd -d");
        }
        if (Files.isDirectory(Path.of("/run/systemd/system"))) {
            Exec.run(Duration.ofSeconds(60), "systemctl", "start", "virtlogd.socket", "libvirtd.service");
        } else {
            if (!socketAnswers(VIRTLOGD_SOCKET)) {
                Exec.run(Duration.ofSeconds(30), tools.get("virtlogd").toString(), "-d").orThrow();
            }
            Exec.run(Duration.ofSeconds(30), tools.get("libvirtd").toString(), "-d").orThrow();
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (System.nanoTime() < deadline) {
            if (socketAnswers(LIBVIRT_SOCKET)) {
                return;
            }
            Pause.millis(200);
        }
        throw new LabUnavailableException("started libvirtd, but it did not answer on " + LIBVIRT_SOCKET
                + " within 30 s; see its log with: journalctl -u libvirtd, or run libvirtd in the foreground");
    }

    /** Stops the running libvirtd and starts a new one; waits until it answers. */
    static void restartLibvirtd(Prepared host) {
        if (Files.isDirectory(Path.of("/run/systemd/system"))) {
            Exec.run(Duration.ofSeconds(60), "systemctl", "restart", "libvirtd.service").orThrow();
        } else {
            Exec.run(Duration.ofSeconds(30), "pkill", "-TERM", "-x", "libvirtd");
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (System.nanoTime() < deadline && Exec.run(Duration.ofSeconds(10), "pgrep", "-x", "libvirtd").ok()) {
                Pause.millis(100);
            }
        }
        new LabHost(null).startDaemons(host.tools());
    }

    static boolean socketAnswers(Path socket) {
        if (!Files.exists(socket)) {
            return false;
        }
        try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            return ch.isConnected();
        } catch (IOException e) {
            return false;
        }
    }

    static boolean isRoot() {
        return "root".equals(System.getProperty("user.name"));
    }

    private static String tail(String s) {
        String[] lines = s.strip().split("\n");
        return lines[lines.length - 1];
    }
}
