package io.amirror.libvirt;

import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;
import org.xml.sax.SAXException;
import org.xml.sax.helpers.DefaultHandler;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;

/** Reads what amirror needs from libvirt domain XML. Pure; external entities are refused. */
public final class DomainXmlReader {
    private DomainXmlReader() {
    }

    public static Document parse(String xml) {
        return parse(xml, false);
    }

    /** Parses with namespaces resolved, for metadata elements. */
    public static Document parseNamespaced(String xml) {
        return parse(xml, true);
    }

    private static Document parse(String xml, boolean namespaceAware) {
        try {
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            f.setNamespaceAware(namespaceAware);
            f.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            f.setExpandEntityReferences(false);
            var builder = f.newDocumentBuilder();
            builder.setErrorHandler(new DefaultHandler()); // errors become exceptions, not stderr lines
            return builder.parse(new ByteArrayInputStream(xml.getBytes(StandardCharsets.UTF_8)));
        } catch (ParserConfigurationException | SAXException | IOException e) {
            throw new IllegalArgumentException("not valid libvirt XML: " + e.getMessage(), e);
        }
    }

    /** The {@code <disk>} elements directly under {@code <devices>} of a domain XML. */
    public static List<DiskInfo> disks(String domainXml) {
        Document doc = parse(domainXml);
        List<DiskInfo> disks = new ArrayList<>();
        NodeList devices = doc.getDocumentElement().getElementsByTagName("devices");
        if (devices.getLength() == 0) {
            return disks;
        }
        NodeList children = devices.item(0).getChildNodes();
        for (int i = 0; i < children.getLength(); i++) {
            if (!(children.item(i) instanceof Element disk) || !disk.getTagName().equals("disk")) {
                continue;
            }
            Element target = child(disk, "target");
            Element source = child(disk, "source");
            Element driver = child(disk, "driver");
            String type = disk.getAttribute("type").isEmpty() ? "file" : disk.getAttribute("type");
            // a file's path, or a block device's node; network and volume disks have no local path
            String file = source == null ? "" : switch (type) {
                case "file" -> source.getAttribute("file");
                case "block" -> source.getAttribute("dev");
                default -> "";
            };
            disks.add(new DiskInfo(target == null ? "" : target.getAttribute("dev"),
                    file.isEmpty() ? null : Path.of(file),
                    driver == null || driver.getAttribute("type").isEmpty() ? "raw" : driver.getAttribute("type"),
                    child(disk, "readonly") != null,
                    disk.getAttribute("device").isEmpty() ? "disk" : disk.getAttribute("device"), type));
        }
        return disks;
    }

    /** The {@code <uuid>} of a domain XML, if it has one. */
    public static java.util.Optional<java.util.UUID> uuid(String domainXml) {
        Element u = child(parse(domainXml).getDocumentElement(), "uuid");
        try {
            return u == null ? java.util.Optional.empty() : java.util.Optional.of(java.util.UUID.fromString(u.getTextContent().strip()));
        } catch (IllegalArgumentException e) {
            return java.util.Optional.empty();
        }
    }

    /** The UEFI variable store ({@code <os><nvram>}) of a domain XML, if it names one. */
    public static java.util.Optional<Path> nvram(String domainXml) {
        Element os = child(parse(domainXml).getDocumentElement(), "os");
        Element nvram = os == null ? null : child(os, "nvram");
        String file = nvram == null ? "" : nvram.getTextContent().strip();
        return file.isEmpty() ? java.util.Optional.empty() : java.util.Optional.of(Path.of(file));
    }

    /**
     * The version ({@code 2.0}, {@code 1.2}, empty for libvirt's default) of the domain's emulated TPM ({@code <tpm><backend
     * type='emulator'>}), if it has one; libvirt keeps its state in {@code swtpm/<domain uuid>/}.
     */
    public static java.util.Optional<String> tpmEmulator(String domainXml) {
        Element devices = child(parse(domainXml).getDocumentElement(), "devices");
        Element tpm = devices == null ? null : child(devices, "tpm");
        Element backend = tpm == null ? null : child(tpm, "backend");
        if (backend == null || !"emulator".equals(backend.getAttribute("type"))) {
            return java.util.Optional.empty();
        }
        return java.util.Optional.of(backend.getAttribute("version")); // "" when libvirt's default
    }

    static Element child(Element parent, String name) {
        NodeList nl = parent.getChildNodes();
        for (int i = 0; i < nl.getLength(); i++) {
            if (nl.item(i) instanceof Element e && e.getTagName().equals(name)) {
                return e;
            }
        }
        return null;
    }
}
