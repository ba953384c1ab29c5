package io.amirror.drill;

import io.amirror.standby.ReplicaDefinition;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static io.amirror.standby.ReplicaDefinition.child;
import static io.amirror.standby.ReplicaDefinition.children;
import static io.amirror.standby.ReplicaDefinition.serialize;

/**
 * The drill domain's XML, made from the replica domain's definition as the standby built it (never
 * from anything a primary sent): pure, strings in, string out.
 *
 * <p>What changes, so that the drill touches nothing of the replica's and nothing of the office's:
 * <ul>
 *   <li>name and UUID are the drill's, and the replica marker goes (a start of the drill must not
 *       look like a failover to the standby's hook);</li>
 *   <li>each replicated disk's source becomes its overlay; a disk without one (a CD-ROM, an empty
 *       drive) keeps its definition;</li>
 *   <li>the NVRAM is the drill's copy of the point's;</li>
 *   <li>each NIC joins the drill's network, or goes (the MAC and model stay, so the guest sees the
 *       NICs it knows);</li>
 *   <li>serial ports, consoles and the agent channel bind sockets of the drill's own, and a serial
 *       port logs to the drill's directory; graphics listen on loopback on a port libvirt picks.</li>
 * </ul>
 */
public final class DrillDefinition {

    /** Where the drill's NICs go. */
    public sealed interface Network permits Isolated, Named, NoNetwork {
    }

    /** A network the drill made for itself: no uplink, no DHCP, no host address. */
    public record Isolated(String name) implements Network {
    }

    /** A libvirt network of the standby's that the admin named. */
    public record Named(String name) implements Network {
    }

    /** No NIC at all. */
    public record NoNetwork() implements Network {
    }

    /**
     * @param overlays  disk target → the drill's overlay of that disk
     * @param nvram     the drill's NVRAM copy, or null when the replica has none
     * @param sockets   where the drill's console and channel sockets go (QEMU binds them)
     * @param directory where the drill's serial logs go
     */
    public record Plan(String name, UUID uuid, Map<String, Path> overlays, Path nvram, Network network, Path sockets,
                       Path directory) {
        public Plan {
            overlays = Map.copyOf(overlays);
        }
    }

    private DrillDefinition() {
    }

    /** The drill's domain XML for {@code replicaXml}; an {@link IOException} if it is not a domain XML. */
    public static String of(String replicaXml, Plan plan) throws IOException {
        Document doc = ReplicaDefinition.parse(replicaXml);
        Element root = doc.getDocumentElement();
        text(root, "name", plan.name());
        text(root, "uuid", plan.uuid().toString());
        Element meta = child(root, "metadata");
        if (meta != null) {
            for (Element e : children(meta)) {
                if (ReplicaDefinition.NS.equals(e.getNamespaceURI())) {
                    meta.removeChild(e);
                }
            }
            if (children(meta).isEmpty()) {
                root.removeChild(meta);
            }
        }
        Element os = child(root, "os");
        Element nvram = os == null ? null : child(os, "nvram");
        if (nvram != null) {
            if (plan.nvram() == null) {
                throw new IOException("the replica's definition has an NVRAM but the drill made no copy of it");
            }
            nvram.setTextContent(plan.nvram().toString());
            nvram.removeAttribute("template");
        }
        Element devices = child(root, "devices");
        if (devices != null) {
            devices(doc, devices, plan);
        }
        return serialize(doc);
    }

    private static void devices(Document doc, Element devices, Plan plan) throws IOException {
        int sockets = 0;
        int logs = 0;
        for (Element d : children(devices)) {
            switch (d.getTagName()) {
                case "disk" -> disk(doc, d, plan);
                case "interface" -> {
                    if (plan.network() instanceof NoNetwork) {
                        devices.removeChild(d);
                    } else {
                        nic(doc, d, plan.network() instanceof Isolated i ? i.name() : ((Named) plan.network()).name());
                    }
                }
                case "serial", "console", "channel", "parallel" -> {
                    Element source = child(d, "source");
                    if ("unix".equals(d.getAttribute("type")) && source != null) {
                        source.setAttribute("mode", "bind");
                        source.setAttribute("path", plan.sockets().resolve(plan.uuid() + "-" + d.getTagName()
                                + sockets++ + ".sock").toString());
                    }
                    Element log = child(d, "log");
                    if (log != null) {
                        log.setAttribute("file", plan.directory().resolve("serial" + logs++ + ".log").toString());
                    }
                }
                case "graphics" -> {
                    for (String a : List.of("port", "tlsPort", "websocket", "socket", "passwd")) {
                        d.removeAttribute(a);
                    }
                    if (d.getAttribute("type").equals("vnc") || d.getAttribute("type").equals("spice")) {
                        d.setAttribute("autoport", "yes");
                        d.setAttribute("listen", "127.0.0.1");
                        for (Element l : children(d)) {
                            if (l.getTagName().equals("listen")) {
                                d.removeChild(l);
                            }
                        }
                    }
                }
                default -> {
                }
            }
        }
        int overlaysUsed = (int) children(devices).stream().filter(e -> e.getTagName().equals("disk"))
                .map(e -> child(e, "target")).filter(t -> t != null && plan.overlays().containsKey(t.getAttribute("dev")))
                .count();
        if (overlaysUsed != plan.overlays().size()) {
            throw new IOException("the replica's definition names " + overlaysUsed + " of the drill's "
                    + plan.overlays().size() + " overlays: " + plan.overlays().keySet());
        }
    }

    private static void disk(Document doc, Element disk, Plan plan) {
        Element target = child(disk, "target");
        Path overlay = target == null ? null : plan.overlays().get(target.getAttribute("dev"));
        if (overlay == null) {
            return;
        }
        disk.setAttribute("type", "file");
        for (Element e : children(disk)) {
            if (e.getTagName().equals("source") || e.getTagName().equals("backingStore")) {
                disk.removeChild(e);
            }
        }
        Element driver = child(disk, "driver");
        if (driver == null) {
            driver = doc.createElement("driver");
            driver.setAttribute("name", "qemu");
            disk.insertBefore(driver, disk.getFirstChild());
        }
        driver.setAttribute("type", "qcow2");
        Element source = doc.createElement("source");
        source.setAttribute("file", overlay.toString());
        disk.insertBefore(source, driver.getNextSibling());
    }

    private static void nic(Document doc, Element nic, String network) {
        nic.setAttribute("type", "network");
        for (Element e : children(nic)) {
            if (List.of("source", "target", "virtualport", "ip", "route", "portForward", "backend", "bandwidth")
                    .contains(e.getTagName())) {
                nic.removeChild(e);
            }
        }
        Element source = doc.createElement("source");
        source.setAttribute("network", network);
        nic.insertBefore(source, nic.getFirstChild());
    }

    private static void text(Element root, String tag, String value) {
        Element e = child(root, tag);
        if (e == null) {
            e = root.getOwnerDocument().createElement(tag);
            root.insertBefore(e, root.getFirstChild());
        }
        e.setTextContent(value);
    }
}
