package io.amirror.libvirt;

/**
 * The chain cannot continue incrementally: a bitmap is missing, inconsistent after a host crash,
 * or left behind by a chain whose metadata was lost. Recovery: {@link CheckpointChain#reset()} starts
 * a new chain (the next capture is a full one; a later release compares hashes instead).
 */
public class ChainBrokenException extends ChainException {
    public ChainBrokenException(String message, Throwable cause) {
        super(message, cause);
    }
}
