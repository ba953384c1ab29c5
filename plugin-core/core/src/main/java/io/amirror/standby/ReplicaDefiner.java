package io.amirror.standby;

import io.amirror.transport.ReplicaManifest;
import io.amirror.util.PrivateFiles;

import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Keeps each replica domain defined, shut off, in the standby's libvirt: after a manifest arrives
 * it builds the replica XML ({@link ReplicaDefinition}) and defines it when it differs from what
 * was defined last. A replica that was promoted, or is running, is left alone: it is the domain now.
 * What the definition dropped, or why it was refused, goes to the replica's {@link DefinitionReport};
 * a refused description leaves the previous definition as it was.
 */
public final class ReplicaDefiner {
    private static final Logger log = LoggerFactory.getLogger(ReplicaDefiner.class);

    private final String libvirtUri;
    private final ReplicaDefinition.Options options;
    private Connect libvirt;
    /** The last reconcile failure per replica, so a libvirtd that stays down is logged once, not every minute. */
    private final Map<java.util.UUID, String> lastFailure = new java.util.HashMap<>();

    /** How this definer names and builds replica domains. */
    ReplicaDefinition.Options options() {
        return options;
    }

    public ReplicaDefiner(String libvirtUri, ReplicaDefinition.Options options) {
        this.libvirtUri = libvirtUri;
        this.options = options;
    }

    /** A manifest of {@code d} was stored: defines its replica, logging a failure (the next manifest tries again). */
    public synchronized void described(ReplicaDomain d) {
        try {
            define(d);
        } catch (IOException | LibvirtException e) {
            log.error("the replica domain of {} could not be defined: {}", d.uuid(), e.getMessage());
            libvirt = null; // reconnect next time: libvirtd may have restarted
        }
    }

    /**
     * Brings every replica's definition in libvirt in line with its last description: defines the
     * ones whose define failed (libvirtd was restarting, or down) or that libvirt lost (undefined by
     * hand), redefines the ones whose definition is behind. Run by the standby at its start and
     * every {@link StandbyService#RECONCILE_EVERY}, so a libvirtd that comes back gets them all.
     * Returns how many were (re)defined; a failure is logged once until its message changes.
     */
    public synchronized int reconcile(List<ReplicaDomain> domains) {
        int done = 0;
        for (ReplicaDomain d : domains) {
            try {
                if (define(d, true)) {
                    done++;
                }
                lastFailure.remove(d.uuid());
            } catch (IOException | LibvirtException | RuntimeException e) {
                String why = String.valueOf(e.getMessage());
                if (!why.equals(lastFailure.put(d.uuid(), why))) {
                    log.error("the replica domain of {} could not be defined (tried again every {} s): {}", d.uuid(),
                            StandbyService.RECONCILE_EVERY.toSeconds(), why);
                }
                if (e instanceof LibvirtException) {
                    libvirt = null; // reconnect next time: libvirtd may have restarted
                }
            }
        }
        return done;
    }

    /** Defines (or redefines) the replica of {@code d}; returns the name it has, if it was defined. */
    public synchronized Optional<String> define(ReplicaDomain d) throws IOException, LibvirtException {
        define(d, true);
        return d.manifest().isPresent() && d.promoted().isEmpty() ? d.definedName() : Optional.empty();
    }

    /**
     * Defines the replica of {@code d} if its definition changed or, checking libvirt first with
     * {@code checkLibvirt}, if libvirt does not hold it; true when a define was made.
     */
    private boolean define(ReplicaDomain d, boolean checkLibvirt) throws IOException, LibvirtException {
        Optional<ReplicaManifest> m = d.manifest();
        if (m.isEmpty() || m.get().bridged() || d.promoted().isPresent() || d.starting().isPresent()) {
            return false;
        }
        Map<String, Path> images = new LinkedHashMap<>();
        for (String disk : d.diskNames()) {
            if (io.amirror.image.DeviceState.isDeviceState(disk)) {
                continue; // written out beside the images, named by the definition itself
            }
            Path image = d.disk(disk).image();
            if (Files.exists(image)) {
                images.put(disk, image);
            }
        }
        ReplicaDefinition.Result r;
        try {
            r = ReplicaDefinition.build(m.get(), images, options, HostFiles.REAL);
        } catch (DefinitionRefused e) {
            // the previous definition, if any, stays: a primary cannot make the standby undefine its replica
            new DefinitionReport(m.get().point(), DefinitionReport.read(d.directory()).map(DefinitionReport::changes)
                    .orElse(List.of()), e.getMessage()).write(d.directory());
            if (d.definedName().isPresent()) {
                log.error("the new description of {} is refused, its replica domain '{}' stays as it was: {}", d.uuid(),
                        d.definedName().get(), e.getMessage());
                return false;
            }
            throw e;
        }
        // the report names the point of the description it reflects, written once the define is done
        DefinitionReport report = new DefinitionReport(m.get().point(), r.changes(), null);
        boolean same = r.xml().equals(d.definedXml().orElse(null));
        if (same && !checkLibvirt) {
            report.write(d.directory());
            return false;
        }
        PrivateFiles.createDirectories(options.socketDir()); // libvirtd (root) makes the sockets and gives them to QEMU
        Connect c = connection();
        Domain existing = null;
        try {
            existing = c.domainLookupByUUIDString(r.uuid().toString());
        } catch (LibvirtException notDefined) {
            c.getLibVersion(); // libvirt answers (else this throws, and the define waits for it): not defined
        }
        if (existing != null && same) {
            report.write(d.directory());
            return false; // libvirt holds what was defined last
        }
        if (existing != null && existing.isActive() == 1) {
            log.warn("the replica domain {} is running on the standby; its definition is not updated", r.name());
            report.write(d.directory());
            return false;
        }
        try {
            c.domainDefineXML(r.xml());
        } catch (LibvirtException e) {
            // what the standby built is still something libvirt refuses: the previous definition stays, and
            // the admin reads why in 'amirror replicas'
            new DefinitionReport(m.get().point(), r.changes(), "libvirt refused the replica's definition: "
                    + DefinitionBuilder.clip(e.getMessage())).write(d.directory());
            throw e;
        }
        d.recordDefined(r.name(), r.xml());
        report.write(d.directory());
        writeDeviceState(d); // the TPM's directory is the defined UUID's
        log.info("replica domain '{}' ({}) defined at point {}, shut off{}{}", r.name(), r.uuid(), m.get().point(),
                same ? " (libvirt had lost it)" : "",
                r.notes().isEmpty() ? "" : "; dropped or changed: " + String.join("; ", r.notes()));
        return true;
    }

    /** Under the domain's lock if it comes soon; otherwise the apply that holds it writes the state. */
    private static void writeDeviceState(ReplicaDomain d) {
        try {
            Optional<ReplicaDomain.Lock> lock = d.tryLock("writing the replica's firmware state", java.time.Duration.ofSeconds(2));
            if (lock.isPresent()) {
                try (ReplicaDomain.Lock l = lock.get()) {
                    if (d.promoted().isEmpty() && d.starting().isEmpty()) {
                        ReplicaDeviceState.writeOut(d);
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            log.error("{}: the replica's firmware and TPM state could not be written out: {}", d.uuid(), e.getMessage());
        }
    }

    private Connect connection() throws LibvirtException {
        if (libvirt == null) {
            libvirt = new Connect(libvirtUri);
        }
        return libvirt;
    }
}
