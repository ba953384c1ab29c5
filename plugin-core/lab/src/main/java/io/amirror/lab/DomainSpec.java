package io.amirror.lab;

import java.util.List;

/**
 * What a lab domain looks like: its writable disks and whether the read-only test-data disk is
 * attached after them (it then appears in the guest as the next virtio disk, label {@code testdata}).
 */
public record DomainSpec(int memoryMiB, List<DiskSpec> disks, boolean testData) {

    public DomainSpec {
        disks = List.copyOf(disks);
        if (memoryMiB < 128) {
            throw new IllegalArgumentException("the lab guest needs at least 128 MiB, not " + memoryMiB);
        }
        if (disks.stream().map(DiskSpec::target).distinct().count() != disks.size()) {
            throw new IllegalArgumentException("two disks with the same target: " + disks);
        }
    }

    /** One blank qcow2 disk of {@code sizeBytes} as vda, plus the test data as vdb. */
    public static DomainSpec oneDisk(long sizeBytes, DiskSpec.Content content) {
        return new DomainSpec(256, List.of(DiskSpec.qcow2("vda", sizeBytes, content)), true);
    }

    /** The device name the test-data disk gets in the guest. */
    public String testDataTarget() {
        return "vd" + (char) ('a' + disks.stream().filter(d -> d.bus().equals("virtio")).count());
    }
}
