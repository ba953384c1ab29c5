package io.amirror.standby;

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
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.function.Predicate;

/**
 * Turns the primary's domain XML into the replica domain's, for the standby's libvirt. Pure.
 *
 * <ul>
 *   <li>Disks that amirror replicates point at their replica images (qcow2, no backing chain).</li>
 *   <li>Read-only disks and CD-ROMs stay when their file exists on the standby; a CD-ROM whose
 *       file does not is left empty, any other disk that is not replicated is removed.</li>
 *   <li>Networks and bridges are renamed through the policy's map; host devices are removed.</li>
 *   <li>Unix sockets that QEMU listens on (serial consoles, channels) move to the standby's
 *       socket directory, so they cannot collide with anything else on the host; chardev log files
 *       are dropped.</li>
 *   <li>The primary's amirror policy tag is removed (the standby must not replicate the replica),
 *       and a {@code <amirror:replica>} element records where the replica's state lives, which is
 *       how the libvirt hook recognises a replica at {@code prepare}.</li>
 * </ul>
 * Name and UUID stay the primary's unless a suffix is configured (a standby that is also a primary
 * for the same domains, or a test on one host), then the name gets the suffix and the UUID is
 * derived from the primary's UUID and the suffix.
 */
public final class ReplicaDefinition {
    /** Namespace of the replica marker in the replica domain's metadata. */
    public static final String NS = "https://amirror.io/libvirt/replica/1";
    /** The primary's policy-tag namespace, which must not carry over. */
    static final String PRIMARY_NS = "https://amirror.io/libvirt/1";

    /** Standby-wide choices: the name suffix ("" keeps name and UUID), where sockets go, the state directory. */
    public record Options(String nameSuffix, Path socketDir, Path stateDir) {
    }

    /** The replica domain's XML and identity, and what was changed beyond the disk sources. */
    public record Result(String xml, String name, UUID uuid, List<String> notes) {
    }

    /** What a replica domain's marker says: the primary domain it replicates and the standby state directory. */
    public record Marker(UUID source, Path stateDir) {
    }

    private ReplicaDefinition() {
    }

