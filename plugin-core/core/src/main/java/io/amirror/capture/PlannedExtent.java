package io.amirror.capture;

/** A range of a disk that the standby must change: either to new bytes (DATA) or to zeroes (ZERO). */
public record PlannedExtent(long offset, long length, Kind kind) {

    public enum Kind { DATA, ZERO }

    public PlannedExtent {
        if (offset < 0 || length <= 0) {
            throw new IllegalArgumentException("bad extent [" + offset + ", +" + length + ")");
        }
    }

    public long end() {
        return offset + length;
    }
}
