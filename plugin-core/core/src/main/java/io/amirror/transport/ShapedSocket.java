package io.amirror.transport;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A plain TCP socket whose output passes a {@link TokenBucket}. TLS is layered on top of it
 * ({@link Tls#connect}), so the bucket counts every byte that reaches the wire: records, TLS
 * overhead and framing included. Writes are cut into pieces of at most {@link #QUANTUM} bytes so
 * that connections sharing one bucket take turns.
 */
public final class ShapedSocket extends Socket {
    static final int QUANTUM = 4096;
    private final TokenBucket bucket;
    private final AtomicLong written = new AtomicLong();
    private OutputStream shaped;

    /** Kernel send buffer: a few round trips at 10 Mbit/s, so a stalled peer soon stops taking tokens. */
    static final int SEND_BUFFER = 256 * 1024;

    public ShapedSocket(TokenBucket bucket) throws SocketException {
        this.bucket = bucket;
        setSendBufferSize(SEND_BUFFER);
    }

    /** Bytes this connection put on the wire so far (TLS included). */
    public long bytesWritten() {
        return written.get();
    }

    @Override
    public synchronized OutputStream getOutputStream() throws IOException {
        if (shaped == null) {
            OutputStream raw = super.getOutputStream();
            shaped = new FilterOutputStream(raw) {
                @Override
                public void write(int b) throws IOException {
                    write(new byte[] {(byte) b}, 0, 1);
                }

                @Override
                public void write(byte[] b, int off, int len) throws IOException {
                    for (int pos = 0; pos < len; pos += QUANTUM) {
                        int n = Math.min(QUANTUM, len - pos);
                        try {
                            bucket.acquire(n);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            throw new InterruptedIOException("interrupted while rate limited");
                        }
                        raw.write(b, off + pos, n);
                        written.addAndGet(n);
                    }
                }
            };
        }
        return shaped;
    }
}
