package io.amirror.transport;

import io.amirror.delta.BlockHash;
import io.amirror.delta.DeltaFormatException;
import io.amirror.delta.DeltaReader;
import io.amirror.delta.ReplicaHashMap;
import io.amirror.delta.XzBlockCodec;
import io.amirror.spool.Spool;
import io.amirror.transport.WireMessage.Ack;
import io.amirror.transport.WireMessage.Commit;
import io.amirror.transport.WireMessage.Data;
import io.amirror.transport.WireMessage.Hello;
import io.amirror.transport.WireMessage.Offer;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.transport.WireMessage.Resume;
import io.amirror.util.FileDigest;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.function.LongConsumer;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;

/**
 * The primary's end of the link: ships one spooled delta to the standby and returns its ACK. The
 * standby says where to resume; only the rest is sent. Every byte leaves through the shared
 * {@link TokenBucket}.
 */
public final class Sender {

    /**
     * What a shipment cost and what came back: where it resumed, the delta bytes sent, and during
     * the data phase the bytes the link carried (TLS and framing included) and for how long.
     */
    public record Shipped(Ack ack, long resumedAt, long sentBytes, long wireBytes, double dataSeconds) {
        public double goodputBytesPerSecond() {
            return dataSeconds <= 0 ? 0 : wireBytes / dataSeconds;
        }
    }

