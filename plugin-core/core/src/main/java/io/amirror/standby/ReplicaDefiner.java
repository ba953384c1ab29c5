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

    /** Defines (or redefines) the replica of {@code d}; returns the name it has, if it was defined. */
    public synchronized Optional<String> define(ReplicaDomain d) throws IOException, LibvirtException {
        Optional<ReplicaManifest> m = d.manifest();
        if (m.isEmpty() || m.get().bridged() || d.promoted().isPresent()) {
            return Optional.empty();
        }
        Map<String, Path> images = new LinkedHashMap<>();
        for (String disk : d.diskNames()) {
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
                return d.definedName();
            }
            throw e;
        }
        // the report names the point of the description it reflects, written once the define is done
        DefinitionReport report = new DefinitionReport(m.get().point(), r.changes(), null);
        if (r.xml().equals(d.definedXml().orElse(null))) {
            report.write(d.directory());
            return Optional.of(r.name());
        }
        PrivateFiles.createDirectories(options.socketDir()); // libvirtd (root) makes the sockets and gives them to QEMU
        Connect c = connection();
        try {
            Domain existing = c.domainLookupByUUIDString(r.uuid().toString());
            if (existing.isActive() == 1) {
                log.warn("the replica domain {} is running on the standby; its definition is not updated", r.name());
                report.write(d.directory());
                return Optional.of(r.name());
            }
        } catch (LibvirtException notDefinedYet) {
            // first definition
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
        log.info("replica domain '{}' ({}) defined at point {}, shut off{}", r.name(), r.uuid(), m.get().point(),
                r.notes().isEmpty() ? "" : "; dropped or changed: " + String.join("; ", r.notes()));
        return Optional.of(r.name());
    }

    private Connect connection() throws LibvirtException {
        if (libvirt == null) {
            libvirt = new Connect(libvirtUri);
        }
        return libvirt;
    }
}
