package io.amirror.delta;

import java.util.Arrays;

/** One change to a disk. Frames of a delta are in increasing offset order and never overlap. */
public sealed interface Frame permits Frame.Data, Frame.Zero, Frame.Copy {

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

    /**
     * Whole 4 KiB blocks at {@code offset} that the replica holds already at {@code source}, as of
     * the delta's base point; {@code hashes} holds each source block's 16-byte hash, which the
     * standby checks before it copies (and which is the block's resulting hash).
     */
    record Copy(long offset, long source, byte[] hashes) implements Frame {
        @Override
        public long length() {
            return (long) blocks() * DeltaFormat.BLOCK_SIZE;
        }

        public int blocks() {
            return hashes.length / BlockHash.LENGTH;
        }

        /** The hash of the {@code i}-th block. */
        public byte[] hash(int i) {
            return Arrays.copyOfRange(hashes, i * BlockHash.LENGTH, (i + 1) * BlockHash.LENGTH);
        }
    }
}
