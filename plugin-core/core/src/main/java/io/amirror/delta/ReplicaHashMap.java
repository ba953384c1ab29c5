package io.amirror.delta;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.Set;

/**
 * A strong hash ({@link BlockHash}, 16 bytes) of every 4 KiB block of one disk as the standby holds
 * it at the last acknowledged point: the primary's knowledge of the replica. A dirty block whose
 * new hash equals the map's is not sent. 16 bytes per 4 KiB is 0.4 % of the disk.
 *
 * <p>File: a 64-byte header (magic {@code AMHMAP1\n}, version 1, block size, virtual size, point)
 * then one entry per block. An all-zero entry means "unknown" and never matches. A map of another
 * version is refused, never rewritten. This class is the only writer of the map and its journals.
 *
 * <p>The map changes only when the standby acknowledges a point. While a delta is encoded its
 * resulting hashes go to a journal ({@link Journal}, {@code <map>.pending-<point>}); on the ack,
 * {@link #commit(int)} applies the journal and then records the point. The updates are idempotent
 * ("block b has hash h"), so a crash at any moment is repaired by applying the journal again: call
 * {@link #recover(int)} with the acknowledged point on start.
 */
public final class ReplicaHashMap implements AutoCloseable {
    static final long MAGIC = 0x414D484D4150310AL; // "AMHMAP1\n"
    static final int VERSION = 1;
    static final int HEADER = 64;
    private static final byte[] UNKNOWN = new byte[BlockHash.LENGTH];
    /** Hashes say what the disk holds, block by block: the map and its journals are the owner's only. */
    private static final FileAttribute<Set<PosixFilePermission>> PRIVATE =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"));

    private final Path file;
    private final FileChannel ch;
    private long virtualSize;
    private int point;

    private ReplicaHashMap(Path file, FileChannel ch, long virtualSize, int point) {
        this.file = file;
        this.ch = ch;
        this.virtualSize = virtualSize;
        this.point = point;
    }

    /** Opens the map of a disk, creating an all-unknown one when there is none. */
    public static ReplicaHashMap open(Path file, long virtualSize) throws IOException {
        boolean exists = Files.exists(file);
        FileChannel ch = FileChannel.open(file, Set.of(StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE), PRIVATE);
        try {
            if (!exists || ch.size() == 0) {
                ReplicaHashMap m = new ReplicaHashMap(file, ch, virtualSize, 0);
                ch.truncate(0);
                m.writeHeader();
                ch.write(ByteBuffer.allocate(1), HEADER + entries(virtualSize) * BlockHash.LENGTH - 1);
                ch.force(true);
                return m;
            }
            long[] header = readHeader(ch, file);
            long size = header[0];
            int p = (int) header[1];
            if (ch.size() != HEADER + entries(size) * BlockHash.LENGTH) {
                throw new IOException(file + " is " + ch.size() + " bytes, its header implies "
                        + (HEADER + entries(size) * BlockHash.LENGTH) + ": truncated or corrupt");
            }
            ReplicaHashMap m = new ReplicaHashMap(file, ch, size, p);
            if (size != virtualSize) {
                m.resize(virtualSize);
            }
            return m;
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** Opens an existing map at whatever size it has. */
    public static ReplicaHashMap openExisting(Path file) throws IOException {
        if (!Files.exists(file)) {
            throw new NoSuchFileException(file.toString());
        }
        long size;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            size = readHeader(ch, file)[0];
        }
        return open(file, size);
    }

    /** Virtual size and point from a map file's header, after checking magic, version and block size. */
    private static long[] readHeader(FileChannel ch, Path file) throws IOException {
        ByteBuffer h = ByteBuffer.allocate(HEADER);
        while (h.hasRemaining() && ch.read(h, h.position()) > 0) {
            // read the whole header
        }
        h.flip();
        if (h.remaining() < HEADER || h.getLong() != MAGIC) {
            throw new IOException(file + " is not an amirror hash map (truncated or corrupt)");
        }
        int version = Short.toUnsignedInt(h.getShort());
        if (version != VERSION) {
            throw new IOException(file + " is hash map version " + version + (version > VERSION
                    ? ", newer than this amirror reads (" + VERSION + "); run the amirror that wrote it"
                    : ", which this amirror does not read"));
        }
        int blockSize = h.getInt();
        if (blockSize != DeltaFormat.BLOCK_SIZE) {
            throw new IOException(file + " is a hash map of " + blockSize + "-byte blocks, not " + DeltaFormat.BLOCK_SIZE);
        }
        return new long[] {h.getLong(), h.getInt()};
    }

    static long entries(long size) {
        return (size + DeltaFormat.BLOCK_SIZE - 1) / DeltaFormat.BLOCK_SIZE;
    }

    public long virtualSize() {
        return virtualSize;
    }

    /** The acknowledged point this map describes (0: none yet). */
    public int point() {
        return point;
    }

    public long blocks() {
        return entries(virtualSize);
    }

    /** The hashes of {@code count} blocks from {@code first}, 16 bytes each. */
    public byte[] read(long first, int count) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(count * BlockHash.LENGTH);
        long pos = HEADER + first * BlockHash.LENGTH;
        while (b.hasRemaining()) {
            if (ch.read(b, pos + b.position()) < 0) {
                throw new EOFException("hash map " + file + " ends before block " + (first + count));
            }
        }
        return b.array();
    }

