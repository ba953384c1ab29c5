package io.amirror.transport;

import io.amirror.transport.WireMessage.Ack;
import io.amirror.transport.WireMessage.Commit;
import io.amirror.transport.WireMessage.Data;
import io.amirror.transport.WireMessage.Describe;
import io.amirror.transport.WireMessage.Described;
import io.amirror.transport.WireMessage.Hello;
import io.amirror.transport.WireMessage.Offer;
import io.amirror.transport.WireMessage.Progress;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.transport.WireMessage.Resume;
import io.amirror.transport.WireMessage.SeedPart;
import io.amirror.transport.WireMessage.SeedQuery;
import io.amirror.transport.WireMessage.Switched;
import io.amirror.transport.WireMessage.Switchover;
import io.amirror.transport.WireMessage.Stale;
import io.amirror.transport.WireMessage.Verified;
import io.amirror.transport.WireMessage.Verify;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import static io.amirror.transport.WireConstants.BLOCK_SIZE;
import static io.amirror.transport.WireConstants.GROUP_DIGEST_LENGTH;
import static io.amirror.transport.WireConstants.MAX_CHUNK;
import static io.amirror.transport.WireConstants.MAX_GROUPS;
import static io.amirror.transport.WireConstants.MAX_PAYLOAD;
import static io.amirror.transport.WireConstants.MAX_STALE_RANGES;
import static io.amirror.transport.WireConstants.MIN_GROUP_BLOCKS;
import static io.amirror.transport.WireConstants.SEED_BLOCKS;
import static io.amirror.transport.WireConstants.SHA256_LENGTH;
import static io.amirror.transport.WireConstants.STALE_RANGE_LENGTH;

/**
 * One codec per message, in type-code order, each the payload row of the spec's type table
 * ({@code schemas/wire-protocol.md}) in code. A new message is a record in {@link WireMessage}, a
 * type code in {@link WireConstants}, a codec here and an entry in {@link #ALL}; {@link WireCodec}
 * refuses to load if a record has no codec, and the tests fail first.
 */
final class MessageCodecs {

    static final List<MessageCodec<?>> ALL = List.of(new HelloCodec(), new OfferCodec(), new ResumeCodec(),
            new DataCodec(), new CommitCodec(), new AckCodec(), new RefuseCodec(), new DescribeCodec(),
            new DescribedCodec(), new VerifyCodec(), new VerifiedCodec(), new SeedQueryCodec(), new SeedPartCodec(),
            new ProgressCodec(), new StaleCodec(), new SwitchoverCodec(), new SwitchedCodec());

    private MessageCodecs() {
    }

    /** Version u16 and host name. Any version decodes: the receiver answers a wrong one with a REFUSE. */
    static final class HelloCodec extends MessageCodec<Hello> {
        HelloCodec() {
            super(WireConstants.HELLO, "HELLO", Hello.class);
        }

        @Override
        void write(Hello m, PayloadWriter out) {
            out.u16("version", m.version());
            out.string("host", m.host());
        }

        @Override
        Hello read(PayloadReader in) throws WireProtocolException {
            int version = in.u16("version");
            return new Hello(version, in.string("host"));
        }
    }

    /**
     * Domain, disk, base point, new point (above the base), delta size (above 0), delta SHA-256,
     * disk size (above 0), then the point's disks: a count (1 to 64) and that many distinct names,
     * this disk among them.
     */
    static final class OfferCodec extends MessageCodec<Offer> {
        OfferCodec() {
            super(WireConstants.OFFER, "OFFER", Offer.class);
        }

        @Override
        void write(Offer m, PayloadWriter out) {
            out.uuid(m.domain());
            out.string("disk", m.disk());
            out.int32(m.basePoint());
            out.int32(m.newPoint());
            out.int64(m.size());
            out.fixed("sha256", m.sha256(), SHA256_LENGTH);
            out.int64(m.virtualSize());
            out.int32(m.pointDisks().size());
            m.pointDisks().forEach(d -> out.string("point disk", d));
        }

