package io.amirror.standby;

import io.amirror.delta.DeltaScanner;
import io.amirror.util.PrivateFiles;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A delta on its way in ({@code incoming/SHA256.partial}), the one writer of that file. Opening
 * keeps the longest prefix whose blocks' checksums hold ({@link DeltaScanner}) and drops the rest,
 * so a resume after a cut costs at most the block that was in flight. Bytes are forced to disk
 * every {@link #SYNC_EVERY} bytes and when the transfer stops, for the offset the next RESUME
 * offers to be durable.
 */
final class PartialDelta implements AutoCloseable {
    static final long SYNC_EVERY = 4 << 20;

    private final FileChannel channel;
    private long unsynced;

    private PartialDelta(FileChannel channel) {
        this.channel = channel;
    }

    /** Opens {@code file} (made if missing) at the end of its good prefix. */
    static PartialDelta open(Path file) throws IOException {
        long good = Files.exists(file) ? DeltaScanner.validPrefix(file) : 0;
        FileChannel ch = PrivateFiles.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE); // guest data: 0600
        try {
            ch.truncate(good);
            ch.position(good);
        } catch (IOException e) {
            ch.close();
            throw e;
        }
        return new PartialDelta(ch);
    }

    /** The bytes held, all good: where the sender resumes. */
    long held() throws IOException {
        return channel.position();
    }

    void append(byte[] bytes) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        while (b.hasRemaining()) {
            channel.write(b);
        }
        unsynced += bytes.length;
        if (unsynced >= SYNC_EVERY) {
            channel.force(true);
            unsynced = 0;
        }
    }

    /** Forces what was received and closes the file. */
    @Override
    public void close() throws IOException {
        if (!channel.isOpen()) {
            return;
        }
        try (channel) {
            channel.force(true);
        }
    }
}
