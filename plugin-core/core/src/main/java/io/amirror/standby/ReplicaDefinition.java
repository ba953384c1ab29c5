package io.amirror.standby;

import io.amirror.config.StandbyConfig;
import io.amirror.transport.ReplicaManifest;
import io.amirror.libvirt.DomainXmlReader;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

import javax.xml.XMLConstants;
import javax.xml.transform.OutputKeys;
import javax.xml.transform.TransformerException;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;

/**
 * Builds the replica domain's XML, for the standby's libvirt, from the primary's description. Pure:
 * the only question it asks the host goes through {@link HostFiles}.
 *
 * <p>The primary may be hostile (principle 7), so its XML is never copied and filtered: a new
 * document is built element by element from an allowlist of what the standby knows how to make
 * safe, and for each element only allowed attributes with checked values (enumerations, numbers in
 * range, names of a strict pattern) are carried over. What the standby decides itself:
 * <ul>
 *   <li>the replicated disks: exactly one {@code <source file>}, the replica image, with a qcow2
 *       driver and no backing chain; target and bus from an allowed set. Any other disk is dropped,
 *       a CD-ROM stays as an empty drive;</li>
 *   <li>NICs only of type {@code network} or {@code bridge}, and only onto the networks and
 *       bridges the standby's configuration allows (after the policy's map). A NIC on anything else
 *       is dropped: a replica whose NIC names a missing network would not start at all;</li>
 *   <li>chardevs: serial ports and consoles become a unix socket in the socket directory (a bound
 *       one moves there) or a pty; the guest-agent channel is a socket there too; other channels go;</li>
 *   <li>graphics only VNC or SPICE, listening on 127.0.0.1, without the primary's passwords;</li>
 *   <li>firmware: BIOS, {@code firmware='efi'}, or an OVMF loader of a known family from the
 *       standby's firmware directory with the NVRAM in the replica's own directory; a direct
 *       kernel boot only from a regular file under a kernel directory the configuration names;</li>
 *   <li>the emulator is the standby's (configured, or libvirt's default);</li>
 *   <li>name, UUID and the {@code <amirror:replica>} marker (which is how the libvirt hook
 *       recognises a replica at {@code prepare}).</li>
 * </ul>
 * Everything else is dropped, each with a {@link Change} (element path and reason) that
 * {@code amirror replicas} shows. Where dropping would change the guest (no replicated disk, an
 * unknown machine or firmware, a kernel outside the allowed directories) the definition is
 * refused with a {@link DefinitionRefused} naming the reason and the fix; the caller then keeps the
 * previous definition.
 *
 * <p>Name and UUID stay the primary's unless a suffix is configured (a standby that is also a primary
 * for the same domains, or a test on one host), then the name gets the suffix and the UUID is
 * derived from the primary's UUID and the suffix.
 */
public final class ReplicaDefinition {
    /** Namespace of the replica marker in the replica domain's metadata. */
    public static final String NS = "https://amirror.io/libvirt/replica/1";
    /** The primary's policy-tag namespace: it never carries over (the standby must not replicate its replica). */
    static final String PRIMARY_NS = "https://amirror.io/libvirt/1";
    /** The standby's OVMF images, by family. */
    public static final Path OVMF_DIR = Path.of("/usr/share/OVMF");

    /**
     * What the standby's configuration allows in a replica's definition: the libvirt networks and
     * bridges a NIC may join, the directories a direct-boot kernel or initrd may come from (real
     * paths: {@link #resolved} them), the emulator (null: libvirt's default) and the OVMF directory.
     */
    public record Allowlist(Set<String> networks, Set<String> bridges, List<Path> kernelDirs, Path emulator,
                            Path firmwareDir) {
        /** Nothing beyond what is always safe: no network, no direct kernel boot. */
        public static final Allowlist NONE = new Allowlist(Set.of(), Set.of(), List.of(), null, OVMF_DIR);

        public Allowlist {
            networks = Set.copyOf(networks);
            bridges = Set.copyOf(bridges);
            kernelDirs = List.copyOf(kernelDirs);
            firmwareDir = firmwareDir == null ? OVMF_DIR : firmwareDir;
        }

        /** The configuration's {@code replicas} limits, with their kernel directories {@link #resolved}. */
        public static Allowlist of(StandbyConfig.ReplicaLimits limits) {
            return new Allowlist(Set.copyOf(limits.networks()), Set.copyOf(limits.bridges()), limits.kernelDirs(),
                    limits.emulator(), limits.firmwareDir()).resolved();
        }

        /** This allowlist with its kernel directories resolved through symlinks (those that exist). */
        public Allowlist resolved() {
            List<Path> real = new ArrayList<>();
            for (Path d : kernelDirs) {
                try {
                    real.add(d.toRealPath());
                } catch (IOException e) {
                    // a directory that does not exist allows nothing
                }
            }
            return new Allowlist(networks, bridges, real, emulator, firmwareDir);
        }
    }

