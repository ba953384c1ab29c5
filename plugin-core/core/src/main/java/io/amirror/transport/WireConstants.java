package io.amirror.transport;

import io.amirror.delta.DeltaFormat;
import io.amirror.delta.GroupDigests;

/**
 * Every number of the wire protocol, each next to the section of {@code schemas/wire-protocol.md}
 * that defines it. The spec and this class must agree; {@code WireSpecTest} checks the type table
 * and the frame limit against the spec's text. Changing any value here changes the protocol: it
 * needs a new {@link #VERSION}.
 */
public final class WireConstants {

    /** The protocol version both sides send in HELLO ("Frames", HELLO row). */
    public static final int VERSION = 2;

    /** Bytes before every payload: type (u8) and payload length (u32) ("Frames"). */
    public static final int FRAME_HEADER = 1 + 4;
    /** The largest payload a frame may announce; a larger one is refused before allocation ("Frames"). */
    public static final int MAX_PAYLOAD = (1 << 20) + 64;
    /** The most delta bytes in one DATA frame, and the largest DESCRIBE manifest ("Frames", DATA and DESCRIBE). */
    public static final int MAX_CHUNK = 1 << 20;
    /** The most UTF-8 bytes of any string field (host name, disk name, reason) ("Frames"). */
    public static final int MAX_STRING = 4096;
    /** Length of the SHA-256 digests in OFFER and DESCRIBED ("Frames"). */
    public static final int SHA256_LENGTH = 32;
    /** Blocks per SEED_PART: 512 KiB of hashes, well inside a frame even if xz cannot shrink them ("Seeds"). */
    public static final int SEED_BLOCKS = 32768;
    /** The most ranges one STALE carries; a replica drifted further is repaired in several rounds ("Frames", STALE). */
    public static final int MAX_STALE_RANGES = 32768;
    /** The most disks one point may have, so the most names an OFFER lists ("Frames", OFFER). */
    public static final int MAX_POINT_DISKS = 64;
    /** Bytes per STALE range: offset u64, length u64 ("Frames", STALE). */
    static final int STALE_RANGE_LENGTH = 8 + 8;

    // Limits shared with the delta format and verify, named here so that the whole wire is in one place.

    /** Disk names: {@code [a-z][a-z0-9]*}, at most this long ("Frames", OFFER). */
    public static final int MAX_DISK_NAME = DeltaFormat.MAX_TARGET_LENGTH;
    /** STALE ranges are whole 4 KiB blocks ("Frames", STALE). */
    public static final int BLOCK_SIZE = DeltaFormat.BLOCK_SIZE;
    /** Bytes per group digest in VERIFIED ("Verify"). */
    public static final int GROUP_DIGEST_LENGTH = GroupDigests.LENGTH;
    /** The smallest VERIFY group, in 4 KiB blocks ("Verify"). */
    public static final int MIN_GROUP_BLOCKS = GroupDigests.MIN_GROUP_BLOCKS;
    /** The most groups one VERIFIED carries ("Verify"). */
    public static final int MAX_GROUPS = GroupDigests.MAX_GROUPS;

    // Frame types ("Frames", the type table). Each is used by exactly one codec in MessageCodecs.

    static final int HELLO = 1;
    static final int OFFER = 2;
    static final int RESUME = 3;
    static final int DATA = 4;
    static final int COMMIT = 5;
    static final int ACK = 6;
    static final int REFUSE = 7;
    static final int DESCRIBE = 8;
    static final int DESCRIBED = 9;
    static final int VERIFY = 10;
    static final int VERIFIED = 11;
    static final int SEED_QUERY = 12;
    static final int SEED_PART = 13;
    static final int PROGRESS = 14;
    static final int STALE = 15;
    static final int SWITCHOVER = 16;
    static final int SWITCHED = 17;
    /** The longest planned switchover a standby may be asked for between points: a week. */
    public static final int MAX_BACK_INTERVAL_SECONDS = 7 * 24 * 3600;

    private WireConstants() {
    }
}
