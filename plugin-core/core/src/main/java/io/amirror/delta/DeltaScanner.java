package io.amirror.delta;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;

import static io.amirror.delta.DeltaFormat.*;

/**
 * How much of a partly received delta is good: the length of its longest prefix that ends on a
 * unit boundary (the header, a block, the trailer) with every unit's checksum correct. A receiver
 * resumes from there, so a cut costs at most the one block that was in flight, and a block that
 * arrived corrupt is asked for again, alone.
 */
public final class DeltaScanner {
    private DeltaScanner() {
    }

    public static long validPrefix(Path partial) throws IOException {
        long size = Files.size(partial);
        try (InputStream in = new BufferedInputStream(Files.newInputStream(partial), 1 << 20)) {
            long pos;
            int len;
            DeltaHeader header;
            try {
                byte[] whole = DeltaReader.readHeaderBytes(in);
                len = whole.length;
                header = DeltaCodec.decodeHeader(whole);
            } catch (DeltaFormatException e) {
                return 0; // the header is incomplete or not one: start over
            }
            pos = len;
            int index = 0;
            while (pos < size) {
                byte[] magic = in.readNBytes(4);
                if (magic.length < 4) {
                    return pos;
                }
                int m = ByteBuffer.wrap(magic).getInt();
                if (m == TRAILER_MAGIC) {
                    return size - pos >= TRAILER_SIZE ? pos + TRAILER_SIZE : pos;
                }
                if (m != BLOCK_MAGIC) {
                    return pos;
                }
                byte[] bh = in.readNBytes(BLOCK_HEADER_SIZE - 4);
                if (bh.length < BLOCK_HEADER_SIZE - 4) {
                    return pos;
                }
                DeltaCodec.BlockHeader h;
                try {
                    h = DeltaCodec.decodeBlockHeader(ByteBuffer.wrap(bh), index, header, header.codec());
                } catch (DeltaFormatException e) {
                    return pos;
                }
                byte[] stored = in.readNBytes(h.storedLength());
                if (stored.length < h.storedLength()) {
                    return pos;
                }
                MessageDigest md = BlockHash.sha256();
                md.update(stored);
                if (!MessageDigest.isEqual(md.digest(), h.sha256())) {
                    return pos;
                }
                pos += BLOCK_HEADER_SIZE + h.storedLength();
                index++;
            }
            return pos;
        }
    }
}
