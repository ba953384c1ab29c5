package io.amirror.transport;

import io.amirror.transport.WireMessage.Data;
import io.amirror.transport.WireMessage.Describe;
import io.amirror.transport.WireMessage.Offer;
import io.amirror.transport.WireMessage.SeedQuery;
import io.amirror.transport.WireMessage.Verify;

import java.io.IOException;

/**
 * What the standby does with the requests of one connection. {@link Receiver} owns the socket: it
 * shakes hands, decodes each frame, keeps the protocol's order and writes back what a method here
 * returns. The implementation never sees a socket or a byte of framing; it only answers.
 *
 * <p>One handler serves one connection, called from that connection's thread only, so it may keep
 * the state of the transfer in progress. The order of calls follows the wire protocol
 * ({@code schemas/wire-protocol.md}):
 * <ul>
 *   <li>{@link #offer} answers RESUME (send the bytes from there), ACK (the delta was applied
 *       before) or REFUSE. After a RESUME, and only then, come {@link #data} calls with the bytes
 *       in order (the receiver checked that each follows on the last and stays within the
 *       offered size), then one {@link #commit}.</li>
 *   <li>{@link #describe}, {@link #seedQuery}, {@link #verify} and {@link #switchover} are single exchanges between
 *       transfers.</li>
 *   <li>{@link #close} ends the connection, also in the middle of a transfer (a cut link): what
 *       was received must stay for the primary's resume.</li>
 * </ul>
 * An {@link IOException} thrown here ends the connection; a refusal is an answer, not an exception.
 */
public interface ConnectionHandler extends AutoCloseable {

    /** Tells the primary how far a long answer has come (VERIFY reads a whole replica first). */
    @FunctionalInterface
    interface ProgressReport {
        void progress(long done, long total) throws IOException;
    }

    /** OFFER: RESUME at the offset held, ACK of a delta applied before, or REFUSE. */
    WireMessage offer(Offer offer) throws IOException;

    /** DATA of the offered delta, at exactly the end of what the transfer holds. */
    void data(Data data) throws IOException;

    /** COMMIT: the bytes are all there. ACK once verified and applied, STALE or REFUSE. */
    WireMessage commit() throws IOException;

    /** DESCRIBE: DESCRIBED once the manifest is stored, or REFUSE. */
    WireMessage describe(Describe describe) throws IOException;

    /**
     * The answer to {@code describe} is on the wire: what may be slow and need not keep the
     * primary waiting for its answer (defining the replica domain) happens here.
     */
    default void described(Describe describe) {
    }

    /** SEED_QUERY: a part of a seed's block hashes, or REFUSE (NO_SEED when there is none). */
    WireMessage seedQuery(SeedQuery query) throws IOException;

    /** VERIFY: the replica's group digests (VERIFIED), or REFUSE; progress goes back as it reads. */
    WireMessage verify(Verify verify, ProgressReport progress) throws IOException;

    /**
     * SWITCHOVER: SWITCHED once the replica runs as the domain (a dry run: once it could), or
     * REFUSE. A handler that takes none refuses.
     */
    default WireMessage switchover(WireMessage.Switchover switchover) throws IOException {
        return new WireMessage.Refuse(WireMessage.Refuse.NO_SWITCHOVER, "this standby takes no switchover");
    }

    /** The connection ended; a transfer in progress keeps what it received. */
    @Override
    void close() throws IOException;
}