    /**
     * Standby-wide choices: the name suffix ("" keeps name and UUID), where sockets go, the state
     * directory (the replica's own directory is {@code STATE/replicas/<primary uuid>}), what is allowed.
     */
    public record Options(String nameSuffix, Path socketDir, Path stateDir, Allowlist allow) {
        public Options {
            allow = allow == null ? Allowlist.NONE : allow;
        }

        public Options(String nameSuffix, Path socketDir, Path stateDir) {
            this(nameSuffix, socketDir, stateDir, Allowlist.NONE);
        }
    }

    /** One thing the standby dropped or changed: where in the primary's XML, and why. */
    public record Change(String path, String reason) {
        @Override
        public String toString() {
            return path + ": " + reason;
        }
    }

    /** The replica domain's XML and identity, and what was dropped or changed beyond the disk sources. */
    public record Result(String xml, String name, UUID uuid, List<Change> changes) {
        public Result {
            changes = List.copyOf(changes);
        }

        /** The changes as lines for a log. */
        public List<String> notes() {
            return changes.stream().map(Change::toString).toList();
        }
    }

    /** What a replica domain's marker says: the primary domain it replicates and the standby state directory. */
    public record Marker(UUID source, Path stateDir) {
    }

    private ReplicaDefinition() {
    }

    /** Parses a domain XML (namespaces resolved, no DTD, no entities); an {@link IOException} if it is not one. */
    public static Document parse(String xml) throws IOException {
        Document d;
        try {
            d = DomainXmlReader.parseNamespaced(xml);
        } catch (IllegalArgumentException e) {
            throw new IOException(e.getMessage());
        }
        Element root = d.getDocumentElement();
        if (!"domain".equals(root.getLocalName()) || root.getNamespaceURI() != null) {
            throw new IOException("not a libvirt domain XML: the root element is <" + root.getTagName() + ">");
        }
        return d;
    }

    public static String replicaName(ReplicaManifest m, Options o) {
        return m.name() + o.nameSuffix();
    }

    public static UUID replicaUuid(ReplicaManifest m, Options o) {
        return o.nameSuffix().isEmpty() ? m.uuid()
                : UUID.nameUUIDFromBytes((m.uuid() + "/" + o.nameSuffix()).getBytes(StandardCharsets.UTF_8));
    }

    /**
     * The replica XML for {@code m} with disks {@code images} (target → replica image), or a
     * {@link DefinitionRefused} when it cannot be made safe without changing the guest.
     */
    public static Result build(ReplicaManifest m, Map<String, Path> images, Options o, HostFiles files)
            throws IOException {
        Document primary = parse(m.domainXml());
        String name = replicaName(m, o);
        UUID uuid = replicaUuid(m, o);
        DefinitionBuilder b = new DefinitionBuilder(m, images, o, files, uuid);
        Document doc = b.build(primary.getDocumentElement(), name);
        return new Result(serialize(doc), name, uuid, b.changes());
    }

    /** The marker of a replica domain's XML, or empty for any other domain. */
    public static Optional<Marker> marker(String domainXml) throws IOException {
        Element root = parse(domainXml).getDocumentElement();
        Element meta = child(root, "metadata");
        if (meta == null) {
            return Optional.empty();
        }
        for (Element e : children(meta)) {
            if (NS.equals(e.getNamespaceURI()) && "replica".equals(e.getLocalName())) {
                try {
                    return Optional.of(new Marker(UUID.fromString(e.getAttribute("source")), Path.of(e.getAttribute("state"))));
                } catch (IllegalArgumentException bad) {
                    throw new IOException("the amirror replica marker is malformed: " + bad.getMessage());
                }
            }
        }
        return Optional.empty();
    }

    /** The first child {@code <tag>} in no namespace (libvirt's own elements have none). */
    public static Element child(Element parent, String tag) {
        for (Element e : children(parent)) {
            if (tag.equals(e.getLocalName()) && e.getNamespaceURI() == null) {
                return e;
            }
        }
        return null;
    }

    public static List<Element> children(Element parent) {
        List<Element> out = new ArrayList<>();
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e) {
                out.add(e);
            }
        }
        return out;
    }

    /** A domain XML as text, without the XML declaration. */
    public static String serialize(Document doc) throws IOException {
        try {
            TransformerFactory f = TransformerFactory.newInstance();
            f.setAttribute(XMLConstants.ACCESS_EXTERNAL_DTD, "");
            f.setAttribute(XMLConstants.ACCESS_EXTERNAL_STYLESHEET, "");
            var t = f.newTransformer();
            t.setOutputProperty(OutputKeys.OMIT_XML_DECLARATION, "yes");
            StringWriter w = new StringWriter();
            t.transform(new DOMSource(doc), new StreamResult(w));
            return w.toString();
        } catch (TransformerException e) {
            throw new IOException("cannot write the domain XML: " + e.getMessage());
        }
    }
}
