/**
 * Stages ship (primary) and receive (standby): the link. Wire messages
 * ({@link io.amirror.transport.WireMessage}; DESCRIBE's payload {@link io.amirror.transport.ReplicaManifest})
 * with their constants ({@link io.amirror.transport.WireConstants}) and one pure codec per message behind
 * {@link io.amirror.transport.WireCodec} ({@code schemas/wire-protocol.md}),
 * TLS 1.3 with pinned peers ({@link io.amirror.transport.Tls}, {@link io.amirror.transport.Identity}),
 * and shaping ({@link io.amirror.transport.TokenBucket}, {@link io.amirror.util.WeeklyRate} read by the bucket).
 *
 * <p>Entry: {@link io.amirror.transport.Sender} (ships one spooled delta, returns the ACK) and
 * {@link io.amirror.transport.Receiver} (accepts pinned peers within its connection bounds, decodes, hands each message to the
{@link io.amirror.transport.ConnectionHandler} the standby makes for the {@link io.amirror.transport.Peer} the handshake proved).
 * May use: {@code spool}, {@code delta}, {@code state}, {@code util}. Must not use {@code standby} or
 * {@code primary}: what a message does belongs to the side that receives it.
 */
package io.amirror.transport;
