package io.amirror.image;

/**
 * Guest state kept outside the disks that a replica needs to boot as its primary did: the UEFI
 * variable store (NVRAM: the boot entries an installer registered, Secure Boot keys) and an emulated
 * TPM's state directory (the keys BitLocker or a LUKS TPM binding sealed).
 *
 * <p>Each travels as a <em>pseudo-disk</em> of the point, named so that no disk target can take the
 * name (targets are vdX, sdX, hdX, xvdX): the primary reads it at the cut, together with the disks;
 * the 4 KiB refinement against the replica hash map skips what did not change (an unchanged NVRAM
 * costs a delta header); the standby verifies, applies and keeps it in its recovery points with the
 * disks, and writes it out where its libvirt reads it for the replica. So a replica started at point K
 * gets the firmware and TPM state of point K, never another point's, and never the primary's file.
 *
 * <ul>
 *   <li>{@link #NVRAM}: the NVRAM file's bytes, exactly (the pseudo-disk's size is the file's);</li>
 *   <li>{@link #TPM}: the swtpm state directory as a {@link StateArchive} image.</li>
 * </ul>
 */
public final class DeviceState {
    /** The UEFI variable store. */
    public static final String NVRAM = "nvram";
    /** The emulated TPM's state directory. */
    public static final String TPM = "tpm";
    /**
     * Where libvirt keeps the emulated TPMs' state, one directory per domain UUID, on either host
     * (the primary reads from it, the standby writes the replica's into it).
     */
    public static final java.nio.file.Path SWTPM_ROOT = java.nio.file.Path.of(
            System.getProperty("amirror.swtpmDir", "/var/lib/libvirt/swtpm"));

    private DeviceState() {
    }

    /** Whether {@code disk}, a name in a point, is device state rather than a guest disk. */
    public static boolean isDeviceState(String disk) {
        return NVRAM.equals(disk) || TPM.equals(disk);
    }
}
