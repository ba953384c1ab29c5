package io.amirror.capture;

import io.amirror.image.DeviceState;
import io.amirror.image.StateArchive;
import io.amirror.libvirt.DiskInfo;
import io.amirror.libvirt.DomainXmlReader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * Reads a domain's {@linkplain DeviceState device state} (its UEFI NVRAM file, its emulated TPM's
 * state directory) at the cut of a point, and writes it into the point as pseudo-disks, after the
 * disks.
 *
 * <p>The state is read into memory just before the point is cut (it is small: an OVMF variable
 * store is 528 KiB, a TPM's state some KiB), so what a point carries is what the files held within
 * the second of its cut; a change made in that second lands in the next point. Both files are
 * written by their owners as whole units (QEMU's pflash writes the variable store in place, sector
 * by sector, at a variable's update; swtpm replaces its state file by a rename), so a read sees one
 * state or the other of each update, as a power cut would.
 *
 * <p>Every point carries the whole state; the refinement against the replica hash map keeps what
 * crosses the link to the blocks that changed, so an unchanged NVRAM costs a delta header.
 */
public final class DeviceStateCapture {
    private static final Logger log = LoggerFactory.getLogger(DeviceStateCapture.class);
    private static final int CHUNK = 64 * 1024;

    /** One piece of device state as read at the cut: its pseudo-disk name, where it came from, its bytes. */
    public record Snapshot(String name, Path from, byte[] bytes) {
    }

    private DeviceStateCapture() {
    }

    /**
     * Where {@code domainXml}'s device state lives on this host: the NVRAM file it names, and the
     * swtpm directory of {@code uuid} when it has an emulated TPM.
     */
    public static List<DiskInfo> sources(String domainXml, UUID uuid) {
        List<DiskInfo> out = new ArrayList<>();
        DomainXmlReader.nvram(domainXml).ifPresent(p -> out.add(pseudoDisk(DeviceState.NVRAM, p)));
        if (DomainXmlReader.tpmEmulator(domainXml).isPresent()) {
            out.add(pseudoDisk(DeviceState.TPM, DeviceState.SWTPM_ROOT.resolve(uuid.toString())));
        }
        return out;
    }

    private static DiskInfo pseudoDisk(String name, Path source) {
        return new DiskInfo(name, source, "raw", false, "disk");
    }

    /**
     * Reads each source now. A source that does not exist yet (a domain never started has no NVRAM
     * copy and no TPM state) is left out with a log line: its pseudo-disk joins the point that
     * first finds it. An NVRAM whose size is not a whole number of 512-byte sectors is refused,
     * since a replica could not use it as it is.
     */
    public static List<Snapshot> read(List<DiskInfo> sources) throws IOException {
        List<Snapshot> out = new ArrayList<>();
        for (DiskInfo s : sources) {
            if (!Files.exists(s.source(), LinkOption.NOFOLLOW_LINKS)) {
                log.info("{} of this domain is not on this host yet ({}): it travels once it is", s.target(), s.source());
                continue;
            }
            if (s.target().equals(DeviceState.TPM)) {
                if (!Files.isDirectory(s.source(), LinkOption.NOFOLLOW_LINKS)) {
                    throw new CaptureException("the TPM state " + s.source() + " is not a directory");
                }
                out.add(new Snapshot(s.target(), s.source(), StateArchive.encode(StateArchive.readTree(s.source()))));
            } else {
                if (!Files.isRegularFile(s.source(), LinkOption.NOFOLLOW_LINKS)) {
                    throw new CaptureException("the NVRAM " + s.source() + " is not a regular file");
                }
                byte[] b = Files.readAllBytes(s.source());
                if (b.length == 0 || b.length % 512 != 0) {
                    throw new CaptureException("the NVRAM " + s.source() + " holds " + b.length + " bytes, not whole "
                            + "512-byte sectors: it is not a firmware variable store a replica could boot with");
                }
                out.add(new Snapshot(s.target(), s.source(), b));
            }
        }
        return out;
    }

    /**
     * Writes {@code s} into {@code sink} as one disk: zero chunks as ZERO, the rest as DATA; the
     * refinement downstream drops the blocks the replica already holds.
     */
    public static CaptureResult.DiskStats write(Snapshot s, CaptureSink sink) throws IOException {
        DiskInfo d = pseudoDisk(s.name(), s.from());
        sink.beginDisk(d, s.bytes().length);
        long data = 0;
        long zero = 0;
        int dataExtents = 0;
        int zeroExtents = 0;
        for (int off = 0; off < s.bytes().length; off += CHUNK) {
            byte[] chunk = java.util.Arrays.copyOfRange(s.bytes(), off, Math.min(off + CHUNK, s.bytes().length));
            if (ExportReader.allZero(chunk)) {
                sink.zero(off, chunk.length);
                zero += chunk.length;
                zeroExtents++;
            } else {
                sink.data(off, chunk);
                data += chunk.length;
                dataExtents++;
            }
        }
        sink.endDisk();
        return new CaptureResult.DiskStats(s.name(), s.bytes().length, data, dataExtents, zero, zeroExtents);
    }
}
