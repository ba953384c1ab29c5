package io.amirror.lab;

import java.nio.file.Path;
import java.util.Map;

/** Renders the libvirt XML of a lab domain. Pure: paths in, XML out. */
final class DomainXml {

    private DomainXml() {
    }

    static String render(String name, DomainSpec spec, Path emulator, Map<String, Path> diskImages,
                         Path consoleSocket, Path kernel, Path initramfs, Path testData) {
        StringBuilder x = new StringBuilder();
        x.append("<domain type='qemu'>\n");
        x.append("  <name>").append(esc(name)).append("</name>\n");
        x.append("  <memory unit='MiB'>").append(spec.memoryMiB()).append("</memory>\n");
        x.append("  <vcpu>1</vcpu>\n");
        x.append("  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n");
        x.append("    <kernel>").append(esc(kernel)).append("</kernel>\n");
        x.append("    <initrd>").append(esc(initramfs)).append("</initrd>\n");
        // panic=-1 plus on_reboot=destroy: a guest whose init dies stops instead of looping.
        x.append("    <cmdline>console=ttyS0 quiet loglevel=1 panic=-1</cmdline>\n  </os>\n");
        x.append("  <features><acpi/></features>\n");
        x.append("  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>destroy</on_reboot>\n");
        x.append("  <on_crash>destroy</on_crash>\n");
        x.append("  <devices>\n");
        x.append("    <emulator>").append(esc(emulator)).append("</emulator>\n");
        if (spec.disks().stream().anyMatch(d -> d.bus().equals("scsi"))) {
            x.append("    <controller type='scsi' index='0' model='virtio-scsi'/>\n");
        }
        if (spec.disks().stream().anyMatch(d -> d.bus().equals("sata"))) {
            x.append("    <controller type='sata' index='0'/>\n");
        }
        for (DiskSpec d : spec.disks()) {
            boolean block = d.blockDevice() != null;
            x.append("    <disk type='").append(block ? "block" : "file").append("' device='disk'>\n");
            // discard=unmap lets guest TRIM reach the image, so fstrim tests see holes.
            x.append("      <driver name='qemu' type='").append(d.format()).append("' discard='unmap'/>\n");
            x.append("      <source ").append(block ? "dev" : "file").append("='").append(esc(diskImages.get(d.target())))
                    .append("'/>\n");
            x.append("      <target dev='").append(d.target()).append("' bus='").append(d.bus()).append("'/>\n");
            x.append("    </disk>\n");
        }
        if (spec.testData()) {
            x.append("    <disk type='file' device='disk'>\n");
            x.append("      <driver name='qemu' type='raw'/>\n");
            x.append("      <source file='").append(esc(testData)).append("'/>\n");
            x.append("      <target dev='").append(spec.testDataTarget()).append("' bus='virtio'/>\n");
            x.append("      <readonly/>\n");
            x.append("    </disk>\n");
        }
        x.append("    <serial type='unix'>\n");
        x.append("      <source mode='bind' path='").append(esc(consoleSocket)).append("'/>\n");
        x.append("      <target port='0'/>\n    </serial>\n");
        x.append("    <memballoon model='none'/>\n");
        x.append("  </devices>\n</domain>\n");
        return x.toString();
    }

    static String esc(Object o) {
        return o.toString().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                .replace("'", "&apos;").replace("\"", "&quot;");
    }
}
