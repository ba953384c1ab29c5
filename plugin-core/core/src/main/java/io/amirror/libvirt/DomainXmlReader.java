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
