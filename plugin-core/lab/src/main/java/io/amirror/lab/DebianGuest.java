package io.amirror.lab;

import io.amirror.util.Exec;
import io.amirror.util.FileTrees;
import io.amirror.util.Pause;
import org.libvirt.LibvirtException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A Debian 12 server as offices run them, made from the lab's cached {@link DebianImage}: q35 on
 * OVMF with its boot entry in its own NVRAM (no fallback loader), the root disk {@code sda} on
 * virtio-scsi, PostgreSQL's data and WAL on the virtio disk {@code vda}, qemu-guest-agent, and the
 * serial console logged to {@code serial.log} in its directory, and an emulated TPM 2.0 with
 * {@code tpm2-tools} inside ({@link #TPM_NV_INDEX} is free for a test's secret). Tests drive it through its
 * {@link LabDomain#agent() guest agent}; it boots to the agent in about a minute under TCG.
 *
 * <pre>{@code
 * LabDomain vm = DebianGuest.create(lab);
 * DebianGuest.bootToAgent(vm, Duration.ofMinutes(5));
 * new PostgresWorkload(vm.agent()).awaitReady(Duration.ofMinutes(2)).run(500);
 * }</pre>
 */
public final class DebianGuest {
    /** The firmware the guest boots: OVMF without Secure Boot, and its variable-store template. */
    public static final Path OVMF_CODE = Path.of("/usr/share/OVMF/OVMF_CODE_4M.fd");
    public static final Path OVMF_VARS = Path.of("/usr/share/OVMF/OVMF_VARS_4M.fd");
    public static final String ROOT_TARGET = "sda";
    public static final String DATA_TARGET = "vda";
    static final int MEMORY_MIB = 1024;
    /** A TPM NV index in the owner's range that the image leaves undefined. */
    public static final String TPM_NV_INDEX = "0x1500016";

    private DebianGuest() {
    }

    /** A new domain on copies of the cached image (built first if needed), with its own NVRAM; not started. */
    public static LabDomain create(Lab lab) {
        return create(lab, false);
    }

    /**
     * {@link #create} but with a fresh variable store from the firmware's template, as libvirt makes
     * one when the domain's NVRAM file is missing: the guest cannot find its boot entry.
     */
    public static LabDomain createWithFreshNvram(Lab lab) {
        return create(lab, true);
    }

    private static LabDomain create(Lab lab, boolean freshNvram) {
        DebianImage image = DebianImage.prepare(lab);
        String name = lab.newDomainName();
        Path dir = lab.domainDirectory(name);
        try {
            Files.createDirectories(dir);
            dir.toFile().setExecutable(true, false);
            Map<String, Path> images = new LinkedHashMap<>();
            images.put(ROOT_TARGET, dir.resolve("root.qcow2"));
            images.put(DATA_TARGET, dir.resolve("data.qcow2"));
            copy(image.root(), images.get(ROOT_TARGET));
            copy(image.data(), images.get(DATA_TARGET));
            copy(freshNvram ? OVMF_VARS : image.nvram(), dir.resolve("nvram.fd"));
            String xml = render(name, lab.host().tool("qemu-system-x86_64"), images.get(ROOT_TARGET),
                    images.get(DATA_TARGET), dir.resolve("nvram.fd"), dir.resolve("serial.log"), true);
            return lab.define(name, xml, null, images);
        } catch (IOException | LibvirtException e) {
            try {
                FileTrees.delete(dir);
            } catch (IOException ignored) {
                // swept on the next open
            }
            throw new GuestException("cannot define Debian guest " + name + ": " + e.getMessage(), e);
        }
    }

    /** Starts {@code vm} and waits for its guest agent; returns the time from the start to the answer. */
    public static Duration bootToAgent(LabDomain vm, Duration timeout) {
        vm.boot();
        try {
            return vm.agent().awaitAnswering(timeout);
        } catch (GuestException e) {
            throw new GuestException(e.getMessage() + "; serial console ends with:\n" + serialTail(vm), e);
        }
    }

    /** Asks the guest to power off through its agent and waits until libvirt reports it shut off. */
    public static void shutdown(LabDomain vm, Duration timeout) {
        vm.agent().sh("sync");
        vm.agent().exec(Duration.ofSeconds(30), "/bin/systemctl", "--no-block", "poweroff");
        long deadline = System.nanoTime() + timeout.toNanos();
        while (vm.isRunning()) {
            if (System.nanoTime() > deadline) {
                vm.destroy();
                throw new GuestException(vm.name() + " did not power off within " + timeout.toSeconds()
                        + " s and was destroyed; serial console ends with:\n" + serialTail(vm));
            }
            Pause.millis(500);
        }
    }

    /**
     * Stores {@code secret} (32 characters) in the guest's TPM at {@link #TPM_NV_INDEX}: the TPM
     * keeps it in its own state (swtpm's files on the host), not on any disk, as it keeps a
     * BitLocker key or a sealed LUKS key.
     */
    public static void tpmStore(GuestAgent agent, String secret) {
        if (secret.length() != 32 || !secret.matches("[0-9a-zA-Z]+")) {
            throw new IllegalArgumentException("a TPM secret here is 32 letters or digits: " + secret);
        }
        agent.sh(TPM_TCTI + "tpm2_nvdefine " + TPM_NV_INDEX + " -C o -s 32 -a 'ownerread|ownerwrite' >/dev/null && "
                + "printf %s " + secret + " | " + TPM_TCTI + "tpm2_nvwrite " + TPM_NV_INDEX + " -C o -i -");
    }

    /** What the guest's TPM holds at {@link #TPM_NV_INDEX}. */
    public static String tpmRead(GuestAgent agent) {
        return agent.sh(TPM_TCTI + "tpm2_nvread " + TPM_NV_INDEX + " -C o -s 32");
    }

    /** The kernel's TPM resource manager directly (the image runs no access broker). */
    private static final String TPM_TCTI = "TPM2TOOLS_TCTI=device:/dev/tpmrm0 ";

    /** The guest's serial console as logged so far. */
    public static Path serialLog(LabDomain vm) {
        return vm.directory().resolve("serial.log");
    }

    /** The domain's own NVRAM file. */
    public static Path nvram(LabDomain vm) {
        return vm.directory().resolve("nvram.fd");
    }

    /** The last lines of the serial log (for failure messages). */
    public static String serialTail(LabDomain vm) {
        return DebianImage.tail(serialLog(vm), 30);
    }

    private static void copy(Path from, Path to) throws IOException {
        // sparse copies: the images are mostly holes
        Exec.run(Duration.ofMinutes(5), "cp", "--sparse=always", from.toString(), to.toString()).orThrow();
        // guest data: the owner's only (libvirt gives the images to QEMU's user while the domain runs)
        Files.setPosixFilePermissions(to, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
    }

    /**
     * The libvirt XML. Pure: paths in, XML out. With {@code tpm}, an emulated TPM 2.0 (CRB, swtpm
     * under libvirt, its state in libvirt's swtpm directory of the domain's UUID), as a Windows 11 or
     * BitLocker guest has; the image's first boot runs without one.
     */
    static String render(String name, Path emulator, Path root, Path data, Path nvram, Path serialLog, boolean tpm) {
        StringBuilder x = new StringBuilder();
        x.append("<domain type='qemu'>\n");
        x.append("  <name>").append(DomainXml.esc(name)).append("</name>\n");
        x.append("  <memory unit='MiB'>").append(MEMORY_MIB).append("</memory>\n");
        x.append("  <vcpu>1</vcpu>\n");
        x.append("  <os>\n    <type arch='x86_64' machine='q35'>hvm</type>\n");
        x.append("    <loader readonly='yes' type='pflash'>").append(DomainXml.esc(OVMF_CODE)).append("</loader>\n");
        x.append("    <nvram>").append(DomainXml.esc(nvram)).append("</nvram>\n  </os>\n");
        x.append("  <features><acpi/></features>\n");
        x.append("  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n");
        x.append("  <on_crash>destroy</on_crash>\n");
        x.append("  <devices>\n");
        x.append("    <emulator>").append(DomainXml.esc(emulator)).append("</emulator>\n");
        x.append("    <controller type='scsi' index='0' model='virtio-scsi'/>\n");
        disk(x, root, ROOT_TARGET, "scsi");
        disk(x, data, DATA_TARGET, "virtio");
        x.append("    <channel type='unix'>\n      <target type='virtio' name='org.qemu.guest_agent.0'/>\n    </channel>\n");
        x.append("    <serial type='pty'>\n      <log file='").append(DomainXml.esc(serialLog)).append("' append='on'/>\n");
        x.append("      <target port='0'/>\n    </serial>\n");
        if (tpm) {
            x.append("    <tpm model='tpm-crb'>\n      <backend type='emulator' version='2.0'/>\n    </tpm>\n");
        }
        x.append("    <memballoon model='none'/>\n");
        x.append("  </devices>\n</domain>\n");
        return x.toString();
    }

    private static void disk(StringBuilder x, Path image, String target, String bus) {
        x.append("    <disk type='file' device='disk'>\n");
        x.append("      <driver name='qemu' type='qcow2' discard='unmap'/>\n");
        x.append("      <source file='").append(DomainXml.esc(image)).append("'/>\n");
        x.append("      <target dev='").append(target).append("' bus='").append(bus).append("'/>\n");
        x.append("    </disk>\n");
    }
}
