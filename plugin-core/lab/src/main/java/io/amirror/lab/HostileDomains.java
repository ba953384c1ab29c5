package io.amirror.lab;

import org.w3c.dom.Attr;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NamedNodeMap;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;
import org.xml.sax.InputSource;

import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilderFactory;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A hostile primary's domain XMLs, and what a replica domain built from one may hold. Every
 * construct that reached a replica domain before its definition was built from an allowlist is in
 * the corpus, and more: command-line passthrough, security labels, host filesystems, chardevs on
 * host files, NICs outside the standby's networks, disks on host files and on other tenants'
 * replicas, host kernels and firmware, emulators, open graphics, a second source in a replicated
 * disk. The standby's unit tests build each case in process; the hostile-primary suite sends each
 * to a real standby process and reads back what libvirt stored.
 *
 * <p>Each case is either refused (the definition would change the guest) or must come out
 * {@link #assertSafe safe}: no forbidden element, chardevs and NICs as the standby makes them,
 * every host path one of the standby's own, and the replicated disks on their replica images only.
 */
public final class HostileDomains {
    /** The lab guest's kit directory, as the written corpus names it. */
    static final String KIT = "/lab/kit";
    /** The standby's state directory, as the written corpus names it. */
    static final String STATE = "/var/lib/amirror";

    private HostileDomains() {
    }

    /** One hostile domain XML; {@code refused}: the standby must refuse its definition. */
    public record Case(String name, String xml, boolean refused) {
        @Override
        public String toString() {
            return name;
        }
    }

    /**
     * What a safe replica on a standby may name: its replicated disks' images (in target order),
     * path prefixes (its replica directory, sockets, kit, OVMF, the RNG), networks and bridges,
     * and the namespace of the standby's marker.
     */
    public record Standby(List<String> images, List<String> allowedPrefixes, Set<String> networks, Set<String> bridges,
                          String markerNamespace) {
    }

    /**
     * The corpus for a standby whose kernel kit is {@code kit} and state directory {@code state}:
     * the XMLs name those where they would name the standby's own (a kernel under the kit, another
     * tenant's replica under the state directory).
     */
    public static List<Case> corpus(String kit, String state) {
        return written().stream().map(c -> new Case(c.name(), c.xml().replace(KIT, kit).replace(STATE, state),
                c.refused())).toList();
    }

    /** The lab's own guest, as the corpus writes it, for a standby of {@code kit} and {@code state}. */
    public static String plain(String kit, String state) {
        return domain("", "", "").replace(KIT, kit).replace(STATE, state);
    }

    /** Elements no replica has, wherever they appear. */
    static final Set<String> FORBIDDEN = Set.of("commandline", "arg", "env", "capabilities", "seclabel", "filesystem",
            "hostdev", "redirdev", "smartcard", "shmem", "transient", "emulator", "resource", "partition", "numatune",
            "memoryBacking", "hugepages", "script", "backingStore", "bootloader", "dtb", "audio",
            "include", "filterref", "bandwidth", "virtualport", "acpi-table", "table", "numa", "description", "idmap",
            "launchSecurity", "keywrap", "cputune", "blkiotune", "lease", "vsock", "fwcfg", "auth", "secret", "host",
            "reconnect", "protocol", "acceleration", "title", "b");

    private static String domain(String top, String os, String devices) {
        return """
                <domain type='qemu' id='4'>
                  <name>files</name>
                  <uuid>6f0c2a52-1f7a-4b1e-9d55-0c4f7d2b9a11</uuid>
                  <memory unit='MiB'>256</memory>
                  <vcpu>1</vcpu>
                  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>/lab/kit/vmlinuz</kernel>
                    <initrd>/lab/kit/initramfs.gz</initrd><cmdline>console=ttyS0 panic=-1</cmdline>%s</os>
                  %s
                  <devices>
                    <emulator>/usr/bin/qemu-system-x86_64</emulator>
                    <disk type='file' device='disk'><driver name='qemu' type='qcow2' discard='unmap'/>
                      <source file='/var/lib/libvirt/images/files.qcow2'/><target dev='vda' bus='virtio'/></disk>
                    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
                      <source file='/var/lib/libvirt/images/data.qcow2'/><target dev='vdb' bus='virtio'/></disk>
                    <serial type='unix'><source mode='bind' path='/run/lab/console.sock'/><target port='0'/></serial>
                    %s
                  </devices>
                </domain>
                """.formatted(os, top, devices);
    }

    private static Case top(String name, String xml) {
        return new Case(name, domain(xml, "", ""), false);
    }

    private static Case dev(String name, String xml) {
        return new Case(name, domain("", "", xml), false);
    }

    private static Case os(String name, String xml, boolean refused) {
        return new Case(name, domain("", xml, ""), refused);
    }

    private static Case refused(String name, String xml) {
        return new Case(name, xml, true);
    }

    private static List<Case> written() {
        String lab = domain("", "", "");
        List<Case> c = new ArrayList<>(List.of(
                new Case("the lab's own guest", lab, false),
                top("qemu:commandline", "<qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
                        + "<qemu:arg value='-chardev'/><qemu:arg value='file,id=x,path=/etc/cron.d/x'/>"
                        + "<qemu:env name='LD_PRELOAD' value='/tmp/evil.so'/></qemu:commandline>"),
                top("qemu:capabilities", "<qemu:capabilities xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
                        + "<qemu:del capability='sandbox'/></qemu:capabilities>"),
                top("seclabel none", "<seclabel type='none'/>"),
                top("seclabel static unconfined", "<seclabel type='static' model='dac' relabel='no'><label>0:0</label></seclabel>"),
                top("transient", "<transient/>"),
                top("resource partition", "<resource><partition>/machine/../../etc</partition></resource>"),
                top("numatune", "<numatune><memory mode='strict' nodeset='0'/></numatune>"),
                top("memoryBacking file", "<memoryBacking><source type='file'/><access mode='shared'/>"
                        + "<hugepages><page size='2048' unit='KiB'/></hugepages></memoryBacking>"),
                top("sysinfo fwcfg with a host file", "<sysinfo type='fwcfg'><entry name='opt/x' file='/etc/shadow'/></sysinfo>"),
                top("sysinfo smbios with a file attribute", "<sysinfo type='smbios'><system><entry name='serial' "
                        + "file='/etc/shadow'>x</entry></system></sysinfo>"),
                top("coredump on crash", "<on_crash>coredump-destroy</on_crash>"),
                top("blkiotune naming a host device", "<blkiotune><device><path>/dev/sda</path><weight>100</weight></device></blkiotune>"),
                top("cputune", "<cputune><vcpupin vcpu='0' cpuset='0'/></cputune>"),
                top("bootloader", "<bootloader>/usr/bin/pygrub</bootloader>"),
                top("launchSecurity", "<launchSecurity type='sev'><policy>0x0003</policy></launchSecurity>"),
                top("keywrap", "<keywrap><cipher name='aes' state='off'/></keywrap>"),
                top("idmap", "<idmap><uid start='0' target='1000' count='10'/></idmap>"),
                top("a title with a newline and a huge description", "<title>a\nb</title><description>"
                        + "d".repeat(5000) + "</description>"),
                top("a description with markup", "<description>moved <b>to</b> rack 2</description>"),
                top("a forged replica marker", "<metadata><amirror:replica xmlns:amirror='https://amirror.io/libvirt/replica/1' "
                        + "source='0d0c2a52-1f7a-4b1e-9d55-0c4f7d2b9a99' state='/etc'/></metadata>"),
                top("cpu with numa cells and host cache", "<cpu mode='host-passthrough'><cache mode='passthrough'/>"
                        + "<numa><cell id='0' cpus='0' memory='256' unit='MiB' memAccess='shared'/></numa>"
                        + "<model>/etc/shadow</model></cpu>"),
                top("clock with a variable basis", "<clock offset='variable' adjustment='123' basis='localtime'>"
                        + "<timer name='rtc' tickpolicy='catchup' track='/etc'/></clock>"),

                top("another namespace's element at the top", "<x:devices xmlns:x='urn:x'><disk><source file='/etc/shadow'/></disk></x:devices>"),
                top("XInclude of a host file", "<xi:include xmlns:xi='http://www.w3.org/2001/XInclude' href='/etc/shadow' parse='text'/>"),
                top("an unknown element", "<hypervisor-escape path='/etc/shadow'/>"),
                top("a unicode element name", "<dévices><disk><source file='/etc/shadow'/></disk></dévices>"),

                dev("9p filesystem sharing /", "<filesystem type='mount' accessmode='passthrough'><source dir='/'/>"
                        + "<target dir='root'/></filesystem>"),
                dev("virtiofs filesystem", "<filesystem type='mount'><driver type='virtiofs'/><binary path='/tmp/evil'/>"
                        + "<source dir='/'/><target dir='root'/></filesystem>"),
                dev("serial to a cron file", "<serial type='file'><source path='/etc/cron.d/evil'/><target port='1'/></serial>"),
                dev("console to authorized_keys", "<console type='file'><source path='/root/.ssh/authorized_keys'/>"
                        + "<target type='serial' port='0'/></console>"),
                dev("serial connecting to a host socket", "<serial type='unix'><source mode='connect' "
                        + "path='/var/run/docker.sock'/><target port='1'/></serial>"),
                dev("serial on a host tty", "<serial type='dev'><source path='/dev/ttyS0'/><target port='1'/></serial>"),
                dev("serial on tcp with a log", "<serial type='tcp'><source mode='bind' host='0.0.0.0' service='2445'/>"
                        + "<protocol type='raw'/><log file='/etc/cron.d/log' append='on'/><target port='1'/></serial>"),
                dev("parallel on a pipe", "<parallel type='pipe'><source path='/etc/passwd'/><target port='0'/></parallel>"),
                dev("guest agent on a host path", "<channel type='unix'><source mode='bind' path='/etc/cron.d/agent'/>"
                        + "<target type='virtio' name='org.qemu.guest_agent.0'/></channel>"),
                dev("guestfwd channel", "<channel type='pipe'><source path='/tmp/guestfwd'/><target type='guestfwd' "
                        + "address='10.0.2.1' port='4600'/></channel>"),
                dev("interface direct", "<interface type='direct'><source dev='eth0' mode='passthrough'/></interface>"),
                dev("interface ethernet with a script", "<interface type='ethernet'><target dev='tap0'/>"
                        + "<script path='/tmp/evil.sh'/></interface>"),
                dev("interface vhostuser", "<interface type='vhostuser'><source type='unix' path='/etc/shadow' mode='server'/>"
                        + "<model type='virtio'/></interface>"),
                dev("interface user", "<interface type='user'><portForward proto='tcp'><range start='22'/></portForward></interface>"),
                dev("a network the standby does not allow", "<interface type='network'><source network='tenant-b-lan'/></interface>"),
                dev("an allowed bridge with a script and filter", "<interface type='bridge'><source bridge='br-sb'/>"
                        + "<script path='/tmp/evil.sh'/><target dev='vnet9'/><filterref filter='clean-traffic'/>"
                        + "<bandwidth><inbound average='1'/></bandwidth><virtualport type='openvswitch'/>"
                        + "<mac address='52:54:00:12:34:56'/><model type='virtio'/></interface>"),
                dev("an interface model with a huge value", "<interface type='network'><source network='office-lan'/>"
                        + "<model type='" + "v".repeat(200_000) + "'/></interface>"),
                dev("read-only disk on /etc/shadow", "<disk type='file' device='disk'><source file='/etc/shadow'/>"
                        + "<target dev='vdc' bus='virtio'/><readonly/></disk>"),
                dev("CD-ROM on /etc/shadow", "<disk type='file' device='cdrom'><source file='/etc/shadow'/>"
                        + "<target dev='sda' bus='sata'/><readonly/></disk>"),
                dev("another tenant's replica", "<disk type='file' device='disk'><source file='/var/lib/amirror/replicas/"
                        + "0d0c2a52-1f7a-4b1e-9d55-0c4f7d2b9a99/vda/replica.qcow2'/><target dev='vdd' bus='virtio'/></disk>"),
                dev("a host block device", "<disk type='block' device='lun'><source dev='/dev/sda'/><target dev='sdb' bus='scsi'/></disk>"),
                dev("a network disk", "<disk type='network' device='disk'><source protocol='nbd' name='x'><host name='10.0.0.1'/>"
                        + "</source><target dev='vde' bus='virtio'/></disk>"),
                dev("a floppy", "<disk type='file' device='floppy'><source file='/etc/shadow'/><target dev='fda' bus='fdc'/></disk>"),
                dev("a second disk on vda", "<disk type='file' device='disk'><source file='/etc/shadow'/>"
                        + "<target dev='vda' bus='virtio'/></disk>"),
                dev("a disk target that is a path", "<disk type='file' device='disk'><source file='/etc/shadow'/>"
                        + "<target dev='../../etc/shadow' bus='virtio'/></disk>"),
                dev("another namespace's disk", "<x:disk xmlns:x='urn:x' type='file' device='disk'><x:source file='/etc/shadow'/>"
                        + "<x:target dev='vdf' bus='virtio'/></x:disk>"),
                dev("a disk in a default namespace", "<disk xmlns='urn:evil' type='file' device='disk'><source file='/etc/shadow'/>"
                        + "<target dev='vdg' bus='virtio'/></disk>"),
                dev("XInclude in the devices", "<xi:include xmlns:xi='http://www.w3.org/2001/XInclude' href='file:///etc/shadow'/>"),
                dev("hostdev", "<hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/><product id='0x5678'/></source></hostdev>"),
                dev("redirdev", "<redirdev bus='usb' type='tcp'><source mode='connect' host='0.0.0.0' service='4000'/></redirdev>"),
                dev("smartcard passthrough", "<smartcard mode='passthrough' type='unix'><source mode='connect' path='/etc/shadow'/></smartcard>"),
                dev("shmem server", "<shmem name='x'><server path='/etc/shadow'/></shmem>"),
                dev("tpm passthrough", "<tpm model='tpm-tis'><backend type='passthrough'><device path='/dev/tpm0'/></backend></tpm>"),
                dev("evdev input passthrough", "<input type='passthrough' bus='virtio'><source evdev='/dev/input/event0'/></input>"),
                top("resource beyond the default partition", "<resource><partition>/machine</partition><fibrechannel appid='x'/></resource>"),
                dev("audio to a file", "<audio id='1' type='file' path='/etc/cron.d/audio'/><sound model='ich9'><audio id='1'/></sound>"),
                dev("vnc on every address with a password", "<graphics type='vnc' port='5900' autoport='no' listen='0.0.0.0' "
                        + "passwd='secret'><listen type='address' address='0.0.0.0'/></graphics>"),
                dev("spice on a network with a socket", "<graphics type='spice' autoport='yes'><listen type='socket' "
                        + "socket='/etc/cron.d/spice'/><image compression='off'/></graphics>"),
                dev("sdl graphics on the host display", "<graphics type='sdl' display=':0' xauth='/root/.Xauthority'/>"),
                dev("egl-headless with a render node", "<graphics type='egl-headless'><gl rendernode='/dev/dri/renderD128'/></graphics>"),
                dev("video with 3D acceleration", "<video><model type='virtio' heads='1'><acceleration accel3d='yes' "
                        + "rendernode='/dev/dri/renderD128'/></model><driver name='vhostuser'/></video>"),
                dev("rng on a host file", "<rng model='virtio'><backend model='random'>/etc/shadow</backend></rng>"),
                dev("rng over egd", "<rng model='virtio'><backend model='egd' type='tcp'><source mode='connect' host='10.0.0.1' "
                        + "service='1234'/></backend></rng>"),
                dev("watchdog that dumps", "<watchdog model='i6300esb' action='dump'/>"),
                dev("controller with a driver iothread", "<controller type='scsi' index='0' model='virtio-scsi'>"
                        + "<driver iothread='4' queues='1'/></controller>"),
                dev("xenbus controller", "<controller type='xenbus' index='0'/>"),
                dev("vsock and iommu", "<vsock model='virtio'><cid auto='yes'/></vsock><iommu model='intel'/>"),
                dev("lease", "<lease><lockspace>x</lockspace><key>y</key><target path='/etc/shadow'/></lease>"),
                dev("odd attribute names", "<memballoon model='virtio' xml:base='/etc/' xmlns:xl='http://www.w3.org/1999/xlink' "
                        + "xl:href='/etc/shadow'><stats period='10'/></memballoon>"),
                dev("processing instruction and comment", "<?evil /etc/shadow?><!-- /etc/shadow --><input type='tablet' bus='usb'/>"),

                os("a dtb", "<dtb>/etc/shadow</dtb>", true),
                os("acpi table from the host", "<acpi><table type='slic'>/etc/shadow</table></acpi>", false),
                os("a ROM loader on a host file", "<loader type='rom'>/etc/shadow</loader>", true),
                os("an OVMF loader from the primary's path", "<loader readonly='yes' type='pflash'>/home/evil/OVMF_CODE_4M.fd"
                        + "</loader><nvram>/etc/shadow</nvram>", false),
                os("boot devices", "<boot dev='hd'/><boot dev='network'/><bootmenu enable='yes' timeout='/etc'/>", false)));
        // the kernel and initrd of the lab template, pointed elsewhere
        c.add(refused("kernel on /etc/shadow", lab.replace("/lab/kit/vmlinuz", "/etc/shadow")));
        c.add(refused("kernel through a symlink out of the kit", lab.replace("/lab/kit/vmlinuz", "/lab/kit/evil")));
        c.add(refused("kernel through ..", lab.replace("/lab/kit/vmlinuz", "/lab/kit/../../etc/shadow")));
        c.add(refused("initrd outside the kit", lab.replace("/lab/kit/initramfs.gz", "/etc/shadow")));
        c.add(refused("a kernel the standby lacks", lab.replace("/lab/kit/vmlinuz", "/lab/kit/missing")));
        c.add(refused("a relative kernel", lab.replace("/lab/kit/vmlinuz", "vmlinuz")));
        c.add(refused("an initrd without a kernel", lab.replace("<kernel>/lab/kit/vmlinuz</kernel>", "")));
        c.add(refused("a xen domain", lab.replace("type='qemu' id='4'", "type='xen'")));
        c.add(refused("an unknown machine", lab.replace("machine='pc'", "machine='pc;/etc/shadow'")));
        c.add(refused("an unknown arch", lab.replace("arch='x86_64'", "arch='sparc'")));
        c.add(refused("no memory one can use", lab.replace("<memory unit='MiB'>256</memory>", "<memory unit='PiB'>1e9</memory>")));
        c.add(refused("a replicated disk missing", lab.replace("dev='vdb'", "dev='vdq'")));
        c.add(refused("no devices", lab.replaceAll("(?s)<devices>.*</devices>", "")));
        // a second <source> before <driver> in a replicated disk: libvirt once took it instead of the replica
        c.add(new Case("a second source before the driver", lab.replace(
                "<driver name='qemu' type='qcow2' discard='unmap'/>",
                "<source file='/etc/shadow'/><driver name='qemu' type='raw' discard='unmap'/><source dev='/dev/sda'/>"
                        + "<backingStore type='file'><format type='raw'/><source file='/etc/shadow'/></backingStore>"
                        + "<mirror file='/etc/shadow'/>"), false));
        c.add(new Case("a replicated disk of another type", lab.replace("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>",
                "<disk type='dir' device='lun' snapshot='external'><driver name='qemu' type='fat' iothread='1' "
                        + "copy_on_read='on'/><encryption format='luks'><secret type='passphrase' uuid='x'/></encryption>"
                        + "<auth username='x'><secret type='ceph'/></auth>"), false));
        c.add(refused("a second <devices>", lab.replace("<vcpu>1</vcpu>", "<vcpu>1</vcpu><devices><disk type='file' "
                + "device='disk'><source file='/etc/shadow'/><target dev='vdc' bus='virtio'/></disk></devices>")));
        c.add(refused("a second <os>", lab.replace("</devices>", "</devices><os><type arch='x86_64'>hvm</type>"
                + "<kernel>/etc/shadow</kernel></os>")));
        c.add(refused("a second <memory>", lab.replace("<vcpu>1</vcpu>", "<vcpu>1</vcpu><memory>1</memory>")));
        c.add(new Case("a CDATA kernel path", lab.replace("/lab/kit/vmlinuz", "<![CDATA[/lab/kit/vmlinuz]]>"), false));
        return c;
    }

    /**
     * Checks that {@code x}, a replica domain's XML as the standby built it (or as libvirt stored
     * it), holds nothing a hostile primary put there; fails with the XML otherwise.
     */
    public static void assertSafe(String x, Standby s) {
        Element root = parse(x).getDocumentElement();
        walk(root, x, s);
        NodeList disks = root.getElementsByTagName("disk");
        List<String> sources = new ArrayList<>();
        for (int i = 0; i < disks.getLength(); i++) {
            Element d = (Element) disks.item(i);
            NodeList src = d.getElementsByTagName("source");
            assertTrue(src.getLength() <= 1, "one source at most: " + x);
            if (src.getLength() == 1) {
                sources.add(((Element) src.item(0)).getAttribute("file"));
                assertEquals("qcow2", ((Element) d.getElementsByTagName("driver").item(0)).getAttribute("type"), x);
                assertEquals("file", d.getAttribute("type"), x);
                assertEquals(1, d.getElementsByTagName("driver").getLength(), x);
            } else {
                assertEquals("cdrom", d.getAttribute("device"), "only an empty CD-ROM has no source: " + x);
            }
        }
        assertEquals(s.images(), sources, x);
        assertEquals(1, root.getElementsByTagName("os").getLength(), x);
        for (String never : List.of("/etc", "shadow", "0.0.0.0", "docker", "cron", "evil", "/dev/sd", "/dev/dri", "secret",
                "tenant-b", "/home")) {
            assertFalse(x.contains(never), never + " in " + x);
        }
        assertTrue(x.length() < 16384, "nothing huge is carried over: " + x.length());
    }

    static Document parse(String xml) {
        try {
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            f.setNamespaceAware(true);
            f.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            return f.newDocumentBuilder().parse(new InputSource(new StringReader(xml)));
        } catch (Exception e) {
            throw new AssertionError("not XML: " + e.getMessage() + "\n" + xml, e);
        }
    }

    /** No forbidden element, no namespace but the marker's, chardevs and graphics as the standby makes them, paths its own. */
    private static void walk(Element e, String x, Standby s) {
        String ns = e.getNamespaceURI();
        assertTrue(ns == null || (ns.equals(s.markerNamespace()) && e.getLocalName().equals("replica")), "namespace " + ns + ": " + x);
        assertFalse(FORBIDDEN.contains(e.getLocalName()), "<" + e.getTagName() + "> in " + x);
        switch (e.getTagName()) {
            case "serial", "console", "channel", "parallel" -> assertTrue(Set.of("pty", "unix").contains(e.getAttribute("type")), x);
            case "interface" -> assertTrue(Set.of("network", "bridge").contains(e.getAttribute("type")), x);
            // the standby's own: a serial port's log in the replica's directory, an emulated TPM with its state there
            case "log" -> assertTrue(e.getAttribute("file").matches(".*/replicas/[0-9a-f-]{36}/serial[0-9]+\\.log"), x);
            case "backend" -> assertTrue(!e.getParentNode().getNodeName().equals("tpm")
                    || e.getAttribute("type").equals("emulator"), "only an emulated TPM: " + x);
            case "graphics" -> {
                assertEquals("127.0.0.1", e.getAttribute("listen"), x);
                assertFalse(e.hasAttribute("passwd"), x);
            }
            case "source" -> {
                if (e.hasAttribute("network")) {
                    assertTrue(s.networks().contains(e.getAttribute("network")), x);
                }
                if (e.hasAttribute("bridge")) {
                    assertTrue(s.bridges().contains(e.getAttribute("bridge")), x);
                }
                if (e.hasAttribute("mode")) {
                    assertEquals("bind", e.getAttribute("mode"), x);
                }
            }
            default -> {
            }
        }
        NamedNodeMap attrs = e.getAttributes();
        for (int i = 0; i < attrs.getLength(); i++) {
            Attr a = (Attr) attrs.item(i);
            if (a.getName().startsWith("xmlns")) {
                assertEquals(s.markerNamespace(), a.getValue(), x);
                continue;
            }
            assertTrue(a.getNamespaceURI() == null, "attribute " + a.getName() + ": " + x);
            if (!(e.getLocalName().equals("replica") && a.getName().equals("state"))) {
                checkPath(a.getValue(), x, s);
            }
        }
        for (Node n = e.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element c) {
                walk(c, x, s);
            } else if (n.getNodeType() == Node.TEXT_NODE || n.getNodeType() == Node.CDATA_SECTION_NODE) {
                checkPath(n.getNodeValue().strip(), x, s);
            } else {
                fail("a " + n.getNodeName() + " node in " + x);
            }
        }
    }

    private static void checkPath(String v, String x, Standby s) {
        if (v.startsWith("/")) {
            assertTrue(s.allowedPrefixes().stream().anyMatch(v::startsWith) && !v.contains(".."), "host path " + v + " in " + x);
        }
    }

}