    /** Whether block {@code b} is known to hold content with hash {@code hash}. */
    public static boolean matches(byte[] hashes, int index, byte[] hash) {
        int at = index * BlockHash.LENGTH;
        return Arrays.equals(hashes, at, at + BlockHash.LENGTH, hash, 0, BlockHash.LENGTH) && known(hashes, index);
    }

    /** Whether entry {@code index} of {@code hashes} (as {@link #read} returns them) holds a hash at all. */
    public static boolean known(byte[] hashes, int index) {
        int at = index * BlockHash.LENGTH;
        return !Arrays.equals(hashes, at, at + BlockHash.LENGTH, UNKNOWN, 0, BlockHash.LENGTH);
    }

    /**
     * Makes the blocks overlapping {@code [offset, offset + length)} unknown, so no refinement skips
     * them (a verify found them different on the replica); durable after {@link #force()}.
     */
    public void forget(long offset, long length) throws IOException {
        long first = offset / DeltaFormat.BLOCK_SIZE;
        long end = Math.min(blocks(), (offset + length + DeltaFormat.BLOCK_SIZE - 1) / DeltaFormat.BLOCK_SIZE);
        final int batch = 4096;
        for (long b = first; b < end; b += batch) {
            int n = (int) Math.min(batch, end - b);
            ch.write(ByteBuffer.allocate(n * BlockHash.LENGTH), HEADER + b * BlockHash.LENGTH);
        }
    }

    /**
     * Sets the entries of {@code hashes.length / 16} blocks from {@code first}, as another copy's
     * hashes say (a seed); durable after {@link #force()}.
     */
    public void writeEntries(long first, byte[] hashes) throws IOException {
        if (hashes.length % BlockHash.LENGTH != 0 || first < 0 || first + hashes.length / BlockHash.LENGTH > blocks()) {
            throw new IOException("hash entries " + first + "+" + hashes.length / BlockHash.LENGTH + " do not fit the "
                    + blocks() + " blocks of " + file);
        }
        ch.write(ByteBuffer.wrap(hashes), HEADER + first * BlockHash.LENGTH);
    }

    public void force() throws IOException {
        ch.force(true);
    }

    void write(long block, byte[] hash) throws IOException {
        ch.write(ByteBuffer.wrap(hash), HEADER + block * BlockHash.LENGTH);
    }

    /** Sets {@code count} blocks from {@code first} to the hash of zeroes (the last one may be partial). */
    void writeZero(long first, long count) throws IOException {
        final int batch = 4096;
        ByteBuffer buf = ByteBuffer.allocate(batch * BlockHash.LENGTH);
        for (long b = first; b < first + count; b += batch) {
            int n = (int) Math.min(batch, first + count - b);
            buf.clear();
            for (int i = 0; i < n; i++) {
                buf.put(BlockHash.zero(blockLength(b + i)));
            }
            buf.flip();
            ch.write(buf, HEADER + b * BlockHash.LENGTH);
        }
    }

    int blockLength(long block) {
        return (int) Math.min(DeltaFormat.BLOCK_SIZE, virtualSize - block * DeltaFormat.BLOCK_SIZE);
    }

