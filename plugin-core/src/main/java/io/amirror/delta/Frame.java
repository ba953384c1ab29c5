package io.amirror.delta;

/** One change to a disk. Frames of a delta are in increasing offset order and never overlap. */
public sealed interface Frame permits Frame.Data, Frame.Zero {

    long offset();

    long length();

    default long end() {
        return offset() + length();
    }

    /** New bytes at {@code offset}. */
    record Data(long offset, byte[] payload) implements Frame {
        @Override
        public long length() {
            return payload.length;
        }
    }

    /** {@code length} bytes of zeroes at {@code offset}: a trim, a zero-fill, a hole. */
    record Zero(long offset, long length) implements Frame {
    }
}