    /** Parses a domain XML (namespaces resolved, no DTD); an {@link IOException} if it is not one. */
    public static Document parse(String xml) throws IOException {
        Document d;
        try {
            d = DomainXmlReader.parseNamespaced(xml);
        } catch (IllegalArgumentException e) {
            throw new IOException(e.getMessage());
        }
        if (!"domain".equals(d.getDocumentElement().getLocalName())) {
            throw new IOException("not a libvirt domain XML: the root element is <" + d.getDocumentElement().getTagName() + ">");
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

    /** The replica XML for {@code m} with disks {@code images} (target → image); {@code exists} tests standby paths. */
    public static Result build(ReplicaManifest m, Map<String, Path> images, Options o, Predicate<Path> exists)
            throws IOException {
        Document doc = parse(m.domainXml());
        Element root = doc.getDocumentElement();
        String name = replicaName(m, o);
        UUID uuid = replicaUuid(m, o);
        List<String> notes = new ArrayList<>();
        setText(doc, root, "name", name);
        setText(doc, root, "uuid", uuid.toString());
        for (String hostOnly : List.of("id")) {
            root.removeAttribute(hostOnly);
        }
        marker(doc, root, m, o);

        Element devices = child(root, "devices");
        if (devices == null) {
            throw new IOException("the primary's domain XML has no <devices>");
        }
        List<String> missing = new ArrayList<>(images.keySet());
        Map<String, String> sockets = new HashMap<>();
        for (Element dev : children(devices)) {
            switch (dev.getTagName()) {
                case "disk" -> disk(devices, dev, images, missing, exists, notes);
                case "interface" -> network(dev, m, notes);
                case "hostdev" -> {
                    devices.removeChild(dev);
                    notes.add("removed a host device (" + describe(dev) + "): it belongs to the primary's hardware");
                }
                case "serial", "console", "channel", "parallel" -> chardev(dev, uuid, o, sockets);
                default -> {
                }
            }
        }
        if (!missing.isEmpty()) {
            throw new IOException("the primary's domain XML has no disk " + missing + " that the standby replicates");
        }
        return new Result(serialize(doc), name, uuid, notes);
    }

    private static void marker(Document doc, Element root, ReplicaManifest m, Options o) {
        Element meta = child(root, "metadata");
        if (meta == null) {
            meta = doc.createElement("metadata");
            root.appendChild(meta);
        }
        for (Element e : children(meta)) {
            if (PRIMARY_NS.equals(e.getNamespaceURI()) || NS.equals(e.getNamespaceURI())) {
                meta.removeChild(e);
            }
        }
        Element r = doc.createElementNS(NS, "amirror:replica");
        r.setAttribute("source", m.uuid().toString());
        r.setAttribute("state", o.stateDir().toString());
        meta.appendChild(r);
    }

    private static void disk(Element devices, Element disk, Map<String, Path> images, List<String> missing,
                             Predicate<Path> exists, List<String> notes) {
        Element target = child(disk, "target");
        String dev = target == null ? "" : target.getAttribute("dev");
        Path image = images.get(dev);
        if (image != null) {
            missing.remove(dev);
            disk.setAttribute("type", "file");
            for (String gone : List.of("source", "backingStore", "readonly", "mirror")) {
                Element e = child(disk, gone);
                if (e != null) {
                    disk.removeChild(e);
                }
            }
            Element driver = child(disk, "driver");
            if (driver == null) {
                driver = disk.getOwnerDocument().createElement("driver");
                driver.setAttribute("name", "qemu");
                disk.insertBefore(driver, disk.getFirstChild());
            }
            driver.setAttribute("type", "qcow2");
            Element source = disk.getOwnerDocument().createElement("source");
            source.setAttribute("file", image.toString());
            disk.insertBefore(source, driver.getNextSibling());
            return;
        }
        String device = disk.getAttribute("device").isEmpty() ? "disk" : disk.getAttribute("device");
        Element source = child(disk, "source");
        String file = source == null ? "" : source.getAttribute("file");
        boolean present = !file.isEmpty() && exists.test(Path.of(file));
        if (device.equals("cdrom") || device.equals("floppy")) {
            if (source != null && !present) {
                disk.removeChild(source);
                notes.add("emptied " + device + " " + dev + ": " + describe(source) + " is not on the standby");
            }
        } else if (!(child(disk, "readonly") != null && present)) {
            devices.removeChild(disk);
            notes.add("removed disk " + dev + " (" + describe(source) + "): it is not replicated"
                    + (child(disk, "readonly") != null ? " and its file is not on the standby" : ""));
        }
    }

    private static void network(Element nic, ReplicaManifest m, List<String> notes) {
        Element source = child(nic, "source");
        if (source == null) {
            return;
        }
        String type = nic.getAttribute("type");
        Map<String, String> map = type.equals("network") ? m.networks() : type.equals("bridge") ? m.bridges() : Map.of();
        String attr = type.equals("network") ? "network" : "bridge";
        String from = source.getAttribute(attr);
        if (map.containsKey(from)) {
            source.setAttribute(attr, map.get(from));
            notes.add(type + " " + from + " → " + map.get(from));
        }
    }

    /** sun_path holds 108 bytes with its terminating NUL. */
    static final int MAX_SOCKET_PATH = 107;

    private static void chardev(Element chr, UUID uuid, Options o, Map<String, String> sockets) throws IOException {
        Element log = child(chr, "log");
        if (log != null) {
            chr.removeChild(log);
        }
        Element source = child(chr, "source");
        if (!"unix".equals(chr.getAttribute("type")) || source == null || !"bind".equals(source.getAttribute("mode"))
                || source.getAttribute("path").isEmpty()) {
            return;
        }
        // a <console> that mirrors <serial> names the same socket: both move to the same new path
        String moved = sockets.computeIfAbsent(source.getAttribute("path"),
                p -> o.socketDir().resolve(uuid + "-" + chr.getTagName() + sockets.size() + ".sock").toString());
        if (moved.getBytes(StandardCharsets.UTF_8).length > MAX_SOCKET_PATH) {
            throw new IOException("the replica's socket path " + moved + " is longer than a unix socket allows ("
                    + MAX_SOCKET_PATH + " bytes); give the standby a shorter --socket-dir");
        }
        source.setAttribute("path", moved);
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

    private static String describe(Element e) {
        if (e == null) {
            return "no source";
        }
        for (String a : List.of("file", "dev", "name", "path")) {
            if (e.hasAttribute(a)) {
                return e.getAttribute(a);
            }
        }
        return e.getTagName();
    }

    private static void setText(Document doc, Element root, String tag, String text) {
        Element e = child(root, tag);
        if (e == null) {
            e = doc.createElement(tag);
            root.insertBefore(e, root.getFirstChild());
        }
        e.setTextContent(text);
    }

    static Element child(Element parent, String tag) {
        for (Element e : children(parent)) {
            if (e.getTagName().equals(tag)) {
                return e;
            }
        }
        return null;
    }

    private static List<Element> children(Element parent) {
        List<Element> out = new ArrayList<>();
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e) {
                out.add(e);
            }
        }
        return out;
    }

    private static String serialize(Document doc) throws IOException {
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
            throw new IOException("cannot write the replica XML: " + e.getMessage());
        }
    }
}