    static final String HOST = hostName();

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "localhost";
        }
    }

    private final SSLContext tls;
    private final InetSocketAddress standby;
    private final TokenBucket bucket;
    private final int timeoutMillis;

    public Sender(SSLContext tls, InetSocketAddress standby, TokenBucket bucket, int timeoutMillis) {
        this.tls = tls;
        this.standby = standby;
        this.bucket = bucket;
        this.timeoutMillis = timeoutMillis;
    }

    public Shipped ship(Spool.Entry e) throws IOException {
        return ship(e, held -> {
        });
    }

    /**
     * Ships {@code e}; {@code progress} hears how many of its bytes the standby holds, after the
     * RESUME and after each DATA message.
     */
    public Shipped ship(Spool.Entry e, LongConsumer progress) throws IOException {
        return ship(e, progress, true);
    }

    /**
     * The standby refused the delta because COPY sources on its replica differ from what the delta
     * expects (STALE): nothing was applied there.
     */
    public static final class StaleSourcesException extends IOException {
        private final WireMessage.Stale stale;

        public StaleSourcesException(WireMessage.Stale stale) {
            super("the standby's replica of " + stale.domain() + " " + stale.disk() + " drifted: " + stale.ranges().size()
                    + " COPY source range(s) of point " + stale.point() + " differ, first at byte "
                    + stale.ranges().get(0)[0] + "; the point is captured again and those blocks repaired");
            this.stale = stale;
        }

        public WireMessage.Stale stale() {
            return stale;
        }
    }

    /** The standby lacks a point that was to reach it on removable media ({@code amirror seed import}). */
    public static final class NotImportedException extends IOException {
        public NotImportedException(String message) {
            super(message);
        }
    }

    /**
     * As {@link #ship(Spool.Entry, java.util.function.LongConsumer)}; with {@code sendIfMissing}
     * false, only asks: if the standby does not hold the point yet, the connection ends before a
     * byte of delta is sent, with a {@link NotImportedException}. For a point exported as a seed,
     * whose bytes must not cross a slow link.
     */
    public Shipped ship(Spool.Entry e, LongConsumer progress, boolean sendIfMissing)
            throws IOException {
        return ship(e, List.of(e.disk()), progress, sendIfMissing);
    }

    /**
     * As above, for a point made of the deltas of {@code pointDisks} ({@code e}'s disk among them):
     * the standby holds each delta it acknowledges, and applies the point once it has them all.
     */
    public Shipped ship(Spool.Entry e, List<String> pointDisks, LongConsumer progress, boolean sendIfMissing)
            throws IOException {
        byte[] digest = FileDigest.sha256(e.file());
        long virtualSize;
        try (InputStream header = new BufferedInputStream(Files.newInputStream(e.file()))) {
            virtualSize = DeltaReader.readHeader(header).virtualSize();
        }
        ShapedSocket plain = new ShapedSocket(bucket);
        try (Connection c = open(plain)) {
            InputStream in = c.in();
            OutputStream out = c.out();
            WireCodec.write(out, new Offer(e.domain(), e.disk(), e.basePoint(), e.newPoint(), e.size(), digest, virtualSize,
                    pointDisks));
            WireMessage answer = WireCodec.read(in);
            if (answer instanceof Refuse r) {
                throw new RefusedException(r);
            }
            if (answer instanceof Ack a && a.point() == e.newPoint() && a.domain().equals(e.domain())
                    && a.disk().equals(e.disk())) {
                return new Shipped(a, e.size(), 0, 0, 0); // the standby had it already; an earlier ACK was lost
            }
            if (!(answer instanceof Resume resume) || resume.offset() > e.size()) {
                throw new WireProtocolException("standby answered " + answer + " to OFFER");
            }
            if (!sendIfMissing) {
                throw new NotImportedException("the standby does not hold point " + e.newPoint() + " of " + e.domain()
                        + " " + e.disk() + " yet: it was exported as a seed; run 'amirror seed import DIR' on the "
                        + "standby (or 'amirror seed cancel " + e.domain() + "' here to send it over the link)");
            }
            long sent = 0;
            progress.accept(resume.offset());
            long wireBefore = plain.bytesWritten();
            long t0 = System.nanoTime();
            try (RandomAccessFile f = new RandomAccessFile(e.file().toFile(), "r")) {
                byte[] buf = new byte[256 * 1024];
                f.seek(resume.offset());
                for (long pos = resume.offset(); pos < e.size(); ) {
                    int n = (int) Math.min(buf.length, e.size() - pos);
                    f.readFully(buf, 0, n);
                    WireCodec.write(out, new Data(pos, Arrays.copyOf(buf, n)));
                    pos += n;
                    sent += n;
                    progress.accept(pos);
                }
            }
            WireCodec.write(out, new Commit());
            double dataSeconds = (System.nanoTime() - t0) / 1e9;
            long wire = plain.bytesWritten() - wireBefore;
            c.socket().setSoTimeout(Math.max(timeoutMillis, 600_000)); // verify and apply take time on the standby
            WireMessage done = WireCodec.read(in);
            if (done instanceof Refuse r) {
                throw new RefusedException(r);
            }
            if (done instanceof WireMessage.Stale st && st.domain().equals(e.domain()) && st.disk().equals(e.disk())
                    && st.point() == e.newPoint()) {
                throw new StaleSourcesException(st);
            }
            if (!(done instanceof Ack a) || a.point() != e.newPoint() || !a.domain().equals(e.domain())
                    || !a.disk().equals(e.disk())) {
                throw new WireProtocolException("standby answered " + done + " to COMMIT of point " + e.newPoint());
            }
            return new Shipped(a, resume.offset(), sent, wire, dataSeconds);
        }
    }

    /**
     * Sends the replica manifest of {@code domain} as of {@code point} (xz-compressed JSON) and
     * waits until the standby has stored it.
     */
    public void describe(UUID domain, int point, byte[] manifestXz) throws IOException {
        try (Connection c = open(new ShapedSocket(bucket))) {
            InputStream in = c.in();
            OutputStream out = c.out();
            WireCodec.write(out, new WireMessage.Describe(domain, point, manifestXz));
            WireMessage answer = WireCodec.read(in);
            if (answer instanceof Refuse r) {
                throw new RefusedException(r);
            }
            if (!(answer instanceof WireMessage.Described d) || !d.domain().equals(domain)
                    || !MessageDigest.isEqual(d.sha256(), MessageDigest.getInstance("SHA-256").digest(manifestXz))) {
                throw new WireProtocolException("standby answered " + answer + " to DESCRIBE");
            }
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Fetches the block hashes of a seed the standby holds for {@code disk} into {@code map};
     * returns the bytes of hashes received, or -1 when the standby has no seed (the map is then
     * untouched). A part that does not decompress to what it claims is a protocol error.
     */
    public long seed(UUID domain, String disk, ReplicaHashMap map) throws IOException {
        long received = 0;
        try (Connection c = open(new ShapedSocket(bucket))) {
            InputStream in = c.in();
            OutputStream out = c.out();
            for (long first = 0; first < map.blocks(); ) {
                WireCodec.write(out, new WireMessage.SeedQuery(domain, disk, map.virtualSize(), first));
                WireMessage answer = WireCodec.read(in);
                if (answer instanceof Refuse r && r.code() == Refuse.NO_SEED && first == 0) {
                    return -1;
                }
                if (answer instanceof Refuse r) {
                    throw new RefusedException(r);
                }
                if (!(answer instanceof WireMessage.SeedPart p) || p.firstBlock() != first || !p.domain().equals(domain)
                        || !p.disk().equals(disk) || first + p.blocks() > map.blocks()) {
                    throw new WireProtocolException("standby answered " + answer + " to SEED_QUERY from block " + first);
                }
                byte[] hashes;
                try {
                    hashes = XzBlockCodec.decompress(p.hashesXz(), p.hashesXz().length,
                            p.blocks() * BlockHash.LENGTH);
                } catch (DeltaFormatException e) {
                    throw new WireProtocolException("SEED_PART from block " + first + ": " + e.getMessage());
                }
                map.writeEntries(first, hashes);
                received += p.hashesXz().length;
                first += p.blocks();
            }
        }
        map.force();
        return received;
    }

    /**
     * Asks the standby for the group digests of its replica of {@code disk} at {@code point};
     * {@code progress} hears how many bytes of the replica it has read, about every second.
     */
    public byte[] verify(UUID domain, String disk, int point, int groupBlocks,
                         LongConsumer progress) throws IOException {
        try (Connection c = open(new ShapedSocket(bucket))) {
            c.socket().setSoTimeout(Math.max(timeoutMillis, 3_600_000)); // the standby reads the whole replica first
            InputStream in = c.in();
            OutputStream out = c.out();
            WireCodec.write(out, new WireMessage.Verify(domain, disk, point, groupBlocks));
            WireMessage answer = WireCodec.read(in);
            while (answer instanceof WireMessage.Progress p) {
                progress.accept(p.done());
                answer = WireCodec.read(in);
            }
            if (answer instanceof Refuse r) {
                throw new RefusedException(r);
            }
            if (!(answer instanceof WireMessage.Verified v) || !v.domain().equals(domain) || !v.disk().equals(disk)
                    || v.point() != point) {
                throw new WireProtocolException("standby answered " + answer + " to VERIFY");
            }
            return v.digests();
        }
    }

    /**
     * Asks the standby to take the domain over ({@link WireMessage.Switchover}); returns its
     * SWITCHED, or throws {@link RefusedException}. Waits up to {@code wait} for the answer: the
     * standby starts the domain before it answers.
     */
    public WireMessage.Switched switchover(WireMessage.Switchover request, java.time.Duration wait) throws IOException {
        try (Connection c = open(new ShapedSocket(bucket))) {
            c.socket().setSoTimeout(Math.toIntExact(Math.max(timeoutMillis, wait.toMillis())));
            WireCodec.write(c.out(), request);
            WireMessage answer = WireCodec.read(c.in());
            if (answer instanceof Refuse r) {
                throw new RefusedException(r);
            }
            if (!(answer instanceof WireMessage.Switched s) || !s.domain().equals(request.domain())
                    || s.point() != request.point()) {
                throw new WireProtocolException("standby answered " + answer + " to SWITCHOVER");
            }
            return s;
        }
    }

    /** A connection to the standby past its HELLO, with buffered streams for the exchange. */
    private record Connection(SSLSocket socket, InputStream in, OutputStream out) implements AutoCloseable {
        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    /** Connects through the bucket, shakes hands (TLS, then HELLO); the caller closes the connection. */
    private Connection open(ShapedSocket plain) throws IOException {
        plain.connect(standby, timeoutMillis);
        SSLSocket s = Tls.connect(tls, plain, standby.getHostString(), timeoutMillis);
        try {
            Connection c = new Connection(s, new BufferedInputStream(s.getInputStream(), 1 << 16),
                    new BufferedOutputStream(s.getOutputStream(), 1 << 16));
            WireCodec.write(c.out(), new Hello(WireCodec.VERSION, HOST));
            WireMessage hello = WireCodec.read(c.in());
            if (!(hello instanceof Hello h) || h.version() != WireCodec.VERSION) {
                throw new WireProtocolException("standby answered " + hello + " to HELLO");
            }
            return c;
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /** The standby refused the delta; {@link #refusal()} says why. */
    public static final class RefusedException extends IOException {
        private final Refuse refusal;

        RefusedException(Refuse r) {
            super("standby refused: " + r.reason());
            this.refusal = r;
        }

        public Refuse refusal() {
            return refusal;
        }
    }
}
