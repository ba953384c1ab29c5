package io.amirror.capture;

/**
 * A shut-off domain's disks hold nothing new since the base point: no point was made (no bitmap,
 * no checkpoint), and the caller discards what it prepared for one. Not a failure.
 */
public final class NothingChangedException extends CaptureException {
    public NothingChangedException(String message) {
        super(message);
    }
}
