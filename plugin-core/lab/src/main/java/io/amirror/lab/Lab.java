package io.amirror.lab;

import io.amirror.libvirt.LibvirtSession;
import io.amirror.util.Exec;
import io.amirror.util.FileTrees;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * The real-VM lab: libvirtd, QEMU under TCG, and small Linux guests driven through their serial
 * console. Tests, {@code amirror demo} and the benchmarks all start here.
 *
 * <pre>{@code
 * try (Lab lab = Lab.open(LabOptions.defaults());
 *      LabDomain vm = lab.createDomain(DomainSpec.oneDisk(64 << 20, DiskSpec.Content.BLANK)).start()) {
 *     vm.console().check("echo hello > /dev/vda; sync");
 * }
 * }</pre>
 *
 * <p>Domains are named {@code amirror-lab-<pid>-<n>} and live in {@code <workDir>/dom-<name>}. On
 * open, the lab removes the domains and directories of earlier lab processes that are no longer
 * alive, so a killed test run leaves nothing behind for long; a JVM shutdown hook closes this
 * process's domains on Ctrl-C.
 */
public final class Lab implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Lab.class);
    static final String NAME_PREFIX = "amirror-lab-";

    private final LabOptions options;
    private final LabHost.Prepared host;
    private final GuestKit kit;
    private volatile Connect libvirt;
    private final QemuImg qemuImg;
    private final Set<LabDomain> domains = ConcurrentHashMap.newKeySet();
    private final AtomicInteger counter = new AtomicInteger();
    private final Thread shutdownHook;

    private Lab(LabOptions options, LabHost.Prepared host, GuestKit kit, Connect libvirt) {
        this.options = options;
        this.host = host;
        this.kit = kit;
        this.libvirt = libvirt;
        this.qemuImg = new QemuImg(host.tool("qemu-img"));
        this.shutdownHook = new Thread(this::closeDomains, "lab-cleanup");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /** Prepares the host (installing and starting what is missing), builds the kit, connects to libvirt. */
    public static Lab open(LabOptions options) {
        LabHost.Prepared host = LabHost.prepare(options);
        GuestKit kit = GuestKit.prepare(options.workDir(), host);
        Connect conn;
        try {
            LibvirtSession.quiet();
            conn = new Connect(options.libvirtUri());
        } catch (LibvirtException e) {
            throw new LabUnavailableException("cannot connect to libvirt at " + options.libvirtUri() + ": "
                    + e.getMessage(), e);
        }
        sweepStale(conn, options.workDir(), kit);
        return new Lab(options, host, kit, conn);
    }

    public LabOptions options() {
        return options;
    }

    public LabHost.Prepared host() {
        return host;
    }

    public GuestKit kit() {
        return kit;
    }

    public QemuImg qemuImg() {
        return qemuImg;
    }

    /** The lab's libvirt connection (shared; do not close it). */
    public Connect libvirt() {
        return libvirt;
    }

    /** A name for a new lab domain: {@code amirror-lab-<pid>-<n>}, swept once this process is gone. */
    String newDomainName() {
        return NAME_PREFIX + ProcessHandle.current().pid() + "-" + counter.incrementAndGet();
    }

    /** The directory of lab domain {@code name}, deleted with it (and swept once its process is gone). */
    Path domainDirectory(String name) {
        return options.workDir().resolve("dom-" + name);
    }

    /**
     * Defines {@code xml} as lab domain {@code name}, whose files are already in {@link #domainDirectory};
     * {@code spec} is null for a guest that is not the lab's initramfs guest.
     */
    LabDomain define(String name, String xml, DomainSpec spec, Map<String, Path> images) throws LibvirtException {
        libvirt.domainDefineXML(xml);
        LabDomain ld = new LabDomain(this, name, spec, domainDirectory(name), images);
        domains.add(ld);
        return ld;
    }

    /** Creates the disks and defines a new domain; it is not started. */
    public LabDomain createDomain(DomainSpec spec) {
        String name = newDomainName();
        Path dir = domainDirectory(name);
        try {
            Files.createDirectories(dir);
            dir.toFile().setExecutable(true, false);
            Map<String, Path> images = new LinkedHashMap<>();
            for (DiskSpec d : spec.disks()) {
                if (d.blockDevice() != null) { // the test's own device: used as it is, never deleted here
                    images.put(d.target(), d.blockDevice());
                    continue;
                }
                Path image = dir.resolve(d.target() + "." + d.format());
                createImage(d, image);
                images.put(d.target(), image);
            }
            String xml = DomainXml.render(name, spec, host.tool("qemu-system-x86_64"), images,
                    dir.resolve("console.sock"), kit.kernel(), kit.initramfs(), kit.testData());
            return define(name, xml, spec, images);
        } catch (IOException | LibvirtException e) {
            try {
                FileTrees.delete(dir);
            } catch (IOException ignored) {
                // swept on the next open
            }
            throw new GuestException("cannot define lab domain " + name + ": " + e.getMessage(), e);
        }
    }

    private void createImage(DiskSpec d, Path image) throws IOException {
        if (d.content() == DiskSpec.Content.BLANK) {
            if (d.format().equals("qcow2")) {
                qemuImg.createQcow2(image, d.sizeBytes());
            } else {
                qemuImg.create(image, d.format(), d.sizeBytes());
            }
            return;
        }
        // EXT4: format a sparse raw file on the host, with inode tables and journal written now, so
        // the guest kernel's lazy init does not dirty blocks in the background later.
        Path raw = image.resolveSibling(d.target() + ".mkfs.raw");
        qemuImg.createRaw(raw, d.sizeBytes());
        Exec.run(List.of(host.tool("mkfs.ext4").toString(), "-q", "-F", "-t", "ext4",
                "-E", "lazy_itable_init=0,lazy_journal_init=0,nodiscard", raw.toString()), null, Map.of(),
                Duration.ofMinutes(2)).orThrow();
        if (d.format().equals("raw")) {
            Files.move(raw, image);
        } else {
            qemuImg.convert(raw, "raw", image, "qcow2");
            Files.delete(raw);
        }
    }

    /**
     * Stops libvirtd and starts it again (domains keep running: QEMU does not depend on it), then
     * reconnects. For tests of what survives a libvirtd restart.
     */
    public void restartLibvirtd() {
        try {
            libvirt.close();
        } catch (LibvirtException ignored) {
            // reconnecting anyway
        }
        LabHost.restartLibvirtd(host);
        try {
            libvirt = new Connect(options.libvirtUri());
        } catch (LibvirtException e) {
            throw new LabUnavailableException("cannot reconnect to libvirt after a restart: " + e.getMessage(), e);
        }
    }

    void forget(LabDomain d) {
        domains.remove(d);
    }

    private void closeDomains() {
        for (LabDomain d : new ArrayList<>(domains)) {
            try {
                d.close();
            } catch (RuntimeException e) {
                log.warn("could not remove lab domain {}: {}", d.name(), e.getMessage());
            }
        }
    }

    @Override
    public void close() {
        closeDomains();
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException alreadyShuttingDown) {
            // the hook is running or has run
        }
        try {
            libvirt.close();
        } catch (LibvirtException ignored) {
            // the connection is gone either way
        }
    }

    /** Removes domains and directories left by lab processes that no longer run, and outdated kits. */
    private static void sweepStale(Connect conn, Path workDir, GuestKit current) {
        try {
            for (Domain d : conn.listAllDomains(0)) {
                String name = d.getName();
                if (name.startsWith(NAME_PREFIX) && !ownerAlive(name)) {
                    log.info("removing stale lab domain {}", name);
                    try {
                        if (d.isActive() == 1) {
                            d.destroy();
                        }
                        d.undefine(LabDomain.UNDEFINE_ALL_METADATA);
                    } catch (LibvirtException e) {
                        log.warn("could not remove stale lab domain {}: {}", name, e.getMessage());
                    }
                }
            }
        } catch (LibvirtException e) {
            log.warn("could not list domains to sweep stale lab domains: {}", e.getMessage());
        }
        if (!Files.isDirectory(workDir)) {
            return;
        }
        try (Stream<Path> s = Files.list(workDir)) {
            for (Path p : s.toList()) {
                String f = p.getFileName().toString();
                boolean staleDomainDir = f.startsWith("dom-" + NAME_PREFIX) && !ownerAlive(f.substring(4));
                // kits of other kernels or init scripts; a build in progress is younger than an hour
                boolean oldKit = f.startsWith("kit-") && !p.equals(current.kernel().getParent())
                        && Files.getLastModifiedTime(p).toMillis() < System.currentTimeMillis() - 3_600_000L;
                if (staleDomainDir || oldKit) {
                    FileTrees.delete(p);
                }
            }
        } catch (IOException e) {
            log.warn("could not sweep {}: {}", workDir, e.getMessage());
        }
    }

    /** Whether the process whose pid is embedded in lab domain name {@code amirror-lab-<pid>-<n>} runs. */
    static boolean ownerAlive(String domainName) {
        String rest = domainName.substring(NAME_PREFIX.length());
        int dash = rest.indexOf('-');
        try {
            long pid = Long.parseLong(dash < 0 ? rest : rest.substring(0, dash));
            return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
        } catch (NumberFormatException e) {
            return false;
        }
    }
}