    /**
     * The disk changed size: new blocks are unknown, removed ones go, and the old last block (whose
     * length changes) becomes unknown.
     */
    public void resize(long newSize) throws IOException {
        long oldEntries = entries(virtualSize);
        long newEntries = entries(newSize);
        if (newEntries < oldEntries) {
            ch.truncate(HEADER + newEntries * BlockHash.LENGTH);
        } else if (newEntries > oldEntries) {
            ch.write(ByteBuffer.allocate(1), HEADER + newEntries * BlockHash.LENGTH - 1);
        }
        if (oldEntries > 0 && oldEntries - 1 < newEntries) {
            write(oldEntries - 1, UNKNOWN);
        }
        virtualSize = newSize;
        writeHeader();
        ch.force(true);
    }

    /** Recomputes every entry from the disk's content (a full read), for a missing or doubtful map. */
    public void rebuild(InputStream image, int atPoint) throws IOException {
        byte[] block = new byte[DeltaFormat.BLOCK_SIZE];
        for (long b = 0; b < blocks(); b++) {
            int n = blockLength(b);
            if (image.readNBytes(block, 0, n) != n) {
                throw new EOFException("image ends before block " + b + " of " + blocks());
            }
            write(b, BlockHash.of(block, 0, n));
        }
        ch.force(true);
        point = atPoint;
        writeHeader();
        ch.force(true);
    }

    private void writeHeader() throws IOException {
        ByteBuffer h = ByteBuffer.allocate(HEADER).putLong(MAGIC).putShort((short) VERSION).putInt(DeltaFormat.BLOCK_SIZE)
                .putLong(virtualSize).putInt(point);
        h.position(HEADER).flip();
        ch.write(h, 0);
    }

    // ------------------------------------------------------------------ journal and commit

    Path journalFile(int forPoint) {
        return journalFile(file, forPoint);
    }

    private static Path journalFile(Path mapFile, int forPoint) {
        return mapFile.resolveSibling(mapFile.getFileName() + ".pending-" + forPoint);
    }

    /** Removes the journal of a delta to {@code forPoint} that will never be acknowledged (its capture failed). */
    static void discardJournal(Path mapFile, int forPoint) throws IOException {
        Files.deleteIfExists(journalFile(mapFile, forPoint));
    }

    /** Starts the journal of the delta that will bring the replica to {@code forPoint}. */
    public Journal journal(int forPoint) throws IOException {
        return new Journal(journalFile(forPoint), forPoint);
    }

