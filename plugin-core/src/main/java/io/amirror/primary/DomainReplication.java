package io.amirror.primary;

import io.amirror.capture.CaptureResult;
import io.amirror.capture.CaptureSink;
import io.amirror.capture.DomainCapture;
import io.amirror.delta.DeltaEncoder;
import io.amirror.delta.XzBlockCodec;
import io.amirror.libvirt.CheckpointChain;
import io.amirror.libvirt.FileChainStore;
import io.amirror.spool.Spool;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.function.UnaryOperator;

/**
 * The primary's side of one domain's replication, as one cycle after another: capture the changes
 * since the last acknowledged point, refine and encode them into the spool ({@link #capture}); once
 * the standby acknowledges, retire the old checkpoint and commit the replica hash maps
 * ({@link #acknowledged}). State (chain, maps, spool) lives under the state directory, so a new
 * instance after a restart continues where the last one stopped.
 *
 * <p>A failed capture leaves nothing behind: the new checkpoint is discarded by the capture, and
 * the partial deltas and map journals by this class.
 */
public final class DomainReplication {

    /** A point captured and spooled, waiting for the standby. */
    public record Captured(CaptureResult capture, List<DeltaEncoder.DiskDelta> deltas) {
    }

    private final Domain domain;
    private final UUID uuid;
    private final CheckpointChain chain;
    private final DomainCapture capture;
    private final Spool spool;
    private final Path maps;
    private final ExecutorService pool;
    private final int threads;

    public DomainReplication(Domain domain, Path stateDir, DomainCapture capture, Spool spool, ExecutorService pool,
                             int threads) {
        this.domain = domain;
        try {
            this.uuid = UUID.fromString(domain.getUUIDString());
        } catch (LibvirtException e) {
            throw new IllegalStateException("cannot read the domain's UUID: " + e.getMessage(), e);
        }
        this.chain = new CheckpointChain(domain, new FileChainStore(stateDir));
        this.capture = capture;
        this.spool = spool;
        this.maps = stateDir.resolve("maps").resolve(uuid.toString());
        this.pool = pool;
        this.threads = threads;
    }

    public UUID uuid() {
        return uuid;
    }

    public CheckpointChain chain() {
        return chain;
    }

    /** Where the replica hash maps of this domain's disks live ({@code <disk>.map}). */
    public Path mapDirectory() {
        return maps;
    }

    /**
     * Captures everything since the last acknowledged point into the spool.
     *
     * @param wrap lets a caller observe the captured extents on their way to the encoder (benchmarks)
     */
    public Captured capture(XzBlockCodec.Preset preset, UnaryOperator<CaptureSink> wrap) throws IOException {
        DeltaEncoder.recover(maps, chain.base());
        DeltaEncoder enc = new DeltaEncoder(spool, maps, uuid, chain.base(), chain.nextPoint(), preset, pool, threads);
        try {
            return new Captured(capture.capture(domain, chain, wrap.apply(enc)), enc.deltas());
        } catch (RuntimeException e) {
            enc.abort();
            throw e;
        }
    }

    public Captured capture(XzBlockCodec.Preset preset) throws IOException {
        return capture(preset, UnaryOperator.identity());
    }

    /** The standby holds {@code point} durably: retire older checkpoints, commit the maps, free the spool. */
    public void acknowledged(Captured c) throws IOException {
        int point = c.capture().newPoint();
        chain.acknowledge(point);
        DeltaEncoder.acknowledged(spool, maps, uuid,
                c.capture().disks().stream().map(CaptureResult.DiskStats::target).toList(), point);
    }
}
