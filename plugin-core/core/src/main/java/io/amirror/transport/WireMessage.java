package io.amirror.transport;

import java.util.List;
import java.util.UUID;

/**
 * The messages of the primary → standby protocol ({@code schemas/wire-protocol.md}). Records only,
 * with no I/O: {@link WireCodec} turns them into frames and back, through one codec per record in
 * {@link MessageCodecs}, which is where each field's checks are. A record added here needs a type
 * code in {@link WireConstants} and a codec, or {@link WireCodec} does not load.
 *
 * <p>Records that hold arrays ({@code byte[]}, {@code long[]} ranges) compare those by identity,
 * as records do: compare their fields, or their encodings.
 */
public sealed interface WireMessage {

    /** Both sides, first: protocol version and a name for logs. */
    record Hello(int version, String host) implements WireMessage {
    }

    /**
     * Sender: here is delta base→new of a disk, {@code size} bytes with this SHA-256, for a disk of
     * {@code virtualSize} bytes; point {@code newPoint} is made of the deltas of {@code pointDisks}
     * (this disk among them), which the standby applies together once it holds them all.
     */
    record Offer(UUID domain, String disk, int basePoint, int newPoint, long size, byte[] sha256, long virtualSize,
                 List<String> pointDisks) implements WireMessage {
        public Offer {
            pointDisks = List.copyOf(pointDisks);
        }

        /** The offer of a point of one disk. */
        public Offer(UUID domain, String disk, int basePoint, int newPoint, long size, byte[] sha256, long virtualSize) {
            this(domain, disk, basePoint, newPoint, size, sha256, virtualSize, List.of(disk));
        }
    }

    /** Receiver: I hold the first {@code offset} bytes of that delta, verified; continue from there. */
    record Resume(long offset) implements WireMessage {
    }

    /** Sender: bytes of the offered delta at {@code offset}. */
    record Data(long offset, byte[] bytes) implements WireMessage {
    }

    /** Sender: that was all of it. */
    record Commit() implements WireMessage {
    }

    /**
     * Receiver: the disk's delta to {@code point} is verified and durably held; once the point's
     * last disk is acknowledged, the whole point is applied and the replica is at {@code point}.
     */
    record Ack(UUID domain, String disk, int point) implements WireMessage {
    }

    /**
     * Sender: how to define the replica domain as of {@code point}: a {@code ReplicaManifest}
     * (the primary's domain XML, the policy's network map and retention) as xz-compressed JSON.
     * Sent after every disk of the point is acknowledged, and only when it changed.
     */
    record Describe(UUID domain, int point, byte[] manifestXz) implements WireMessage {
    }

    /** Receiver: the manifest with this SHA-256 (of its compressed bytes) is stored. */
    record Described(UUID domain, byte[] sha256) implements WireMessage {
    }

    /**
     * Sender: summarise the replica of the disk at {@code point}, in groups of {@code groupBlocks}
     * 4 KiB blocks (verify: nothing but the summary crosses the link).
     */
    record Verify(UUID domain, String disk, int point, int groupBlocks) implements WireMessage {
    }

    /**
     * Receiver, instead of an ACK: the delta's COPY frames name sources that the replica does not
     * hold as the delta expects (it drifted). Nothing was applied; {@code ranges} are the source
     * ranges {@code [offset, length]} that differ, for the primary to send as data and repair.
     */
    record Stale(UUID domain, String disk, int point, List<long[]> ranges) implements WireMessage {
        /** The most ranges one STALE carries; a replica drifted further is repaired in several rounds. */
        public static final int MAX_RANGES = WireConstants.MAX_STALE_RANGES;
    }

    /** Receiver, while it reads the replica for a VERIFY: {@code done} of {@code total} bytes read. */
    record Progress(long done, long total) implements WireMessage {
    }

    /** Receiver: the replica's group digests at {@code point}, 16 bytes per group. */
    record Verified(UUID domain, String disk, int point, byte[] digests) implements WireMessage {
    }

    /**
     * Sender, before the first point of a disk: does the standby hold a seed (an older copy) of it,
     * of {@code virtualSize} bytes? Send its block hashes from {@code firstBlock}.
     */
    record SeedQuery(UUID domain, String disk, long virtualSize, long firstBlock) implements WireMessage {
    }

    /** Receiver: the seed's hashes of {@code blocks} blocks from {@code firstBlock}, xz-compressed, 16 bytes each. */
    record SeedPart(UUID domain, String disk, long firstBlock, int blocks, byte[] hashesXz) implements WireMessage {
    }

    /**
     * Sender, for a planned switchover once the domain is shut down and its final point
     * acknowledged: make the replica at {@code point} the domain on the standby and start it, then
     * replicate it back to {@code backAddress} (HOST:PORT; an empty host means the address this
     * connection comes from) every {@code backIntervalSeconds}, as the peer pinned here. With
     * {@code dryRun}, check that it could, and change nothing.
     */
    record Switchover(UUID domain, int point, boolean dryRun, String backAddress, int backIntervalSeconds)
            implements WireMessage {
    }

    /**
     * Receiver: the replica runs (for a dry run: can run) as libvirt domain {@code name} with
     * {@code uuid}, at {@code point}.
     */
    record Switched(UUID domain, int point, String name, UUID uuid) implements WireMessage {
    }

    /** Receiver: no, with a reason the sender logs and shows in its status. */
    record Refuse(int code, String reason) implements WireMessage {
        public static final int BASE_MISMATCH = 1;
        public static final int NO_SPACE = 2;
        public static final int BAD_DELTA = 3;
        public static final int PROTOCOL = 4;
        public static final int INTERNAL = 5;
        /** The replica was promoted (failed over) on the standby; it receives nothing more. */
        public static final int PROMOTED = 6;
        /** The standby holds no seed of that disk (or one of another size): a plain first sync follows. */
        public static final int NO_SEED = 7;
        /** The replica belongs to another tenant, or this peer may not replicate that domain. */
        public static final int NOT_OWNER = 8;
        /** The request is beyond the standby's bounds (a disk too large, too many disks). */
        public static final int TOO_LARGE = 9;
        /** The replica is in use on the standby: being started as the domain, or its image open in a running process. */
        public static final int IN_USE = 10;
        /** The standby takes no switchover (its configuration's {@code switchover.allow}), or not of this replica now. */
        public static final int NO_SWITCHOVER = 11;

        /**
         * A code as status, metrics and alert rules name it: a word a rule can match
         * ({@code reason="no_space"}), not a number.
         */
        public static String reasonName(int code) {
            return switch (code) {
                case BASE_MISMATCH -> "base_mismatch";
                case NO_SPACE -> "no_space";
                case BAD_DELTA -> "bad_delta";
                case PROTOCOL -> "protocol";
                case INTERNAL -> "internal";
                case PROMOTED -> "promoted";
                case NO_SEED -> "no_seed";
                case NOT_OWNER -> "not_owner";
                case TOO_LARGE -> "too_large";
                case IN_USE -> "in_use";
                case NO_SWITCHOVER -> "no_switchover";
                default -> "code_" + code;
            };
        }
    }
}
