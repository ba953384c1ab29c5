package io.amirror.standby;

import io.amirror.delta.ReplicaHashMap;
import io.amirror.delta.XzBlockCodec;
import io.amirror.transport.WireCodec;
import io.amirror.transport.WireMessage;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.transport.WireMessage.SeedPart;
import io.amirror.transport.WireMessage.SeedQuery;

import java.io.IOException;
import java.nio.file.Files;

/**
 * Answers a SEED_QUERY: the block hashes of a seed adopted for a disk ({@code amirror seed adopt},
 * {@link ReplicaDisk#adopt}), a part at a time, xz-compressed. Only a replica that has applied no
 * point yet has a seed, and only a seed of the disk's size is a copy of it.
 */
final class SeedAnswer {
    private static final XzBlockCodec.Preset PRESET = new XzBlockCodec.Preset(6, false);

    private SeedAnswer() {
    }

    static WireMessage of(ReplicaDisk disk, SeedQuery q) throws IOException {
        if (disk.state().point() != 0 || !Files.exists(disk.seedMap())) {
            return new Refuse(Refuse.NO_SEED, "no seed of " + q.domain() + " " + q.disk() + " on the standby");
        }
        try (ReplicaHashMap map = ReplicaHashMap.openExisting(disk.seedMap())) {
            if (map.virtualSize() != q.virtualSize()) {
                return new Refuse(Refuse.NO_SEED, "the seed of " + q.domain() + " " + q.disk() + " has "
                        + map.virtualSize() + " bytes, the disk " + q.virtualSize() + ": not a copy of it");
            }
            if (q.firstBlock() >= map.blocks()) {
                return new Refuse(Refuse.PROTOCOL, "block " + q.firstBlock() + " is past the seed's " + map.blocks());
            }
            int n = (int) Math.min(WireCodec.SEED_BLOCKS, map.blocks() - q.firstBlock());
            byte[] hashes = map.read(q.firstBlock(), n);
            return new SeedPart(q.domain(), q.disk(), q.firstBlock(), n, XzBlockCodec.compress(hashes, hashes.length, PRESET));
        }
    }
}