        @Override
        Offer read(PayloadReader in) throws WireProtocolException {
            UUID domain = in.uuid("domain");
            String disk = in.diskName();
            int base = in.basePoint("base point");
            int next = in.point("new point");
            if (next <= base) {
                throw in.malformed("new point " + next + " is not after base point " + base);
            }
            long size = in.int64("delta size", 1, Long.MAX_VALUE);
            byte[] sha = in.fixed("sha256", SHA256_LENGTH);
            long virtualSize = in.int64("disk size", 1, Long.MAX_VALUE);
            int n = in.count("point disk", 1, WireConstants.MAX_POINT_DISKS, 2);
            List<String> disks = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                String d = in.diskName();
                if (disks.contains(d)) {
                    throw in.malformed("point disk '" + d + "' is listed twice");
                }
                disks.add(d);
            }
            if (!disks.contains(disk)) {
                throw in.malformed("the point's disks " + disks + " do not include the offered disk " + disk);
            }
            return new Offer(domain, disk, base, next, size, sha, virtualSize, disks);
        }
    }

    /** The offset the receiver holds the delta up to. */
    static final class ResumeCodec extends MessageCodec<Resume> {
        ResumeCodec() {
            super(WireConstants.RESUME, "RESUME", Resume.class);
        }

        @Override
        void write(Resume m, PayloadWriter out) {
            out.int64(m.offset());
        }

        @Override
        Resume read(PayloadReader in) throws WireProtocolException {
            return new Resume(in.offset("offset"));
        }
    }

    /** Offset, then up to {@link WireConstants#MAX_CHUNK} bytes of the delta (the rest of the frame). */
    static final class DataCodec extends MessageCodec<Data> {
        DataCodec() {
            super(WireConstants.DATA, "DATA", Data.class);
        }

        @Override
        void write(Data m, PayloadWriter out) {
            out.int64(m.offset());
            out.bytes(m.bytes());
        }

        @Override
        Data read(PayloadReader in) throws WireProtocolException {
            long offset = in.offset("offset");
            return new Data(offset, in.rest("delta bytes", 0, MAX_CHUNK));
        }
    }

    /** Empty. */
    static final class CommitCodec extends MessageCodec<Commit> {
        CommitCodec() {
            super(WireConstants.COMMIT, "COMMIT", Commit.class);
        }

        @Override
        void write(Commit m, PayloadWriter out) {
        }

        @Override
        Commit read(PayloadReader in) {
            return new Commit();
        }
    }

    /** Domain, disk, the point the replica is durably at. */
    static final class AckCodec extends MessageCodec<Ack> {
        AckCodec() {
            super(WireConstants.ACK, "ACK", Ack.class);
        }

        @Override
        void write(Ack m, PayloadWriter out) {
            out.uuid(m.domain());
            out.string("disk", m.disk());
            out.int32(m.point());
        }

        @Override
        Ack read(PayloadReader in) throws WireProtocolException {
            UUID domain = in.uuid("domain");
            String disk = in.diskName();
            return new Ack(domain, disk, in.point("point"));
        }
    }

    /**
     * Code u16 (any: a newer peer may know more codes) and reason. A reason too long for a string
     * field is cut, not refused: the refusal is what matters and must always be sendable.
     */
    static final class RefuseCodec extends MessageCodec<Refuse> {
        RefuseCodec() {
            super(WireConstants.REFUSE, "REFUSE", Refuse.class);
        }

        @Override
        void write(Refuse m, PayloadWriter out) {
            out.u16("code", m.code());
            out.string("reason", PayloadWriter.cutToFit(m.reason()));
        }

        @Override
        Refuse read(PayloadReader in) throws WireProtocolException {
            int code = in.u16("code");
            return new Refuse(code, in.string("reason"));
        }
    }

    /** Domain, point, then the xz-compressed manifest (1 byte to {@link WireConstants#MAX_CHUNK}). */
    static final class DescribeCodec extends MessageCodec<Describe> {
        DescribeCodec() {
            super(WireConstants.DESCRIBE, "DESCRIBE", Describe.class);
        }

        @Override
        void write(Describe m, PayloadWriter out) {
            out.uuid(m.domain());
            out.int32(m.point());
            out.bytes(m.manifestXz());
        }

        @Override
        Describe read(PayloadReader in) throws WireProtocolException {
            UUID domain = in.uuid("domain");
            int point = in.point("point");
            return new Describe(domain, point, in.rest("manifest", 1, MAX_CHUNK));
        }
    }

    /** Domain and the SHA-256 of the stored manifest's compressed bytes. */
    static final class DescribedCodec extends MessageCodec<Described> {
        DescribedCodec() {
            super(WireConstants.DESCRIBED, "DESCRIBED", Described.class);
        }

        @Override
        void write(Described m, PayloadWriter out) {
            out.uuid(m.domain());
            out.fixed("sha256", m.sha256(), SHA256_LENGTH);
        }

        @Override
        Described read(PayloadReader in) throws WireProtocolException {
            UUID domain = in.uuid("domain");
            return new Described(domain, in.fixed("sha256", SHA256_LENGTH));
        }
    }

    /** Domain, disk, point, group size in blocks (at least {@link WireConstants#MIN_GROUP_BLOCKS}). */
    static final class VerifyCodec extends MessageCodec<Verify> {
        VerifyCodec() {
            super(WireConstants.VERIFY, "VERIFY", Verify.class);
        }

        @Override
        void write(Verify m, PayloadWriter out) {
            out.uuid(m.domain());
            out.string("disk", m.disk());
            out.int32(m.point());
            out.int32(m.groupBlocks());
        }

        @Override
        Verify read(PayloadReader in) throws WireProtocolException {
            UUID domain = in.uuid("domain");
            String disk = in.diskName();
            int point = in.point("point");
            return new Verify(domain, disk, point, in.int32("group blocks", MIN_GROUP_BLOCKS, Integer.MAX_VALUE));
        }
    }

    /** Domain, disk, point, then 16 bytes per group, at most {@link WireConstants#MAX_GROUPS} groups. */
    static final class VerifiedCodec extends MessageCodec<Verified> {
        VerifiedCodec() {
            super(WireConstants.VERIFIED, "VERIFIED", Verified.class);
        }

        @Override
        void write(Verified m, PayloadWriter out) {
            out.uuid(m.domain());
            out.string("disk", m.disk());
            out.int32(m.point());
            out.bytes(m.digests());
        }

        @Override
        Verified read(PayloadReader in) throws WireProtocolException {
            UUID domain = in.uuid("domain");
            String disk = in.diskName();
            int point = in.point("point");
            return new Verified(domain, disk, point, in.records("digests", GROUP_DIGEST_LENGTH, MAX_GROUPS));
        }
    }

    /** Domain, disk, disk size (above 0), first block. */
    static final class SeedQueryCodec extends MessageCodec<SeedQuery> {
        SeedQueryCodec() {
            super(WireConstants.SEED_QUERY, "SEED_QUERY", SeedQuery.class);
        }

        @Override
        void write(SeedQuery m, PayloadWriter out) {
            out.uuid(m.domain());
            out.string("disk", m.disk());
            out.int64(m.virtualSize());
            out.int64(m.firstBlock());
        }

        @Override
        SeedQuery read(PayloadReader in) throws WireProtocolException {
            UUID domain = in.uuid("domain");
            String disk = in.diskName();
            long size = in.int64("disk size", 1, Long.MAX_VALUE);
            return new SeedQuery(domain, disk, size, in.offset("first block"));
        }
    }

    /** Domain, disk, first block, block count (1 to {@link WireConstants#SEED_BLOCKS}), then the xz-compressed hashes. */
    static final class SeedPartCodec extends MessageCodec<SeedPart> {
        SeedPartCodec() {
            super(WireConstants.SEED_PART, "SEED_PART", SeedPart.class);
        }

        @Override
        void write(SeedPart m, PayloadWriter out) {
            out.uuid(m.domain());
            out.string("disk", m.disk());
            out.int64(m.firstBlock());
            out.int32(m.blocks());
            out.bytes(m.hashesXz());
        }

        @Override
        SeedPart read(PayloadReader in) throws WireProtocolException {
            UUID domain = in.uuid("domain");
            String disk = in.diskName();
            long first = in.offset("first block");
            int blocks = in.int32("block count", 1, SEED_BLOCKS);
            return new SeedPart(domain, disk, first, blocks, in.rest("compressed hashes", 1, MAX_PAYLOAD));
        }
    }

    /** Bytes done and total, done at most total. */
    static final class ProgressCodec extends MessageCodec<Progress> {
        ProgressCodec() {
            super(WireConstants.PROGRESS, "PROGRESS", Progress.class);
        }

        @Override
        void write(Progress m, PayloadWriter out) {
            out.int64(m.done());
            out.int64(m.total());
        }

        @Override
        Progress read(PayloadReader in) throws WireProtocolException {
            long done = in.offset("bytes done");
            return new Progress(done, in.int64("bytes total", done, Long.MAX_VALUE));
        }
    }

    /**
     * Domain, disk, point, a count of ranges (1 to {@link WireConstants#MAX_STALE_RANGES}), then per
     * range offset and length, both whole 4 KiB blocks.
     */
    static final class StaleCodec extends MessageCodec<Stale> {
        StaleCodec() {
            super(WireConstants.STALE, "STALE", Stale.class);
        }

        @Override
        void write(Stale m, PayloadWriter out) {
            out.uuid(m.domain());
            out.string("disk", m.disk());
            out.int32(m.point());
            out.int32(m.ranges().size());
            for (long[] r : m.ranges()) {
                out.int64(r[0]);
                out.int64(r[1]);
            }
        }

        @Override
        Stale read(PayloadReader in) throws WireProtocolException {
            UUID domain = in.uuid("domain");
            String disk = in.diskName();
            int point = in.point("point");
            int n = in.count("ranges", 1, MAX_STALE_RANGES, STALE_RANGE_LENGTH);
            List<long[]> ranges = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                long offset = in.offset("range offset");
                long length = in.int64("range length", 1, Long.MAX_VALUE);
                if (offset % BLOCK_SIZE != 0 || length % BLOCK_SIZE != 0 || offset > Long.MAX_VALUE - length) {
                    throw in.malformed("range " + offset + "+" + length + " is not whole blocks of " + BLOCK_SIZE
                            + " bytes on the disk");
                }
                ranges.add(new long[] {offset, length});
            }
            return new Stale(domain, disk, point, List.copyOf(ranges));
        }
    }

    /** Domain, point, dry run (u16 0 or 1), back address (HOST:PORT, host may be empty), back interval in seconds. */
    static final class SwitchoverCodec extends MessageCodec<Switchover> {
        SwitchoverCodec() {
            super(WireConstants.SWITCHOVER, "SWITCHOVER", Switchover.class);
        }

        @Override
        void write(Switchover m, PayloadWriter out) {
            out.uuid(m.domain());
            out.int32(m.point());
            out.u16("dry run", m.dryRun() ? 1 : 0);
            out.string("back address", m.backAddress());
            out.int32(m.backIntervalSeconds());
        }

        @Override
        Switchover read(PayloadReader in) throws WireProtocolException {
            UUID domain = in.uuid("domain");
            int point = in.point("point");
            int dry = in.u16("dry run");
            if (dry > 1) {
                throw in.malformed("dry run is " + dry + ", not 0 or 1");
            }
            String back = in.string("back address");
            return new Switchover(domain, point, dry == 1, back,
                    in.int32("back interval", 10, WireConstants.MAX_BACK_INTERVAL_SECONDS));
        }
    }

    /** Domain, point, the replica domain's name and UUID. */
    static final class SwitchedCodec extends MessageCodec<Switched> {
        SwitchedCodec() {
            super(WireConstants.SWITCHED, "SWITCHED", Switched.class);
        }

        @Override
        void write(Switched m, PayloadWriter out) {
            out.uuid(m.domain());
            out.int32(m.point());
            out.string("name", m.name());
            out.uuid(m.uuid());
        }

        @Override
        Switched read(PayloadReader in) throws WireProtocolException {
            UUID domain = in.uuid("domain");
            int point = in.point("point");
            String name = in.string("name");
            return new Switched(domain, point, name, in.uuid("uuid"));
        }
    }
}
