package io.amirror.transport;

/**
 * How one {@link WireMessage} type crosses the wire: its type code, its payload's fields in order
 * ({@link #write}), and how they are read back and checked ({@link #read}). One subclass per
 * record, all in {@link MessageCodecs}; {@link WireCodec} looks them up by type code and by class.
 *
 * <p>A subclass writes and reads the same fields in the same order, using only the field methods
 * of {@link PayloadWriter} and {@link PayloadReader}, so that every message gets the same checks
 * for the same kind of field. Checks that relate fields (a new point above the base) go in
 * {@link #read} with {@link PayloadReader#malformed}.
 */
abstract class MessageCodec<M extends WireMessage> {
    /** The frame's type byte. */
    final int type;
    /** The message's name in the spec and in error messages: OFFER, SEED_PART. */
    final String name;
    final Class<M> messageClass;

    MessageCodec(int type, String name, Class<M> messageClass) {
        this.type = type;
        this.name = name;
        this.messageClass = messageClass;
    }

    /** Writes the payload's fields of {@code m}; called once to count and once to write. */
    abstract void write(M m, PayloadWriter out);

    /** Reads and checks the payload's fields; {@link #decode} checks that nothing is left over. */
    abstract M read(PayloadReader in) throws WireProtocolException;

    final int payloadSize(M m) {
        PayloadWriter counter = PayloadWriter.counting();
        write(m, counter);
        return counter.size();
    }

    /** The message in {@code payload}, which it must fill exactly; anything else is a {@link WireProtocolException}. */
    final M decode(byte[] payload) throws WireProtocolException {
        PayloadReader in = new PayloadReader(name, payload);
        M m = read(in);
        in.end();
        return m;
    }
}