    /**
     * The standby acknowledged {@code acked}: applies its journal, records the point, and drops the
     * journals of points it supersedes.
     */
    public void commit(int acked) throws IOException {
        Path j = journalFile(acked);
        if (!Files.exists(j)) {
            throw new IOException("no hash map journal for point " + acked + " (" + j + ")");
        }
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(j)))) {
            Journal.replay(in, j, this);
        }
        ch.force(true);
        point = acked;
        writeHeader();
        ch.force(true);
        dropJournalsUpTo(acked);
    }

    /** On start: finishes a commit a crash interrupted, and removes journals the ack made useless. */
    public void recover(int acked) throws IOException {
        if (point < acked && Files.exists(journalFile(acked))) {
            commit(acked);
        } else {
            dropJournalsUpTo(point);
        }
    }

    private void dropJournalsUpTo(int p) throws IOException {
        try (var s = Files.list(file.toAbsolutePath().getParent())) {
            for (Path f : s.toList()) {
                String n = f.getFileName().toString();
                String prefix = file.getFileName() + ".pending-";
                if (n.startsWith(prefix) && n.substring(prefix.length()).matches("[0-9]{1,9}")
                        && Integer.parseInt(n.substring(prefix.length())) <= p) {
                    Files.deleteIfExists(f);
                }
            }
        }
    }

    @Override
    public void close() throws IOException {
        ch.close();
    }

    /**
     * The resulting block hashes of one delta, written as it is encoded. A 10-byte header (magic
     * {@code AMHJRNL\n}, version 1), then records: DATA (block, hash), ZERO (first block, count), and
     * a final SEAL with a SHA-256 of everything before it; a journal without a valid seal is
     * incomplete and is never applied.
     *
     * <p>Version 0, written before journals had a header, is the same records without it; it is
     * still applied, so a point pending across an upgrade commits. Its first byte is a record type
     * (1, 2 or 0xFF), which the magic's first byte ('A') never is.
     */
    public static final class Journal implements DeltaWriter.ResultListener, AutoCloseable {
        static final long MAGIC = 0x414D484A524E4C0AL; // "AMHJRNL\n"
        static final int VERSION = 1;
        static final int HEADER = 10;
        static final int DATA = 1;
        static final int ZERO = 2;
        static final int SEAL = 0xFF;
        private final Path path;
        private final int forPoint;
        private final DataOutputStream out;
        private final MessageDigest md = BlockHash.sha256();

        Journal(Path path, int forPoint) throws IOException {
            this.path = path;
            this.forPoint = forPoint;
            this.out = new DataOutputStream(new BufferedOutputStream(
                    new DigestOutputStream(Channels.newOutputStream(FileChannel.open(path, Set.of(StandardOpenOption.CREATE,
                            StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE), PRIVATE)), md), 1 << 16));
            out.writeLong(MAGIC); // under the seal's digest, like every record
            out.writeShort(VERSION);
        }

        @Override
        public void data(long block, byte[] hash) {
            try {
                out.writeByte(DATA);
                out.writeLong(block);
                out.write(hash);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        public void zero(long firstBlock, long count) {
            try {
                out.writeByte(ZERO);
                out.writeLong(firstBlock);
                out.writeLong(count);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        /** Seals and syncs the journal: from now on a commit can apply it. */
        public void seal() throws IOException {
            out.writeByte(SEAL);
            out.writeInt(forPoint);
            out.flush();
            byte[] digest = md.digest();
            out.write(digest);
            out.flush();
            try (FileChannel c = FileChannel.open(path, StandardOpenOption.WRITE)) {
                c.force(true);
            }
        }

        /** Abandons an unsealed journal. */
        @Override
        public void close() throws IOException {
            out.close();
        }

        static void replay(DataInputStream in, Path path, ReplicaHashMap map) throws IOException {
            // first pass: check the version and verify the seal, so a torn journal changes nothing
            byte[] all = Files.readAllBytes(path);
            int version = version(all, path);
            if (all.length < (version == 0 ? 0 : HEADER) + 1 + 4 + 32 || Byte.toUnsignedInt(all[all.length - 37]) != SEAL) {
                throw new IOException("hash map journal " + path + " is not sealed: the delta it belongs to was "
                        + "never completed");
            }
            MessageDigest md = BlockHash.sha256();
            md.update(all, 0, all.length - 32);
            if (!MessageDigest.isEqual(md.digest(), Arrays.copyOfRange(all, all.length - 32, all.length))) {
                throw new IOException("hash map journal " + path + " is corrupt");
            }
            if (version > 0) {
                in.skipNBytes(HEADER);
            }
            byte[] hash = new byte[BlockHash.LENGTH];
            while (true) {
                int type = in.readUnsignedByte();
                if (type == SEAL) {
                    return;
                } else if (type == DATA) {
                    long b = in.readLong();
                    in.readFully(hash);
                    checkBlock(map, b, 1);
                    map.write(b, hash);
                } else if (type == ZERO) {
                    long first = in.readLong();
                    long count = in.readLong();
                    checkBlock(map, first, count);
                    map.writeZero(first, count);
                } else {
                    throw new IOException("hash map journal " + path + " holds an unknown record " + type);
                }
            }
        }

        /** The journal's version: 0 for one without a header, else its header's; a newer one is refused. */
        static int version(byte[] all, Path path) throws IOException {
            if (all.length == 0) {
                throw new IOException("hash map journal " + path + " is empty: the delta it belongs to was never completed");
            }
            int first = Byte.toUnsignedInt(all[0]);
            if (first == DATA || first == ZERO || first == SEAL) {
                return 0;
            }
            ByteBuffer h = ByteBuffer.wrap(all);
            if (all.length < HEADER || h.getLong() != MAGIC) {
                throw new IOException(path + " is not an amirror hash map journal");
            }
            int version = Short.toUnsignedInt(h.getShort());
            if (version != VERSION) {
                throw new IOException("hash map journal " + path + " is version " + version + (version > VERSION
                        ? ", newer than this amirror reads (" + VERSION + "); run the amirror that wrote it"
                        : ", which this amirror does not read"));
            }
            return version;
        }

        private static void checkBlock(ReplicaHashMap map, long first, long count) throws IOException {
            if (first < 0 || count < 1 || count > map.blocks() - first) {
                throw new IOException("hash map journal names blocks [" + first + ", +" + count + ") of a map of "
                        + map.blocks());
            }
        }
    }
}
