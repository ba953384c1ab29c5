package io.amirror.standby;

import io.amirror.transport.ReplicaManifest;
import org.w3c.dom.Attr;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NamedNodeMap;

import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.function.Predicate;
import java.util.regex.Pattern;

import static io.amirror.standby.ReplicaDefinition.child;
import static io.amirror.standby.ReplicaDefinition.children;

/**
 * The machinery of {@link ReplicaDefinition#build}: one instance per build. Each {@code <x>} the
 * standby knows has a method that creates the replica's element and copies, attribute by attribute
 * and child by child, only what an {@link Rules} entry allows; whatever it does not take is noted
 * with its path. Nothing is ever imported from the primary's document, so no attribute, namespace
 * or child can ride along unseen.
 */
final class DefinitionBuilder {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._+-]{0,63}");
    private static final Pattern TARGET_DEV = Pattern.compile("(vd|sd|hd|xvd)[a-z]{1,3}");
    private static final Pattern MACHINE = Pattern.compile(
            "pc|q35|pc-i440fx-[0-9]{1,2}\\.[0-9]{1,2}|pc-q35-[0-9]{1,2}\\.[0-9]{1,2}|virt(-[0-9]{1,2}\\.[0-9]{1,2})?");
    private static final Pattern MAC = Pattern.compile("[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}");
    private static final Pattern ADDRESS_NUMBER = Pattern.compile("0x[0-9a-fA-F]{1,8}|[0-9]{1,8}");
    private static final Pattern USB_PORT = Pattern.compile("[0-9]{1,3}(\\.[0-9]{1,3}){0,4}");
    private static final Pattern OVMF_CODE = Pattern.compile("OVMF_CODE(_4M)?(\\.secboot|\\.ms)?\\.fd");
    private static final Pattern KEYMAP = Pattern.compile("[a-z]{2}(-[a-z]{2,4})?");
    private static final Pattern SERIAL_NUMBER = Pattern.compile("[A-Za-z0-9._-]{1,36}");
    private static final Pattern GUEST_TEXT = Pattern.compile("[\\x20-\\x7e]{0,4096}");
    private static final Pattern DESCRIPTION = Pattern.compile("[\\x20-\\x7e\\n\\t\\u00a0-\\uffff&&[^\\ufffe\\uffff]]{0,4096}");
    private static final Pattern SMBIOS_TEXT = Pattern.compile("[\\x20-\\x7e]{0,256}");
    private static final Set<String> YES_NO = Set.of("yes", "no");
    private static final Set<String> ON_OFF = Set.of("on", "off");
    private static final Set<String> MEMORY_UNITS = Set.of("b", "bytes", "KB", "k", "KiB", "MB", "M", "MiB", "GB",
            "G", "GiB", "TB", "T", "TiB");
    /** A guest agent channel's name, the one channel the standby keeps. */
    static final String GUEST_AGENT = "org.qemu.guest_agent.0";
    /** sun_path holds 108 bytes with its terminating NUL. */
    static final int MAX_SOCKET_PATH = 107;

    /** Allowed attributes of one element: name → test of its value. */
    private record Rules(Map<String, Predicate<String>> attributes) {
        static Rules of(Object... nameAndTest) {
            Map<String, Predicate<String>> m = new LinkedHashMap<>();
            for (int i = 0; i < nameAndTest.length; i += 2) {
                m.put((String) nameAndTest[i], test(nameAndTest[i + 1]));
            }
            return new Rules(m);
        }

        @SuppressWarnings("unchecked")
        private static Predicate<String> test(Object t) {
            if (t instanceof Pattern p) {
                return v -> p.matcher(v).matches();
            }
            if (t instanceof Set<?> s) {
                return s::contains;
            }
            return (Predicate<String>) t;
        }
    }

    private static Predicate<String> number(long min, long max) {
        return v -> {
            if (v.isEmpty() || v.length() > 19 || !v.chars().allMatch(Character::isDigit)) {
                return false;
            }
            long n = Long.parseLong(v);
            return n >= min && n <= max;
        };
    }

    private static final Rules ADDRESS = Rules.of("type", Set.of("pci", "drive", "virtio-serial", "usb", "isa", "ccid"),
            "domain", ADDRESS_NUMBER, "bus", ADDRESS_NUMBER, "slot", ADDRESS_NUMBER, "function", ADDRESS_NUMBER,
            "multifunction", ON_OFF, "controller", ADDRESS_NUMBER, "target", ADDRESS_NUMBER, "unit", ADDRESS_NUMBER,
            "port", USB_PORT, "iobase", ADDRESS_NUMBER, "irq", ADDRESS_NUMBER);
    private static final Rules BOOT = Rules.of("order", number(1, 1000));

    private final ReplicaManifest manifest;
    private final Map<String, Path> images;
    private final ReplicaDefinition.Options options;
    private final HostFiles files;
    private final UUID uuid;
    private final Document out;
    private final List<ReplicaDefinition.Change> changes = new ArrayList<>();
    /** Primary socket path → the replica's, so a console that mirrors a serial port keeps naming the same one. */
    private final Map<String, String> sockets = new HashMap<>();
    private int socketCount;
    private int serialCount;

    DefinitionBuilder(ReplicaManifest manifest, Map<String, Path> images, ReplicaDefinition.Options options,
                      HostFiles files, UUID uuid) {
        this.manifest = manifest;
        this.images = images;
        this.options = options;
        this.files = files;
        this.uuid = uuid;
        try {
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            f.setNamespaceAware(true);
            this.out = f.newDocumentBuilder().newDocument();
        } catch (ParserConfigurationException e) {
            throw new IllegalStateException(e);
        }
    }

    List<ReplicaDefinition.Change> changes() {
        return changes;
    }

    private void drop(String path, String reason) {
        changes.add(new ReplicaDefinition.Change(path, reason));
    }

    private static String refusedFix() {
        return "; the definition is refused, the previous one stays";
    }

    Document build(Element domain, String name) throws DefinitionRefused {
        String path = "/domain";
        Element root = el("domain");
        out.appendChild(root);
        String type = domain.getAttribute("type");
        if (!Set.of("qemu", "kvm").contains(type)) {
            throw new DefinitionRefused("the primary's domain is of type '" + clip(type)
                    + "'; a replica is a QEMU domain (qemu or kvm)" + refusedFix());
        }
        root.setAttribute("type", type);
        attributesBeyond(domain, path, Set.of("type", "id"));
        text(root, "name", name);
        text(root, "uuid", uuid.toString());
        marker(root);

        Set<String> seen = new HashSet<>();
        Element devices = null;
        for (Element e : children(domain)) {
            String tag = e.getLocalName();
            String at = path + "/" + qualified(e);
            if (e.getNamespaceURI() != null) {
                drop(at, tag.equals("commandline") || tag.equals("capabilities") ? reasonFor("commandline")
                        : "an element of another namespace; only libvirt's own elements are taken");
                continue;
            }
            if (!seen.add(tag)) {
                // which one counts differs between libvirt's parsers (first <os>, every <devices>): refuse the ambiguity
                throw new DefinitionRefused("the primary's domain XML has a second <" + clip(tag) + ">" + refusedFix());
            }
            switch (tag) {
                case "name", "uuid" -> {
                    // the standby's own, above
                }
                case "metadata" -> {
                    for (Element m : children(e)) {
                        if (!ReplicaDefinition.PRIMARY_NS.equals(m.getNamespaceURI())) { // the policy tag goes silently
                            drop(at + "/" + qualified(m), "the primary's metadata is not carried over");
                        }
                    }
                }
                case "memory", "currentMemory" -> memory(root, e, at);
                case "vcpu" -> copyNumber(root, e, at, Rules.of("current", number(1, 4096), "placement",
                        Set.of("static")), 1, 4096);
                case "os" -> os(root, e, at);
                case "features" -> features(root, e, at);
                case "cpu" -> cpu(root, e, at);
                case "clock" -> clock(root, e, at);
                case "on_poweroff", "on_reboot", "on_crash" -> copyText(root, e, at,
                        Set.of("destroy", "restart", "preserve", "rename-restart"));
                case "pm" -> pm(root, e, at);
                case "sysinfo" -> sysinfo(root, e, at);
                case "title", "description" -> freeText(root, e, at);
                case "resource" -> {
                    if (!isDefaultPartition(e)) { // libvirt writes the default into every domain's XML
                        drop(at, reasonFor(tag));
                    }
                }
                case "devices" -> devices = e;
                default -> drop(at, reasonFor(tag));
            }
        }
        if (child(root, "memory") == null) {
            throw new DefinitionRefused("the primary's domain XML gives no usable <memory>" + refusedFix());
        }
        if (child(root, "os") == null) {
            throw new DefinitionRefused("the primary's domain XML has no <os><type>" + refusedFix());
        }
        if (devices == null) {
            throw new DefinitionRefused("the primary's domain XML has no <devices>" + refusedFix());
        }
        devices(root, devices, path + "/devices");
        acpiForUefi(root, path);
        return out;
    }

    /**
     * A replica on UEFI firmware gets ACPI even if the primary's XML lacked it (or only had a host
     * ACPI table, which is dropped): libvirt refuses UEFI without ACPI on x86.
     */
    private void acpiForUefi(Element root, String at) {
        Element os = child(root, "os");
        if (os == null || (child(os, "loader") == null && !"efi".equals(os.getAttribute("firmware")))) {
            return;
        }
        Element f = child(root, "features");
        if (f == null) {
            f = el("features");
            root.appendChild(f);
        }
        if (child(f, "acpi") == null) {
            f.appendChild(el("acpi"));
            drop(at + "/features/acpi", "added: UEFI firmware needs ACPI");
        }
    }

    private static String reasonFor(String tag) {
        return switch (tag) {
            case "seclabel" -> "the standby's libvirt security default applies to every replica";
            case "qemu:commandline", "commandline" -> "QEMU arguments from a primary would run as the emulator on the standby";
            case "transient" -> "a replica is a persistent domain";
            case "memoryBacking", "numatune", "cputune", "blkiotune", "memtune", "resource", "iothreads", "iothreadids",
                 "idmap", "keywrap", "launchSecurity", "perf", "bootloader", "bootloader_args" ->
                    "host tuning and host paths are the standby's to choose";
            default -> "not on the list of what the standby knows how to make safe";
        };
    }

    /** An admin's title or description: inert text for virsh, carried over if it is printable and short. */
    private void freeText(Element root, Element e, String at) {
        String v = e.getTextContent();
        Pattern ok = e.getLocalName().equals("title") ? SMBIOS_TEXT : DESCRIPTION;
        if (!ok.matcher(v).matches() || !children(e).isEmpty()) {
            drop(at, "not printable text of at most " + (ok == SMBIOS_TEXT ? 256 : 4096) + " characters");
            return;
        }
        text(root, e.getLocalName(), v);
        attributesBeyond(e, at, Set.of());
    }

    /** {@code <resource><partition>/machine</partition></resource>}, libvirt's default, and nothing else. */
    private static boolean isDefaultPartition(Element resource) {
        List<Element> c = children(resource);
        return c.size() == 1 && "partition".equals(c.get(0).getLocalName()) && c.get(0).getNamespaceURI() == null
                && "/machine".equals(c.get(0).getTextContent().strip()) && resource.getAttributes().getLength() == 0;
    }

    private void marker(Element root) {
        Element meta = el("metadata");
        Element r = out.createElementNS(ReplicaDefinition.NS, "amirror:replica");
        r.setAttribute("source", manifest.uuid().toString());
        r.setAttribute("state", options.stateDir().toString());
        meta.appendChild(r);
        root.appendChild(meta);
    }

    // -- top-level elements

    private void memory(Element root, Element e, String at) {
        String unit = e.getAttribute("unit").isEmpty() ? "KiB" : e.getAttribute("unit");
        String value = e.getTextContent().strip();
        if (!MEMORY_UNITS.contains(unit) || !number(1, 1L << 50).test(value)) {
            drop(at, "memory '" + clip(value) + "' in '" + clip(unit) + "' is not a size");
            return;
        }
        Element m = el(e.getLocalName());
        m.setAttribute("unit", unit);
        m.setTextContent(value);
        root.appendChild(m);
        attributesBeyond(e, at, Set.of("unit"));
        childrenBeyond(e, at, Set.of());
    }

    private void os(Element root, Element os, String at) throws DefinitionRefused {
        Element o = el("os");
        Element type = child(os, "type");
        if (type == null || !"hvm".equals(type.getTextContent().strip())) {
            throw new DefinitionRefused("the primary's <os> has no <type>hvm</type>" + refusedFix());
        }
        String arch = type.getAttribute("arch");
        String machine = type.getAttribute("machine");
        if (!Set.of("x86_64", "i686", "aarch64").contains(arch) || (!machine.isEmpty() && !MACHINE.matcher(machine).matches())) {
            throw new DefinitionRefused("the primary's guest is arch '" + clip(arch) + "', machine '" + clip(machine)
                    + "', which the standby does not define" + refusedFix());
        }
        Element t = el("type");
        t.setAttribute("arch", arch);
        if (!machine.isEmpty()) {
            t.setAttribute("machine", machine);
        }
        t.setTextContent("hvm");
        o.appendChild(t);
        copyAttributes(os, o, at, Rules.of("firmware", Set.of("efi", "bios")));

        Set<String> seen = new HashSet<>();
        for (Element e : children(os)) {
            String tag = e.getLocalName();
            String p = at + "/" + qualified(e);
            if (e.getNamespaceURI() != null || (!tag.equals("boot") && !seen.add(tag))) {
                drop(p, "another namespace, or a second one");
                continue;
            }
            switch (tag) {
                case "type", "nvram" -> {
                    // type above; the NVRAM file is the standby's, placed with the loader
                }
                case "loader" -> loader(o, e, p, child(os, "nvram") != null);
                case "kernel", "initrd" -> kernel(o, e, p);
                case "cmdline" -> {
                    if (GUEST_TEXT.matcher(e.getTextContent()).matches()) {
                        text(o, "cmdline", e.getTextContent());
                    } else {
                        drop(p, "not printable text of at most 4096 characters");
                    }
                }
                case "boot" -> copy(o, e, p, Rules.of("dev", Set.of("hd", "cdrom", "network", "fd")));
                case "bootmenu" -> copy(o, e, p, Rules.of("enable", YES_NO, "timeout", number(0, 65535)));
                case "smbios" -> copy(o, e, p, Rules.of("mode", Set.of("sysinfo", "emulate")));
                case "dtb" -> throw new DefinitionRefused("the primary's <os> boots with a device tree file from the "
                        + "host, which the standby does not take from a primary" + refusedFix());
                default -> drop(p, reasonFor(tag));
            }
        }
        if (child(o, "loader") == null && "efi".equals(o.getAttribute("firmware"))) {
            // libvirt picks the standby's firmware; the variable store is the replica's own file, never
            // libvirt's default path for the name (which a domain of the standby's own may use)
            text(o, "nvram", replicaDirectory().resolve("nvram.fd").toString());
            if (child(os, "nvram") != null) {
                drop(at + "/nvram", "the NVRAM is the replica's own, " + replicaDirectory().resolve("nvram.fd"));
            }
        }
        if (child(o, "kernel") == null && child(o, "initrd") != null) {
            throw new DefinitionRefused("the primary's <os> has an <initrd> without a <kernel>" + refusedFix());
        }
        root.appendChild(o);
    }

    /** OVMF by family: the primary's loader names the family, the file is the standby's own. */
    private void loader(Element o, Element loader, String at, boolean hadNvram) throws DefinitionRefused {
        String given = loader.getTextContent().strip();
        String file = given.substring(given.lastIndexOf('/') + 1); // only the family's file name counts
        if (!OVMF_CODE.matcher(file).matches()) {
            throw new DefinitionRefused("the primary's firmware loader '" + clip(given)
                    + "' is not an OVMF image the standby knows (OVMF_CODE*.fd)" + refusedFix());
        }
        Path code = options.allow().firmwareDir().resolve(file);
        // OVMF_CODE_4M.secboot.fd pairs with OVMF_VARS_4M.fd, OVMF_CODE_4M.ms.fd with OVMF_VARS_4M.ms.fd
        Path vars = options.allow().firmwareDir().resolve(file.replace("CODE", "VARS").replace(".secboot", ""));
        if (files.regularFile(code).isEmpty()) {
            throw new DefinitionRefused("the standby has no " + code + " for the primary's firmware; install the "
                    + "'ovmf' package" + refusedFix());
        }
        Element l = el("loader");
        l.setAttribute("readonly", "yes");
        l.setAttribute("type", "pflash");
        String secure = loader.getAttribute("secure");
        if (YES_NO.contains(secure)) {
            l.setAttribute("secure", secure);
        }
        l.setTextContent(code.toString());
        o.appendChild(l);
        Element nvram = el("nvram");
        if (files.regularFile(vars).isPresent()) {
            nvram.setAttribute("template", vars.toString());
        }
        nvram.setTextContent(replicaDirectory().resolve("nvram.fd").toString());
        o.appendChild(nvram);
        drop(at, "the loader is the standby's " + code + (hadNvram ? ", its NVRAM the replica's own" : ""));
    }

    private Path replicaDirectory() {
        return options.stateDir().resolve("replicas").resolve(manifest.uuid().toString());
    }

    /** A direct kernel boot only from a regular file under a kernel directory the standby allows. */
    private void kernel(Element o, Element e, String at) throws DefinitionRefused {
        String given = e.getTextContent().strip();
        String tag = e.getLocalName();
        Optional<Path> real = given.startsWith("/") && given.length() < 4096 && given.indexOf('\0') < 0
                ? files.regularFile(Path.of(given)) : Optional.empty();
        boolean allowed = real.isPresent() && options.allow().kernelDirs().stream().anyMatch(d -> real.get().startsWith(d));
        if (!allowed) {
            throw new DefinitionRefused("the primary's guest boots a " + tag + " from '" + clip(given) + "', which is "
                    + (real.isEmpty() ? "not a regular file on the standby" : "not under a kernel directory the standby "
                    + "allows " + options.allow().kernelDirs()) + "; add its directory to \"kernelDirs\" in the "
                    + "\"replicas\" section of the standby's configuration" + refusedFix());
        }
        text(o, tag, real.get().toString());
    }

    private void features(Element root, Element features, String at) {
        Element f = el("features");
        Set<String> plain = Set.of("acpi", "apic", "pae", "hap", "viridian", "privnet", "pvspinlock", "vmcoreinfo");
        for (Element e : children(features)) {
            String tag = e.getLocalName();
            String p = at + "/" + qualified(e);
            if (e.getNamespaceURI() == null && (plain.contains(tag) || tag.equals("vmport") || tag.equals("smm"))) {
                copy(f, e, p, Rules.of("state", ON_OFF, "eoi", ON_OFF));
            } else {
                drop(p, reasonFor(tag));
            }
        }
        root.appendChild(f);
        attributesBeyond(features, at, Set.of());
    }

    private void cpu(Element root, Element cpu, String at) {
        Element c = el("cpu");
        copyAttributes(cpu, c, at, Rules.of("mode", Set.of("host-model", "host-passthrough", "custom", "maximum"),
                "match", Set.of("exact", "minimum", "strict"), "check", Set.of("none", "partial", "full"),
                "migratable", ON_OFF));
        for (Element e : children(cpu)) {
            String tag = e.getLocalName();
            String p = at + "/" + qualified(e);
            switch (e.getNamespaceURI() != null ? "" : tag) {
                case "model" -> {
                    if (NAME.matcher(e.getTextContent().strip()).matches()) {
                        Element mdl = copy(c, e, p, Rules.of("fallback", Set.of("allow", "forbid")));
                        mdl.setTextContent(e.getTextContent().strip());
                    } else {
                        drop(p, "not a CPU model name");
                    }
                }
                case "vendor" -> {
                    if (NAME.matcher(e.getTextContent().strip()).matches()) {
                        copy(c, e, p, Rules.of()).setTextContent(e.getTextContent().strip());
                    } else {
                        drop(p, "not a vendor name");
                    }
                }
                case "topology" -> copy(c, e, p, Rules.of("sockets", number(1, 4096), "dies", number(1, 4096),
                        "clusters", number(1, 4096), "cores", number(1, 4096), "threads", number(1, 4096)));
                case "feature" -> copy(c, e, p, Rules.of("policy", Set.of("force", "require", "optional", "disable",
                        "forbid"), "name", NAME));
                default -> drop(p, reasonFor(tag));
            }
        }
        root.appendChild(c);
    }

    private void clock(Element root, Element clock, String at) {
        Element c = el("clock");
        copyAttributes(clock, c, at, Rules.of("offset", Set.of("utc", "localtime")));
        for (Element e : children(clock)) {
            String p = at + "/" + qualified(e);
            if (e.getNamespaceURI() == null && e.getLocalName().equals("timer")) {
                copy(c, e, p, Rules.of("name", Set.of("platform", "pit", "rtc", "hpet", "tsc", "kvmclock", "hypervclock",
                                "armvtimer"), "present", YES_NO, "tickpolicy", Set.of("delay", "catchup", "merge", "discard"),
                        "track", Set.of("boot", "guest", "wall", "realtime")));
            } else {
                drop(p, reasonFor(e.getLocalName()));
            }
        }
        root.appendChild(c);
    }

    private void pm(Element root, Element pm, String at) {
        Element p = el("pm");
        for (Element e : children(pm)) {
            String here = at + "/" + qualified(e);
            if (e.getNamespaceURI() == null && Set.of("suspend-to-mem", "suspend-to-disk").contains(e.getLocalName())) {
                copy(p, e, here, Rules.of("enabled", YES_NO));
            } else {
                drop(here, reasonFor(e.getLocalName()));
            }
        }
        root.appendChild(p);
    }

    /** SMBIOS strings the guest sees; fw_cfg entries (which can name host files) are not taken. */
    private void sysinfo(Element root, Element sysinfo, String at) {
        if (!"smbios".equals(sysinfo.getAttribute("type"))) {
            drop(at, "only SMBIOS strings are carried over; fw_cfg entries may name host files");
            return;
        }
        Element s = el("sysinfo");
        s.setAttribute("type", "smbios");
        for (Element block : children(sysinfo)) {
            String p = at + "/" + qualified(block);
            if (block.getNamespaceURI() != null || !Set.of("bios", "system", "baseBoard", "chassis").contains(block.getLocalName())) {
                drop(p, reasonFor(block.getLocalName()));
                continue;
            }
            Element b = el(block.getLocalName());
            for (Element entry : children(block)) {
                String name = entry.getAttribute("name");
                if ("entry".equals(entry.getLocalName()) && entry.getNamespaceURI() == null && NAME.matcher(name).matches()
                        && !entry.hasAttribute("file") && SMBIOS_TEXT.matcher(entry.getTextContent()).matches()) {
                    Element x = el("entry");
                    x.setAttribute("name", name);
                    x.setTextContent(entry.getTextContent());
                    b.appendChild(x);
                } else {
                    drop(p + "/" + qualified(entry), "not an SMBIOS string entry");
                }
            }
            s.appendChild(b);
        }
        root.appendChild(s);
    }

    // -- devices

    private void devices(Element root, Element devices, String at) throws DefinitionRefused {
        Element d = el("devices");
        root.appendChild(d);
        attributesBeyond(devices, at, Set.of());
        if (options.allow().emulator() != null) {
            text(d, "emulator", options.allow().emulator().toString());
        }
        Set<String> targets = new HashSet<>();
        int index = 0;
        for (Element e : children(devices)) {
            index++;
            String tag = e.getLocalName();
            String p = at + "/" + qualified(e) + "[" + index + "]";
            if (e.getNamespaceURI() != null) {
                drop(p, "an element of another namespace; only libvirt's own elements are taken");
                continue;
            }
            switch (tag) {
                case "emulator" -> {
                    // always the standby's own (configured, or libvirt's default): not worth a note
                }
                case "disk" -> disk(d, e, p, targets);
                case "controller" -> controller(d, e, p);
                case "interface" -> nic(d, e, p);
                case "serial", "console", "parallel" -> chardev(d, e, p);
                case "channel" -> channel(d, e, p);
                case "graphics" -> graphics(d, e, p);
                case "video" -> video(d, e, p);
                case "input" -> simple(d, e, p, Rules.of("type", Set.of("mouse", "keyboard", "tablet"),
                        "bus", Set.of("ps2", "usb", "virtio")), "type");
                case "sound" -> simple(d, e, p, Rules.of("model", Set.of("ich6", "ich9", "ac97", "es1370", "sb16", "usb")),
                        "model");
                case "watchdog" -> simple(d, e, p, Rules.of("model", Set.of("i6300esb", "ib700", "diag288", "itco"),
                        "action", Set.of("reset", "shutdown", "poweroff", "pause", "none", "inject-nmi")), "model");
                case "memballoon" -> memballoon(d, e, p);
                case "rng" -> rng(d, e, p);
                case "panic" -> simple(d, e, p, Rules.of("model", Set.of("isa", "hyperv", "pvpanic")));
                case "hub" -> simple(d, e, p, Rules.of("type", Set.of("usb")), "type");
                case "filesystem" -> drop(p, "a share of the standby's files with the guest");
                case "audio" -> {
                    if ("none".equals(e.getAttribute("type"))) { // libvirt 9 writes it for every domain without sound
                        copy(d, e, p, Rules.of("id", number(1, 64), "type", Set.of("none")));
                    } else {
                        drop(p, "an audio backend writes to the standby's host (files, sound servers)");
                    }
                }
                case "tpm" -> tpm(d, e, p);
                case "hostdev", "redirdev", "smartcard", "shmem", "vsock", "iommu", "nvram", "lease" ->
                        drop(p, "it names the primary's host hardware or host-side state, which the standby does not have");
                default -> drop(p, reasonFor(tag));
            }
        }
        List<String> missing = new ArrayList<>(images.keySet());
        missing.removeAll(targets);
        if (!missing.isEmpty()) {
            throw new DefinitionRefused("the primary's domain XML has no disk " + missing + " that the standby replicates"
                    + refusedFix());
        }
        if (images.isEmpty()) {
            throw new DefinitionRefused("the standby holds no replicated disk for this domain yet" + refusedFix());
        }
    }

    private void disk(Element devices, Element disk, String at, Set<String> targets) {
        Element target = child(disk, "target");
        String dev = target == null ? "" : target.getAttribute("dev");
        String bus = target == null ? "" : target.getAttribute("bus");
        String device = disk.getAttribute("device").isEmpty() ? "disk" : disk.getAttribute("device");
        Path image = images.get(dev);
        String p = at.replaceFirst("\\[[0-9]+]$", "[" + clip(dev) + "]");
        if (!TARGET_DEV.matcher(dev).matches()) {
            drop(p, "the target device name is not one of vdX, sdX, hdX, xvdX");
            return;
        }
        if (!targets.add(dev)) {
            drop(p, "a second disk on target " + dev + "; the first one counts");
            return;
        }
        boolean cdrom = device.equals("cdrom");
        if (image == null && !cdrom) {
            drop(p, "not replicated: only the replicated disks and empty CD-ROM drives are kept");
            return;
        }
        Set<String> buses = image == null ? Set.of("sata", "scsi", "ide", "usb") : Set.of("virtio", "scsi", "sata", "ide");
        if (!buses.contains(bus)) {
            drop(p, "bus '" + clip(bus) + "' is not one of " + buses);
            if (image != null) {
                bus = dev.startsWith("vd") ? "virtio" : dev.startsWith("hd") ? "ide" : "sata";
            } else {
                return;
            }
        }
        Element d = el("disk");
        d.setAttribute("type", "file");
        d.setAttribute("device", image != null ? "disk" : "cdrom");
        Element driver = el("driver");
        driver.setAttribute("name", "qemu");
        driver.setAttribute("type", image != null ? "qcow2" : "raw");
        Element given = child(disk, "driver");
        if (image != null && given != null) {
            copyAttributes(given, driver, p + "/driver", Rules.of("name", Set.of("qemu"), "type", Set.of("qcow2", "raw"),
                    "cache", Set.of("none", "writeback", "writethrough", "directsync", "unsafe", "default"),
                    "discard", Set.of("unmap", "ignore"), "io", Set.of("native", "threads", "io_uring"),
                    "detect_zeroes", Set.of("off", "on", "unmap")), Set.of("name", "type"));
        }
        d.appendChild(driver);
        if (image != null) {
            Element source = el("source");
            source.setAttribute("file", image.toString());
            d.appendChild(source);
            if (!device.equals("disk")) {
                drop(p, "a replicated " + clip(device) + " becomes a disk");
            }
        } else if (child(disk, "source") != null) {
            drop(p + "/source", "the CD-ROM stays, empty: its medium is a file of the primary's host");
        }
        Element t = el("target");
        t.setAttribute("dev", dev);
        t.setAttribute("bus", bus);
        d.appendChild(t);
        if (cdrom || image == null) {
            d.appendChild(el("readonly"));
        }
        int sources = 0;
        for (Element e : children(disk)) {
            String tag = e.getNamespaceURI() == null ? e.getLocalName() : "";
            String here = p + "/" + qualified(e);
            switch (tag) {
                case "driver", "target", "readonly" -> {
                    // above
                }
                case "source" -> {
                    if (image != null && sources++ > 0) {
                        drop(here, "a second <source>: the replica's only source is its image");
                    }
                }
                case "boot" -> copy(d, e, here, BOOT);
                case "address" -> copy(d, e, here, ADDRESS);
                case "serial" -> {
                    if (SERIAL_NUMBER.matcher(e.getTextContent().strip()).matches()) {
                        text(d, "serial", e.getTextContent().strip());
                    } else {
                        drop(here, "not a disk serial number");
                    }
                }
                case "blockio" -> copy(d, e, here, Rules.of("logical_block_size", Set.of("512", "4096"),
                        "physical_block_size", Set.of("512", "4096")));
                case "backingStore" -> drop(here, "a replica has no backing chain");
                default -> drop(here, reasonFor(tag));
            }
        }
        devices.appendChild(d);
    }

    private void controller(Element devices, Element c, String at) {
        String type = c.getAttribute("type");
        if (!Set.of("pci", "usb", "scsi", "sata", "ide", "virtio-serial", "fdc").contains(type)) {
            drop(at, "controller type '" + clip(type) + "' is not an ordinary one");
            return;
        }
        Element x = copyAttributesOnly(devices, c, at, Rules.of("type", Set.of(type), "index", number(0, 255),
                "model", Pattern.compile("[a-z0-9][a-z0-9-]{0,31}"), "ports", number(1, 255), "vectors", number(0, 1024)));
        for (Element e : children(c)) {
            String here = at + "/" + qualified(e);
            switch (e.getNamespaceURI() == null ? e.getLocalName() : "") {
                case "address" -> copy(x, e, here, ADDRESS);
                case "model" -> copy(x, e, here, Rules.of("name", Pattern.compile("[a-z0-9][a-z0-9-]{0,31}")));
                case "target" -> copy(x, e, here, Rules.of("chassisNr", number(0, 255), "chassis", number(0, 255),
                        "port", ADDRESS_NUMBER, "busNr", number(0, 255), "index", number(0, 255)));
                default -> drop(here, reasonFor(e.getLocalName()));
            }
        }
    }

    /** Only onto a network or bridge the standby allows, after the policy's map; never a host device or script. */
    private void nic(Element devices, Element nic, String at) {
        String type = nic.getAttribute("type");
        if (!type.equals("network") && !type.equals("bridge")) {
            drop(at, "interface type '" + clip(type) + "': only libvirt networks and bridges the standby allows are "
                    + "kept (the replica's NIC is dropped, so it starts without it)");
            return;
        }
        Element source = child(nic, "source");
        String from = source == null ? "" : source.getAttribute(type);
        String to = (type.equals("network") ? manifest.networks() : manifest.bridges()).getOrDefault(from, from);
        Set<String> allowed = type.equals("network") ? options.allow().networks() : options.allow().bridges();
        if (!allowed.contains(to)) {
            drop(at, type + " '" + clip(to) + "' is not one the standby's configuration allows (\"" + type + "s\" in its "
                    + "\"replicas\" section); the NIC is dropped so the replica still starts");
            return;
        }
        Element n = el("interface");
        n.setAttribute("type", type);
        Element s = el("source");
        s.setAttribute(type, to);
        n.appendChild(s);
        devices.appendChild(n);
        if (!to.equals(from)) {
            drop(at + "/source", type + " " + clip(from) + " → " + to);
        }
        for (Element e : children(nic)) {
            String here = at + "/" + qualified(e);
            switch (e.getNamespaceURI() == null ? e.getLocalName() : "") {
                case "source" -> attributesBeyond(e, here, Set.of(type));
                case "mac" -> copy(n, e, here, Rules.of("address", MAC));
                case "model" -> copy(n, e, here, Rules.of("type", Set.of("virtio", "e1000", "e1000e", "rtl8139",
                        "ne2k_pci", "pcnet", "virtio-transitional", "virtio-non-transitional")));
                case "link" -> copy(n, e, here, Rules.of("state", Set.of("up", "down")));
                case "boot" -> copy(n, e, here, BOOT);
                case "address" -> copy(n, e, here, ADDRESS);
                case "mtu" -> copy(n, e, here, Rules.of("size", number(68, 65535)));
                default -> drop(here, e.getLocalName().equals("script") ? "a host script would run on the standby"
                        : reasonFor(e.getLocalName()));
            }
        }
    }

    /**
     * An emulated TPM only (swtpm, its state the replica's own: {@link ReplicaDeviceState}); a
     * passthrough of the primary's host TPM has no meaning on the standby. An encrypted state
     * needs a secret of the primary's host, which the standby does not have: the replica's TPM
     * would not start, so encryption is refused with the reason.
     */
    private void tpm(Element devices, Element tpm, String at) throws DefinitionRefused {
        Element backend = child(tpm, "backend");
        if (backend == null || !"emulator".equals(backend.getAttribute("type"))) {
            drop(at, "only an emulated TPM (backend 'emulator') travels; a passthrough names the primary's host TPM");
            return;
        }
        if (child(backend, "encryption") != null) {
            throw new DefinitionRefused("the primary's TPM state is encrypted with a libvirt secret of its host, which "
                    + "the standby does not have: the replica's TPM could not start" + refusedFix());
        }
        Element t = el("tpm");
        String model = tpm.getAttribute("model");
        if (Set.of("tpm-tis", "tpm-crb", "tpm-spapr", "spapr-tpm-proxy").contains(model)) {
            t.setAttribute("model", model);
        } else if (!model.isEmpty()) {
            drop(at, "model '" + clip(model) + "' is not one the standby knows: libvirt's default is used");
        }
        Element b = el("backend");
        b.setAttribute("type", "emulator");
        String version = backend.getAttribute("version");
        if (Set.of("1.2", "2.0").contains(version)) {
            b.setAttribute("version", version);
        }
        t.appendChild(b);
        for (String a : List.of("persistent_state")) {
            if (!backend.getAttribute(a).isEmpty()) {
                drop(at + "/backend/@" + a, "the standby keeps the replica's TPM state itself");
            }
        }
        Element pcrs = child(backend, "active_pcr_banks");
        if (pcrs != null) {
            Element banks = el("active_pcr_banks");
            for (Element bank : children(pcrs)) {
                if (Set.of("sha1", "sha256", "sha384", "sha512").contains(bank.getLocalName())) {
                    banks.appendChild(el(bank.getLocalName()));
                }
            }
            b.appendChild(banks);
        }
        devices.appendChild(t);
    }

    /** Serial ports, consoles, parallel ports: a unix socket the standby places, or a pty. */
    private void chardev(Element devices, Element chr, String at) throws DefinitionRefused {
        String tag = chr.getLocalName();
        Element c = el(tag);
        Element source = child(chr, "source");
        String type = chr.getAttribute("type");
        if (type.equals("unix") && source != null && !"connect".equals(source.getAttribute("mode"))) {
            c.setAttribute("type", "unix");
            Element s = el("source");
            s.setAttribute("mode", "bind");
            s.setAttribute("path", socket(source.getAttribute("path"), tag));
            c.appendChild(s);
        } else {
            c.setAttribute("type", "pty");
            if (!type.equals("pty")) {
                drop(at, "a " + clip(type) + " character device becomes a pty: only ptys and unix sockets in the "
                        + "standby's socket directory are made");
            }
        }
        Element target = child(chr, "target");
        if (target != null) {
            Element t = copyAttributesOnly(c, target, at + "/target", Rules.of("type", Set.of("isa-serial", "usb-serial",
                    "pci-serial", "serial", "virtio", "system-serial", "isa-debug"), "port", number(0, 31)));
            Element model = child(target, "model");
            if (model != null) {
                copy(t, model, at + "/target/model", Rules.of("name", Pattern.compile("[a-z0-9][a-z0-9-]{0,31}")));
            }
        }
        Element address = child(chr, "address");
        if (address != null) {
            copy(c, address, at + "/address", ADDRESS);
        }
        if (tag.equals("serial")) {
            // the boot can be watched where it matters: a log of the replica's own, whatever the primary had
            Element log = el("log");
            log.setAttribute("file", replicaDirectory().resolve("serial" + serialCount++ + ".log").toString());
            log.setAttribute("append", "on");
            c.appendChild(log);
            if (child(chr, "log") != null) {
                drop(at + "/log", "the log is the replica's own, in its directory");
            }
        } else if (child(chr, "log") != null) {
            drop(at + "/log", "a log file of the primary's host");
        }
        devices.appendChild(c);
    }

    /** The guest agent's channel, as a unix socket the standby places; no other channel. */
    private void channel(Element devices, Element chr, String at) throws DefinitionRefused {
        Element target = child(chr, "target");
        if (target == null || !"virtio".equals(target.getAttribute("type")) || !GUEST_AGENT.equals(target.getAttribute("name"))) {
            drop(at, "only the guest agent's channel (" + GUEST_AGENT + ") is kept");
            return;
        }
        Element source = child(chr, "source");
        Element c = el("channel");
        c.setAttribute("type", "unix");
        Element s = el("source");
        s.setAttribute("mode", "bind");
        s.setAttribute("path", socket(source == null ? "" : source.getAttribute("path"), "channel"));
        c.appendChild(s);
        Element t = el("target");
        t.setAttribute("type", "virtio");
        t.setAttribute("name", GUEST_AGENT);
        c.appendChild(t);
        Element address = child(chr, "address");
        if (address != null) {
            copy(c, address, at + "/address", ADDRESS);
        }
        devices.appendChild(c);
    }

    /** The replica's socket for the primary's {@code given} path: in the socket directory, named by the standby. */
    private String socket(String given, String tag) throws DefinitionRefused {
        String key = given.isEmpty() ? "\0" + socketCount : given;
        String moved = sockets.get(key);
        if (moved == null) {
            moved = options.socketDir().resolve(uuid + "-" + tag + socketCount++ + ".sock").toString();
            sockets.put(key, moved);
        }
        if (moved.getBytes(StandardCharsets.UTF_8).length > MAX_SOCKET_PATH) {
            throw new DefinitionRefused("the replica's socket path " + moved + " is longer than a unix socket allows ("
                    + MAX_SOCKET_PATH + " bytes); give the standby a shorter --socket-dir");
        }
        return moved;
    }

    /** VNC or SPICE on loopback only, with a port libvirt chooses and without the primary's password. */
    private void graphics(Element devices, Element g, String at) {
        String type = g.getAttribute("type");
        if (!type.equals("vnc") && !type.equals("spice")) {
            drop(at, "graphics type '" + clip(type) + "': only VNC and SPICE on loopback are made");
            return;
        }
        Element x = el("graphics");
        x.setAttribute("type", type);
        x.setAttribute("autoport", "yes");
        x.setAttribute("listen", "127.0.0.1");
        if (KEYMAP.matcher(g.getAttribute("keymap")).matches()) {
            x.setAttribute("keymap", g.getAttribute("keymap"));
        }
        Element l = el("listen");
        l.setAttribute("type", "address");
        l.setAttribute("address", "127.0.0.1");
        x.appendChild(l);
        devices.appendChild(x);
        if (g.hasAttribute("passwd")) {
            drop(at + "/@passwd", "the primary's password is not carried over; the replica's display listens on "
                    + "127.0.0.1 only");
        }
        String listen = g.getAttribute("listen");
        if (!listen.isEmpty() && !listen.equals("127.0.0.1")) {
            drop(at + "/@listen", "'" + clip(listen) + "' becomes 127.0.0.1");
        }
        for (Element e : children(g)) {
            boolean loopback = "listen".equals(e.getLocalName()) && e.getNamespaceURI() == null
                    && "address".equals(e.getAttribute("type")) && "127.0.0.1".equals(e.getAttribute("address"));
            if (!loopback) {
                drop(at + "/" + qualified(e), "the replica's display is the standby's: on 127.0.0.1, settings of its own");
            }
        }
    }

    private void video(Element devices, Element v, String at) {
        Element x = el("video");
        for (Element e : children(v)) {
            String here = at + "/" + qualified(e);
            switch (e.getNamespaceURI() == null ? e.getLocalName() : "") {
                case "model" -> copy(x, e, here, Rules.of("type", Set.of("vga", "cirrus", "qxl", "virtio", "bochs", "ramfb",
                        "none"), "vram", number(0, 1 << 20), "ram", number(0, 1 << 20), "vgamem", number(0, 1 << 20),
                        "heads", number(1, 16), "primary", YES_NO));
                case "address" -> copy(x, e, here, ADDRESS);
                default -> drop(here, reasonFor(e.getLocalName()));
            }
        }
        devices.appendChild(x);
    }

    private void memballoon(Element devices, Element b, String at) {
        Element x = copyAttributesOnly(devices, b, at, Rules.of("model", Set.of("virtio", "none")));
        for (Element e : children(b)) {
            String here = at + "/" + qualified(e);
            switch (e.getNamespaceURI() == null ? e.getLocalName() : "") {
                case "stats" -> copy(x, e, here, Rules.of("period", number(0, 86400)));
                case "address" -> copy(x, e, here, ADDRESS);
                default -> drop(here, reasonFor(e.getLocalName()));
            }
        }
    }

    /** A virtio RNG fed from the standby's /dev/urandom, whatever the primary named. */
    private void rng(Element devices, Element r, String at) {
        Element x = el("rng");
        x.setAttribute("model", "virtio");
        Element backend = el("backend");
        backend.setAttribute("model", "random");
        backend.setTextContent("/dev/urandom");
        x.appendChild(backend);
        Element given = child(r, "backend");
        if (given == null || !"random".equals(given.getAttribute("model")) || !"/dev/urandom".equals(given.getTextContent().strip())) {
            drop(at + "/backend", "the replica's RNG reads the standby's /dev/urandom");
        }
        Element address = child(r, "address");
        if (address != null) {
            copy(x, address, at + "/address", ADDRESS);
        }
        devices.appendChild(x);
    }

    /** An element with allowed attributes and only an address, a boot order or a model below it. */
    /**
     * A device copied with the attributes {@code rules} allow and its address; one that lost an
     * attribute libvirt requires ({@code required}: an input of type passthrough, say, whose host
     * device the standby does not give) is dropped whole, not defined half.
     */
    private void simple(Element devices, Element e, String at, Rules rules, String... required) {
        for (String r : required) {
            String v = e.getAttribute(r);
            if (!rules.attributes().get(r).test(v)) {
                drop(at, v.isEmpty() ? "no " + r + ", which the device needs"
                        : r + " '" + clip(v) + "' is not one the standby makes");
                return;
            }
        }
        Element x = copyAttributesOnly(devices, e, at, rules);
        for (Element c : children(e)) {
            String here = at + "/" + qualified(c);
            switch (c.getNamespaceURI() == null ? c.getLocalName() : "") {
                case "address" -> copy(x, c, here, ADDRESS);
                default -> drop(here, reasonFor(c.getLocalName()));
            }
        }
    }

    // -- copying with rules

    /** A new element like {@code from} under {@code parent}, with its allowed attributes and no children. */
    private Element copy(Element parent, Element from, String at, Rules rules) {
        Element x = copyAttributesOnly(parent, from, at, rules);
        childrenBeyond(from, at, Set.of());
        return x;
    }

    private Element copyAttributesOnly(Element parent, Element from, String at, Rules rules) {
        Element x = el(from.getLocalName());
        copyAttributes(from, x, at, rules);
        parent.appendChild(x);
        return x;
    }

    private void copyAttributes(Element from, Element to, String at, Rules rules) {
        copyAttributes(from, to, at, rules, Set.of());
    }

    /** Copies each allowed attribute with an allowed value; notes the rest ({@code silent} ones are the standby's). */
    private void copyAttributes(Element from, Element to, String at, Rules rules, Set<String> silent) {
        NamedNodeMap attrs = from.getAttributes();
        for (int i = 0; i < attrs.getLength(); i++) {
            Attr a = (Attr) attrs.item(i);
            if (XMLConstants.XMLNS_ATTRIBUTE_NS_URI.equals(a.getNamespaceURI())) {
                continue; // a namespace declaration: nothing of its namespace is taken anyway
            }
            String name = a.getNamespaceURI() == null ? a.getLocalName() : a.getName();
            Predicate<String> ok = a.getNamespaceURI() == null ? rules.attributes().get(name) : null;
            if (ok == null) {
                if (!silent.contains(name)) {
                    drop(at + "/@" + clip(name), "attribute not on the list");
                }
            } else if (!ok.test(a.getValue())) {
                drop(at + "/@" + name, "value '" + clip(a.getValue()) + "' not allowed");
            } else if (!silent.contains(name)) {
                to.setAttribute(name, a.getValue());
            }
        }
    }

    private void copyNumber(Element root, Element e, String at, Rules rules, long min, long max) {
        String v = e.getTextContent().strip();
        if (!number(min, max).test(v)) {
            drop(at, "'" + clip(v) + "' is not a number from " + min + " to " + max);
            return;
        }
        Element x = copyAttributesOnly(root, e, at, rules);
        x.setTextContent(v);
        childrenBeyond(e, at, Set.of());
    }

    private void copyText(Element root, Element e, String at, Set<String> allowed) {
        String v = e.getTextContent().strip();
        if (!allowed.contains(v)) {
            drop(at, "'" + clip(v) + "' is not one of " + allowed);
            return;
        }
        text(root, e.getLocalName(), v);
    }

    /** Notes the attributes of {@code e} that are not in {@code taken}. */
    private void attributesBeyond(Element e, String at, Set<String> taken) {
        copyAttributes(e, el("x"), at, Rules.of(), taken);
    }

    /** Notes the child elements of {@code e} that are not in {@code taken}. */
    private void childrenBeyond(Element e, String at, Set<String> taken) {
        for (Element c : children(e)) {
            if (c.getNamespaceURI() != null || !taken.contains(c.getLocalName())) {
                drop(at + "/" + qualified(c), reasonFor(c.getLocalName()));
            }
        }
    }

    /** A libvirt element (no namespace, with a local name, so {@code child} finds it). */
    private Element el(String tag) {
        return out.createElementNS(null, tag);
    }

    private void text(Element parent, String tag, String text) {
        Element e = el(tag);
        e.setTextContent(text);
        parent.appendChild(e);
    }

    private static String qualified(Element e) {
        return clip(e.getNamespaceURI() == null ? e.getLocalName() : e.getTagName());
    }

    /** Values from the primary go into notes clipped, so a huge or odd one cannot flood a report or a terminal. */
    static String clip(String s) {
        StringBuilder b = new StringBuilder();
        s.codePoints().limit(80).forEach(c -> b.appendCodePoint(c < 0x20 || c == 0x7f ? '?' : c));
        return s.codePointCount(0, s.length()) > 80 ? b + "…" : b.toString();
    }
}
