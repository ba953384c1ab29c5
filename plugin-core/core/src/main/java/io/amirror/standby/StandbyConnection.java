package io.amirror.standby;

import io.amirror.transport.ReplicaManifest;

import io.amirror.transport.ConnectionHandler;
import io.amirror.transport.Peer;
import io.amirror.transport.WireMessage;
import io.amirror.transport.WireMessage.Data;
import io.amirror.transport.WireMessage.Describe;
import io.amirror.transport.WireMessage.Described;
import io.amirror.transport.WireMessage.Offer;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.transport.WireMessage.SeedQuery;
import io.amirror.transport.WireMessage.Verify;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.function.Consumer;

/**
 * The standby's answers to one primary's connection: deltas received and applied
 * ({@link IncomingTransfer}), manifests stored, seeds ({@link SeedAnswer}) and verifies
 * ({@link VerifyAnswer}) answered. Each request runs under its domain's locks ({@link Replicas});
 * a replica promoted on this standby is refused everything.
 */
final class StandbyConnection implements ConnectionHandler {
    private static final Logger log = LoggerFactory.getLogger(StandbyConnection.class);

    private final Replicas replicas;
    private final Peer peer;
    private final Consumer<ReplicaDomain> definer;
    private final SwitchoverAnswer.Settings switchovers;
    private final StandbyMetrics metrics;
    private IncomingTransfer transfer;
    private java.util.UUID transferDomain;

    /**
     * The connection of {@code peer}; {@code definer} hears of each stored manifest, outside every
     * lock, to define the replica domain; {@code switchovers} says whether and how it takes a
     * switchover.
     */
    StandbyConnection(Replicas replicas, Peer peer, Consumer<ReplicaDomain> definer,
                      SwitchoverAnswer.Settings switchovers, StandbyMetrics metrics) {
        this.replicas = replicas;
        this.peer = peer;
        this.definer = definer;
        this.switchovers = switchovers;
        this.metrics = metrics;
    }

    @Override
    public WireMessage offer(Offer offer) throws IOException {
        IncomingTransfer.Admission a = IncomingTransfer.admit(offer, peer, replicas);
        transfer = a.transfer();
        transferDomain = offer.domain();
        return metrics.answered(null, a.answer()); // an ACK here is of a delta applied before: counted then
    }

    @Override
    public void data(Data data) throws IOException {
        transfer().data(data.bytes());
        metrics.received(transferDomain, data.bytes().length);
    }

    @Override
    public WireMessage commit() throws IOException {
        IncomingTransfer t = transfer();
        transfer = null;
        return metrics.answered(transferDomain, t.commit());
    }

    private IncomingTransfer transfer() {
        if (transfer == null) {
            throw new IllegalStateException("no transfer in progress"); // the receiver keeps the order
        }
        return transfer;
    }

    @Override
    public WireMessage describe(Describe d) {
        return metrics.answered(d.domain(), replicas.locked(peer, d.domain(), "storing the manifest", rd -> store(rd, d)));
    }

    /**
     * Stores the manifest a DESCRIBE carries, once it checks out, matches what DESCRIBE announced,
     * and names the domain as the peer's tenant may.
     */
    private WireMessage store(ReplicaDomain rd, Describe d) throws IOException {
        if (rd.owner().isEmpty()) {
            return new Refuse(Refuse.BASE_MISMATCH, "no point of " + d.domain() + " has arrived on this standby: "
                    + "a description follows the first point");
        }
        ReplicaManifest m;
        try {
            m = ReplicaManifest.fromXz(d.manifestXz());
            if (!m.bridged()) {
                ReplicaDefinition.parse(m.domainXml()); // well-formed, no DTD, a <domain>
            }
        } catch (IOException e) {
            return new Refuse(Refuse.BAD_DELTA, e.getMessage());
        }
        if (!m.uuid().equals(d.domain()) || m.point() != d.point()) {
            return new Refuse(Refuse.BAD_DELTA, "the manifest describes " + m.uuid() + " at point " + m.point()
                    + ", not what DESCRIBE announced");
        }
        replicas.tenancy().checkName(rd, peer, m, replicas.all());
        rd.storeManifest(m);
        return new Described(d.domain(), sha256(d.manifestXz()));
    }

    @Override
    public void described(Describe d) {
        try {
            definer.accept(replicas.domain(d.domain()));
        } catch (RuntimeException e) {
            log.error("defining the replica of {} failed", d.domain(), e);
        }
    }

    @Override
    public WireMessage seedQuery(SeedQuery q) {
        return metrics.answered(q.domain(), replicas.locked(peer, q.domain(), "seed of " + q.disk(),
                rd -> SeedAnswer.of(replicas.diskAsConfigured(rd, q.disk()), q)));
    }

    @Override
    public WireMessage verify(Verify v, ProgressReport progress) {
        return metrics.answered(v.domain(), replicas.locked(peer, v.domain(), "verify of " + v.disk(),
                rd -> VerifyAnswer.of(replicas.diskAsConfigured(rd, v.disk()), v, replicas.tools(), progress)));
    }

    @Override
    public WireMessage switchover(WireMessage.Switchover s) {
        return metrics.answered(s.domain(), SwitchoverAnswer.of(replicas, peer, s, switchovers));
    }

    @Override
    public void close() throws IOException {
        if (transfer != null) {
            IncomingTransfer t = transfer;
            transfer = null;
            t.close();
        }
    }

    private static byte[] sha256(byte[] bytes) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
