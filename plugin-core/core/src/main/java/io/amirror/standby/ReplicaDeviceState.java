package io.amirror.standby;

import io.amirror.image.DeviceState;
import io.amirror.image.DiskImage;
import io.amirror.image.StateArchive;
import io.amirror.libvirt.DomainXmlReader;
import io.amirror.util.AtomicFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

/**
 * Writes a replica's {@linkplain DeviceState device state} out of its pseudo-disks to where the
 * standby's libvirt reads it when the replica domain starts, so the replica boots through the
 * primary's boot entries and finds its TPM's keys:
 * <ul>
 *   <li>the NVRAM to the replica's own file ({@link StandbyLayout.DomainFiles#nvram()}, which the
 *       replica's definition names: never a path of the primary's);</li>
 *   <li>the TPM state to libvirt's swtpm directory of the replica domain's UUID, as the standby
 *       defined it (written only once the standby has defined the replica in libvirt, so the
 *       directory can belong to no other domain: libvirt holds one domain per UUID). The domain's
 *       directory is 0711 and the rest 0700/0600 as libvirt leaves them; libvirt gives the files to
 *       its swtpm user when the domain starts.</li>
 * </ul>
 *
 * <p>Called after each applied point, after a roll back to a kept point (a start at point K gets
 * K's state) and once the replica is defined. The caller holds the domain's lock and the replica
 * does not run (a promoted replica takes no points, and its files are then the running domain's).
 * Each file is replaced whole (written beside it, then renamed), and only when it differs.
 */
final class ReplicaDeviceState {
    private static final Logger log = LoggerFactory.getLogger(ReplicaDeviceState.class);

    private ReplicaDeviceState() {
    }

    /** What was written: the files that changed, for the log and the tests. */
    record Written(boolean nvram, Optional<Path> tpm) {
    }

    static Written writeOut(ReplicaDomain d) throws IOException {
        return writeOut(d, DeviceState.SWTPM_ROOT);
    }

    static Written writeOut(ReplicaDomain d, Path swtpmRoot) throws IOException {
        List<String> disks = d.diskNames();
        boolean nvram = false;
        Optional<Path> tpm = Optional.empty();
        if (disks.contains(DeviceState.NVRAM)) {
            byte[] b = contents(d, DeviceState.NVRAM);
            Path f = d.files().nvram();
            if (!sameFile(f, b)) {
                AtomicFiles.writePrivate(f, b);
                nvram = true;
            }
        }
        if (disks.contains(DeviceState.TPM)) {
            Optional<String> xml = d.definedXml();
            Optional<UUID> replica = xml.flatMap(DomainXmlReader::uuid);
            if (replica.isEmpty() || DomainXmlReader.tpmEmulator(xml.get()).isEmpty()) {
                // written once the replica domain is defined with its TPM (the definer calls again then)
                return new Written(nvram, tpm);
            }
            List<StateArchive.Entry> entries;
            try {
                entries = StateArchive.decode(contents(d, DeviceState.TPM));
            } catch (IOException e) {
                throw new IOException("the TPM state of " + d.uuid() + " in its replica is unusable: " + e.getMessage(), e);
            }
            Path dir = swtpmRoot.resolve(replica.get().toString());
            if (!sameTree(dir, entries)) {
                Files.createDirectories(swtpmRoot);
                StateArchive.writeTree(entries, dir, "rwx--x--x");
                tpm = Optional.of(dir);
            }
        }
        if (nvram || tpm.isPresent()) {
            log.info("{}: device state written for the replica:{}{}", d.uuid(), nvram ? " NVRAM " + d.files().nvram() : "",
                    tpm.map(p -> " TPM state " + p).orElse(""));
        }
        return new Written(nvram, tpm);
    }

    /** The guest-visible bytes of pseudo-disk {@code name} as the replica holds them now. */
    private static byte[] contents(ReplicaDomain d, String name) throws IOException {
        try (DiskImage img = DiskImage.open(d.disk(name).image(), false, d.tools()); InputStream in = img.stream()) {
            if (img.size() > 64L * StateArchive.UNIT) {
                throw new IOException("the " + name + " replica of " + d.uuid() + " is " + img.size()
                        + " bytes, beyond what device state may be");
            }
            return in.readAllBytes();
        }
    }

    private static boolean sameFile(Path f, byte[] b) throws IOException {
        return Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS) && Files.size(f) == b.length
                && Arrays.equals(Files.readAllBytes(f), b);
    }

    private static boolean sameTree(Path dir, List<StateArchive.Entry> entries) throws IOException {
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            return false;
        }
        List<StateArchive.Entry> now = StateArchive.readTree(dir);
        if (now.size() != entries.size()) {
            return false;
        }
        for (int i = 0; i < now.size(); i++) {
            if (!now.get(i).path().equals(entries.get(i).path()) || !Arrays.equals(now.get(i).data(), entries.get(i).data())) {
                return false;
            }
        }
        return true;
    }
}
