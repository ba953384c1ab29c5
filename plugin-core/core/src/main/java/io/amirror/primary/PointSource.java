package io.amirror.primary;

import io.amirror.capture.CaptureResult;
import io.amirror.capture.CaptureSink;
import io.amirror.config.Policy;
import io.amirror.transport.ReplicaManifest;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Where a guest's points come from: the one part of replication that differs between a libvirt
 * domain (its checkpoint chain, read by pull backups, {@link LibvirtPointSource}) and a guest
 * outside libvirt (the bridge's write-tracked points, in {@code lguest-bridge}). {@link Replication}
 * runs the same cycle over either: it owns the acknowledged point, the spool, the hash maps and
 * the files of the cycle; a source only tracks writes, cuts points and forgets them.
 *
 * <p>Points are numbered from 1; point 0 is "nothing", the base of a full read. The caller (one
 * {@link Replication}, never two at once for one guest) keeps these rules:
 * <ul>
 *   <li>{@link #cut} is called with the standby's acknowledged point as the base, or 0 when
 *       {@link #tracks} says the source no longer tracks changes since it (a new source, a reset);</li>
 *   <li>a point newer than the acknowledged one is either in the spool or {@linkplain #abandon
 *       abandoned}: its writes merge back, so the next cut covers them again;</li>
 *   <li>{@link #retire} comes only after the standby acknowledged the point durably.</li>
 * </ul>
 */
public interface PointSource {

    /** The guest's identity on the standby. */
    UUID uuid();

    /** The guest's name, as status and the standby show it. */
    String name();

    /** One replicated disk: its name on the standby and its size now. */
    record Disk(String name, long size) {
    }

    /** The disks replicated now. */
    List<Disk> disks() throws IOException;

    /** Whether the source tracks the changes since {@code point}: if not, a cut from it reads everything. */
    boolean tracks(int point) throws IOException;

    /** The number the next cut gives its point, after the standby's {@code acknowledged} one. */
    int nextPoint(int acknowledged) throws IOException;

    /**
     * Cuts point {@code newPoint} (as {@link #nextPoint} said) and writes what changed since
     * {@code since} (0: everything), and the ranges of {@code alsoRead} per disk as if dirty, into
     * {@code sink}. A failed cut leaves no new point behind.
     *
     * @param quiesce freeze the guest's filesystems for the instant of the cut, where the source can
     * @throws TrackingLostException when the source's write tracking is no longer trustworthy
     * @throws NothingNewException when a shut-off guest has nothing new since {@code since}
     */
    CaptureResult cut(int since, int newPoint, CaptureSink sink, boolean quiesce, Map<String, List<long[]>> alsoRead)
            throws IOException;

    /** Forgets every point newer than {@code acknowledged}: cuts that a crash left without a spooled record. */
    void discardNewerThan(int acknowledged) throws IOException;

    /** Forgets point {@code point}, which the standby refused; its writes merge back into the point before. */
    void abandon(int point) throws IOException;

    /** The standby holds {@code point} durably: points before it are no base anyone needs any more. */
    void retire(int point) throws IOException;

    /**
     * The point this source last {@linkplain #retire retired} to by its own record, 0 when it keeps
     * none. {@link Replication} owns the acknowledged point; this is only checked against it when a
     * replication opens (to finish a retire a crash cut short, or to adopt the point from state files
     * written before the replication kept it).
     */
    int retiredTo() throws IOException;

    /**
     * After {@link TrackingLostException}: starts tracking anew. The next cut reads in full (and the
     * hash map keeps the delta to what differs from the replica).
     */
    void reset() throws IOException;

    /** What the standby keeps of the guest besides its disks, as of {@code point}, with the policy's parts. */
    ReplicaManifest manifest(int point, Policy policy) throws IOException;

    /**
     * The guest wrote nothing since {@code since} and will not until it runs again (it is shut
     * off): no point was cut, nothing needs discarding. Not a failure.
     */
    final class NothingNewException extends IOException {
        public NothingNewException(String message) {
            super(message);
        }
    }

    /** The source lost track of the guest's writes (bitmaps lost or inconsistent): reset it and cut in full. */
    final class TrackingLostException extends IOException {
        public TrackingLostException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
