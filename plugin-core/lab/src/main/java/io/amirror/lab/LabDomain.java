package io.amirror.lab;

import io.amirror.util.Exec;
import io.amirror.util.FileTrees;
import io.amirror.util.Pause;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * A throwaway libvirt domain of the lab: defined (persistent) with its own directory for disks and
 * the console socket. {@link #close()} stops it, undefines it with all its metadata and deletes the
 * directory; the {@link Lab} closes any domain a test forgot.
 */
public final class LabDomain implements AutoCloseable {

    /** libvirt's VIR_DOMAIN_UNDEFINE_* flags; libvirt-java has no constants for some of them. */
    static final int UNDEFINE_MANAGED_SAVE = 0x1;
    static final int UNDEFINE_SNAPSHOTS_METADATA = 0x2;
    static final int UNDEFINE_CHECKPOINTS_METADATA = 0x10;
    /** A domain with an NVRAM file cannot be undefined without a word on it; the file goes with the directory. */
    static final int UNDEFINE_KEEP_NVRAM = 0x8;
    static final int UNDEFINE_ALL_METADATA = UNDEFINE_MANAGED_SAVE | UNDEFINE_SNAPSHOTS_METADATA
            | UNDEFINE_CHECKPOINTS_METADATA | UNDEFINE_KEEP_NVRAM;

    private final Lab lab;
    private final String name;
    private final DomainSpec spec;
    private final Path dir;
    private final Map<String, Path> images;
    private GuestConsole console;
    private boolean closed;

    LabDomain(Lab lab, String name, DomainSpec spec, Path dir, Map<String, Path> images) {
        this.lab = lab;
        this.name = name;
        this.spec = spec;
        this.dir = dir;
        this.images = Map.copyOf(images);
    }

    public String name() {
        return name;
    }

    /** What the lab's initramfs guest was made of; a distribution guest ({@link DebianGuest}) has none. */
    public DomainSpec spec() {
        if (spec == null) {
            throw new IllegalStateException(name + " is not the lab's initramfs guest");
        }
        return spec;
    }

    /**
     * A fresh libvirt handle, for code under test that drives the domain itself. Looked up on each
     * call, so it stays valid across {@link Lab#restartLibvirtd()} and {@link #redefine}.
     */
    public Domain libvirtDomain() {
        try {
            return lab.libvirt().domainLookupByName(name);
        } catch (LibvirtException e) {
            throw new GuestException("domain " + name + " is not known to libvirt: " + e.getMessage(), e);
        }
    }

    /**
     * Undefines and defines the domain again from its own XML, as an admin editing it might; with
     * {@code dropCheckpointMetadata} libvirt forgets every checkpoint while the bitmaps stay in the
     * images. A running guest keeps running.
     */
    public void redefine(boolean dropCheckpointMetadata) {
        try {
            Domain d = libvirtDomain();
            String xml = d.getXMLDesc(2 /* VIR_DOMAIN_XML_INACTIVE */);
            d.undefine(UNDEFINE_KEEP_NVRAM | (dropCheckpointMetadata ? UNDEFINE_CHECKPOINTS_METADATA : 0));
            lab.libvirt().domainDefineXML(xml);
        } catch (LibvirtException e) {
            throw new GuestException("cannot redefine " + name + ": " + e.getMessage(), e);
        }
    }

    /** The host path of the image behind guest disk {@code target}. */
    public Path image(String target) {
        Path p = images.get(target);
        if (p == null) {
            throw new IllegalArgumentException(name + " has no disk " + target);
        }
        return p;
    }

    public Path directory() {
        return dir;
    }

    Path consoleSocket() {
        return dir.resolve("console.sock");
    }

    /** Starts the guest and waits for its console; returns once it runs commands. */
    public LabDomain start() {
        if (spec == null) {
            throw new IllegalStateException(name + " has no lab console: boot() it and use its guest agent");
        }
        boot();
        console = GuestConsole.connect(name, consoleSocket(), Duration.ofSeconds(30));
        console.awaitReady(lab.options().bootTimeout());
        return this;
    }

    /** Starts the domain and returns at once, without waiting for anything in the guest. */
    public LabDomain boot() {
        try {
            libvirtDomain().create();
        } catch (LibvirtException e) {
            throw new GuestException("libvirt could not start " + name + ": " + e.getMessage(), e);
        }
        return this;
    }

    /** The guest agent of this domain (its channel must be in the definition). */
    public GuestAgent agent() {
        return new GuestAgent(this::libvirtDomain, name);
    }

    /** The running guest's console. */
    public GuestConsole console() {
        if (console == null) {
            throw new IllegalStateException(name + " is not running");
        }
        return console;
    }

    public boolean isRunning() {
        try {
            return libvirtDomain().isActive() == 1;
        } catch (LibvirtException | GuestException e) {
            return false;
        }
    }

    /**
     * Flushes the guest's writes and powers it off from inside, then waits until libvirt reports it
     * shut off. A guest that does not stop in time is destroyed and the call fails.
     */
    public void powerOff(Duration timeout) {
        GuestConsole c = console();
        c.run("sync; echo 3 > /proc/sys/vm/drop_caches; sync", Duration.ofSeconds(60));
        try {
            c.run("poweroff -f", Duration.ofSeconds(2));
        } catch (GuestException expected) {
            // the guest is gone before it can answer: that is the point
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (!isRunning()) {
                closeConsole();
                return;
            }
            Pause.millis(100);
        }
        destroy();
        throw new GuestException(name + " did not power off within " + timeout.toSeconds() + " s and was destroyed");
    }

    /**
     * kill -9 of the guest's QEMU process, as a host crash or the OOM killer would: libvirt is not
     * asked, so nothing is saved (persistent bitmaps stay in-use or unsaved). Waits until libvirt
     * sees the domain shut off.
     */
    public void killQemu() {
        try {
            String pid = Files.readString(Path.of("/var/run/libvirt/qemu", name + ".pid")).strip();
            Exec.run(Duration.ofSeconds(10), "kill", "-9", pid).orThrow();
        } catch (IOException e) {
            throw new GuestException("no QEMU pid for " + name + ": " + e.getMessage(), e);
        }
        closeConsole();
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (isRunning() && System.nanoTime() < deadline) {
            Pause.millis(100);
        }
        if (isRunning()) {
            throw new GuestException(name + " still runs 30 s after its QEMU was killed");
        }
    }

    /** Stops the guest at once, like pulling the plug. */
    public void destroy() {
        closeConsole();
        try {
            Domain d = libvirtDomain();
            if (d.isActive() == 1) {
                d.destroy();
            }
        } catch (LibvirtException e) {
            throw new GuestException("could not destroy " + name + ": " + e.getMessage(), e);
        }
    }

    private void closeConsole() {
        if (console != null) {
            console.close();
            console = null;
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            destroy();
        } catch (GuestException ignored) {
            // gone already
        }
        try {
            libvirtDomain().undefine(UNDEFINE_ALL_METADATA);
        } catch (LibvirtException | GuestException ignored) {
            // not defined any more (a test may have undefined it itself)
        }
        try {
            FileTrees.delete(dir);
        } catch (IOException ignored) {
            // the lab sweeps leftover directories on its next start
        }
        lab.forget(this);
    }
}
