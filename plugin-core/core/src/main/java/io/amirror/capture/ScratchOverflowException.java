package io.amirror.capture;

/**
 * A point's pull backup was ended because its scratch files would have outgrown their budget
 * ({@link ScratchWatch}): the guest wrote faster than the point was read. The point was discarded
 * and the guest's writes never failed; the message has the bytes. The next attempt should read
 * faster (a faster compression preset).
 */
public final class ScratchOverflowException extends CaptureException {
    public ScratchOverflowException(String message, Throwable cause) {
        super(message, cause);
    }
}
