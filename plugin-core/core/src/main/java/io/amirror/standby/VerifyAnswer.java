package io.amirror.standby;

import io.amirror.delta.GroupDigests;
import io.amirror.image.DiskImage;
import io.amirror.transport.ConnectionHandler.ProgressReport;
import io.amirror.transport.WireMessage;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.transport.WireMessage.Verified;
import io.amirror.transport.WireMessage.Verify;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * Answers a VERIFY: reads the replica of the disk whole, at the point the primary names, and
 * returns its group digests ({@link GroupDigests}), telling the primary its progress about every
 * second. An apply a crash left pending is finished first; a replica at another point is refused.
 */
final class VerifyAnswer {
    private static final Logger log = LoggerFactory.getLogger(VerifyAnswer.class);
    private static final long TELL_EVERY_NANOS = 1_000_000_000L;

    private VerifyAnswer() {
    }

    static WireMessage of(ReplicaDisk disk, Verify v, DiskImage.Tools tools, ProgressReport progress) throws IOException {
        disk.recover();
        ReplicaDisk.State st = disk.state();
        if (st.point() != v.point()) {
            return new Refuse(Refuse.BASE_MISMATCH, "the replica of " + v.domain() + " " + v.disk() + " is at point "
                    + st.point() + ", not " + v.point());
        }
        long t0 = System.nanoTime();
        byte[] digests;
        try (DiskImage img = DiskImage.open(disk.image(), false, tools)) {
            long total = img.size();
            if (GroupDigests.groups(total, v.groupBlocks()) > GroupDigests.MAX_GROUPS) {
                return new Refuse(Refuse.PROTOCOL, "groups of " + v.groupBlocks() + " blocks are too small for "
                        + total + " bytes");
            }
            digests = GroupDigests.ofImage(counted(img.stream(), total, progress), total, v.groupBlocks());
        }
        log.info("verify of {} {} at point {}: replica read in {} s", v.domain(), v.disk(), v.point(),
                String.format("%.1f", (System.nanoTime() - t0) / 1e9));
        return new Verified(v.domain(), v.disk(), v.point(), digests);
    }

    /** {@code in}, telling {@code progress} how much of {@code total} was read, about every second. */
    private static InputStream counted(InputStream in, long total, ProgressReport progress) {
        return new FilterInputStream(in) {
            private long done;
            private long told = System.nanoTime();

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                int n = super.read(b, off, len);
                done += Math.max(n, 0);
                if (System.nanoTime() - told > TELL_EVERY_NANOS) {
                    told = System.nanoTime();
                    progress.progress(done, total);
                }
                return n;
            }
        };
    }
}
