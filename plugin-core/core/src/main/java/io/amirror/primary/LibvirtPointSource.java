package io.amirror.primary;

import io.amirror.capture.CaptureResult;
import io.amirror.capture.NothingChangedException;
import io.amirror.capture.CaptureSink;
import io.amirror.capture.DeviceStateCapture;
import io.amirror.capture.DomainCapture;
import io.amirror.config.Policy;
import io.amirror.libvirt.ChainBrokenException;
import io.amirror.libvirt.CheckpointChain;
import io.amirror.libvirt.DiskInfo;
import io.amirror.libvirt.DomainXmlReader;
import io.amirror.libvirt.FileChainStore;
import io.amirror.transport.ReplicaManifest;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * The points of a libvirt domain: its {@link CheckpointChain} (persistent dirty bitmaps in the
 * qcow2 images, their checkpoints' XML saved in the state directory), cut and read by
 * {@link DomainCapture} with a pull backup, or through {@code qemu-nbd} while the domain is shut off.
 * A broken chain ({@link ChainBrokenException}) is reported as {@link PointSource.TrackingLostException}.
 */
public final class LibvirtPointSource implements PointSource {
    private final Domain domain;
    private final UUID uuid;
    private final CheckpointChain chain;
    private final DomainCapture capture;

    public LibvirtPointSource(Domain domain, Path stateDir, DomainCapture capture) {
        this.domain = domain;
        try {
            this.uuid = UUID.fromString(domain.getUUIDString());
        } catch (LibvirtException e) {
            throw new IllegalStateException("cannot read the domain's UUID: " + e.getMessage(), e);
        }
        this.chain = new CheckpointChain(domain, new FileChainStore(stateDir));
        this.capture = capture;
    }

    @Override
    public UUID uuid() {
        return uuid;
    }

    @Override
    public String name() {
        try {
            return domain.getName();
        } catch (LibvirtException e) {
            return uuid.toString();
        }
    }

    /** The checkpoint chain, for tools that look at it. */
    public CheckpointChain chain() {
        return chain;
    }

    @Override
    public List<Disk> disks() throws IOException {
        try {
            List<Disk> out = new ArrayList<>();
            String xml = domain.getXMLDesc(0);
            for (DiskInfo d : DomainCapture.replicatedDisks(domain.getName(), DomainXmlReader.disks(xml))) {
                out.add(new Disk(d.target(), domain.blockInfo(d.target()).getCapacity()));
            }
            for (DeviceStateCapture.Snapshot s : DeviceStateCapture.read(DeviceStateCapture.sources(xml, uuid))) {
                out.add(new Disk(s.name(), s.bytes().length));
            }
            return out;
        } catch (LibvirtException e) {
            throw new IOException("cannot read the disks of " + uuid + ": " + e.getMessage(), e);
        }
    }

    @Override
    public boolean tracks(int point) {
        return chain.holds(point);
    }

    @Override
    public int nextPoint(int acknowledged) {
        return chain.nextPoint();
    }

    @Override
    public CaptureResult cut(int since, int newPoint, CaptureSink sink, boolean quiesce, Map<String, List<long[]>> alsoRead)
            throws IOException {
        List<DeviceStateCapture.Snapshot> state;
        try {
            state = DeviceStateCapture.read(DeviceStateCapture.sources(domain.getXMLDesc(0), uuid));
        } catch (LibvirtException e) {
            throw new IOException("cannot read the definition of " + uuid + ": " + e.getMessage(), e);
        }
        CaptureResult r;
        try {
            r = capture.capture(domain, chain, since, sink, quiesce, alsoRead);
        } catch (ChainBrokenException e) {
            throw new TrackingLostException(e.getMessage(), e);
        } catch (NothingChangedException e) {
            throw new NothingNewException(e.getMessage());
        }
        if (r.newPoint() != newPoint) { // the chain moved between nextPoint and the cut: nobody else may cut it
            chain.discard(r.newPoint());
            throw new IllegalStateException("the chain of " + uuid + " cut point " + r.newPoint() + ", expected "
                    + newPoint + ": another process is capturing this domain");
        }
        if (state.isEmpty()) {
            return r;
        }
        // the firmware and TPM state read at the cut, as pseudo-disks after the disks
        List<CaptureResult.DiskStats> disks = new ArrayList<>(r.disks());
        try {
            for (DeviceStateCapture.Snapshot s : state) {
                disks.add(DeviceStateCapture.write(s, sink));
            }
        } catch (IOException | RuntimeException e) {
            chain.discard(r.newPoint());
            throw e;
        }
        return new CaptureResult(r.domain(), r.basePoint(), r.newPoint(), r.offline(), disks, r.consistency());
    }

    @Override
    public void discardNewerThan(int acknowledged) {
        for (int point : new ArrayList<>(chain.state().points())) {
            if (point > acknowledged) {
                chain.discard(point);
            }
        }
    }

    @Override
    public void abandon(int point) {
        if (chain.state().points().contains(point)) {
            chain.discard(point);
        }
    }

    @Override
    public void retire(int point) {
        if (point > chain.base()) {
            chain.acknowledge(point);
        }
    }

    @Override
    public int retiredTo() {
        return chain.base();
    }

    @Override
    public void reset() {
        capture.resetChain(domain, chain);
    }

    @Override
    public ReplicaManifest manifest(int point, Policy policy) throws IOException {
        try {
            String xml = domain.getXMLDesc(3); // VIR_DOMAIN_XML_SECURE | VIR_DOMAIN_XML_INACTIVE: the definition, not the run
            Policy.BootCheck check = policy.replica().bootCheck();
            return new ReplicaManifest(uuid, domain.getName(), point, xml, policy.replica().networks(),
                    policy.replica().bridges(), policy.keepPoints(), policy.keepAge().toSeconds(), null,
                    check == null ? null : new ReplicaManifest.BootCheck(check.command(), check.timeout().toSeconds()));
        } catch (LibvirtException e) {
            throw new IOException("cannot read the definition of " + uuid + ": " + e.getMessage(), e);
        }
    }
}
