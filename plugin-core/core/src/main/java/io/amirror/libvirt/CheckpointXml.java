package io.amirror.libvirt;

import org.w3c.dom.Document;
import org.w3c.dom.Element;

import javax.xml.transform.OutputKeys;
import javax.xml.transform.TransformerException;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;
import java.io.StringWriter;

/** Edits of saved checkpoint XML before it is redefined. Pure. */
public final class CheckpointXml {
    private CheckpointXml() {
    }

    /** The same checkpoint with {@code <parent><name>parent</name></parent>}, or with no parent when null. */
    public static String withParent(String checkpointXml, String parent) {
        Document doc = DomainXmlReader.parse(checkpointXml);
        Element root = doc.getDocumentElement();
        if (!root.getTagName().equals("domaincheckpoint")) {
            throw new IllegalArgumentException("not a checkpoint: <" + root.getTagName() + ">");
        }
        Element old = DomainXmlReader.child(root, "parent");
        if (old != null) {
            root.removeChild(old);
        }
        if (parent != null) {
            Element p = doc.createElement("parent");
            Element n = doc.createElement("name");
            n.setTextContent(parent);
            p.appendChild(n);
            Element name = DomainXmlReader.child(root, "name");
            root.insertBefore(p, name == null ? root.getFirstChild() : name.getNextSibling());
        }
        try {
            var t = TransformerFactory.newInstance().newTransformer();
            t.setOutputProperty(OutputKeys.OMIT_XML_DECLARATION, "yes");
            StringWriter w = new StringWriter();
            t.transform(new DOMSource(doc), new StreamResult(w));
            return w.toString();
        } catch (TransformerException e) {
            throw new IllegalStateException("cannot serialise checkpoint XML: " + e.getMessage(), e);
        }
    }
}
