package io.amirror.libvirt;

import org.libvirt.Domain;
import org.libvirt.DomainCheckpoint;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.TreeSet;

/**
 * amirror's checkpoints of one domain: {@code amirror.1}, {@code amirror.2}, ... Checkpoints with
 * other names belong to someone else and are never touched.
 *
 * <p>The rule this class enforces: checkpoint k is deleted only after the standby has acknowledged
 * a newer point, because until then the next delta must still be computed from k. Each checkpoint's
 * full XML is kept in the {@link ChainStore}; {@link #reconcile()} redefines checkpoints that libvirt
 * forgot (undefine and redefine of the domain, lost libvirtd state) and adopts ours that the store
 * missed (a crash between creating a checkpoint and recording it).
 *
 * <p>Callers: call {@link #reconcile()} before using a chain; call {@link #recordCreated(int)} right
 * after libvirt created a checkpoint, and {@link #discard(int)} if the capture that created it
 * failed. Not thread safe; the scheduler runs one job per domain at a time.
 */
public final class CheckpointChain {
    private static final Logger log = LoggerFactory.getLogger(CheckpointChain.class);

    public static final String PREFIX = "amirror.";
    static final int CREATE_REDEFINE = 1;
    static final int DELETE_METADATA_ONLY = 2;

    private final Domain domain;
    private final ChainStore store;
    private ChainState state;

    public CheckpointChain(Domain domain, ChainStore store) {
        this.domain = domain;
        this.store = store;
        try {
            this.state = store.load(domain.getUUIDString(), domain.getName());
        } catch (LibvirtException e) {
            throw new ChainException("cannot read the domain's identity: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static String name(int point) {
        return PREFIX + point;
    }

    /** The point number of an amirror checkpoint name, or empty for anyone else's checkpoint. */
    public static OptionalInt parse(String checkpointName) {
        if (!checkpointName.startsWith(PREFIX)) {
            return OptionalInt.empty();
        }
        String n = checkpointName.substring(PREFIX.length());
        if (!n.matches("[1-9][0-9]{0,8}")) {
            return OptionalInt.empty();
        }
        return OptionalInt.of(Integer.parseInt(n));
    }

    public ChainState state() {
        return state;
    }

    /** The point the next incremental capture starts from: the last acknowledged one (0: none, capture in full). */
    public int base() {
        return state.acknowledged();
    }

    public int nextPoint() {
        int newest = Math.max(state.latest(), state.acknowledged()); // a reset chain goes on numbering after the standby's point
        return Math.max(newest, libvirtPoints().stream().mapToInt(Integer::intValue).max().orElse(0)) + 1;
    }

    /** Whether checkpoint {@code point} is in the chain (a reset chain holds none until its next capture). */
    public boolean holds(int point) {
        return state.points().contains(point);
    }

    /** Makes libvirt and the store agree; see the class comment. */
    public void reconcile() {
        List<Integer> inLibvirt = libvirtPoints();
        TreeSet<Integer> points = new TreeSet<>(state.points());
        try {
            int previous = 0;
            for (int p : state.points()) {
                int parent = previous;
                previous = p;
                if (inLibvirt.contains(p)) {
                    continue;
                }
                String saved = store.checkpointXml(state.domainUuid(), p).orElseThrow(() -> new ChainException(
                        "checkpoint " + name(p) + " of " + state.domainName() + " is missing from libvirt and its XML "
                                + "is not in the state directory; reset the chain"));
                // its parent at creation may have been retired since: hang it under the point before it
                String xml = CheckpointXml.withParent(saved, parent == 0 ? null : name(parent));
                try {
                    domain.checkpointCreateXML(xml, CREATE_REDEFINE);
                    log.info("redefined checkpoint {} of {} from saved XML", name(p), state.domainName());
                } catch (LibvirtException e) {
                    throw new ChainBrokenException("cannot redefine checkpoint " + name(p) + " of " + state.domainName()
                            + ": " + e.getMessage() + "; reset the chain to start a new one", e);
                }
            }
            for (int p : inLibvirt) {
                if (points.add(p)) {
                    store.saveCheckpointXml(state.domainUuid(), p, checkpoint(p).getXMLDesc(0));
                    log.info("adopted checkpoint {} of {} that the state directory missed", name(p), state.domainName());
                }
            }
            save(state.withPoints(new ArrayList<>(points)));
            retireAcknowledged();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (LibvirtException e) {
            throw new ChainException("reconciling the checkpoints of " + state.domainName() + ": " + e.getMessage(), e);
        }
    }

    /** Records a checkpoint libvirt has just created: its full XML goes to the store. */
    public void recordCreated(int point) {
        try {
            store.saveCheckpointXml(state.domainUuid(), point, checkpoint(point).getXMLDesc(0));
            List<Integer> p = new ArrayList<>(state.points());
            p.add(point);
            save(state.withPoints(p));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (LibvirtException e) {
            throw new ChainException("cannot read back checkpoint " + name(point) + ": " + e.getMessage(), e);
        }
    }

    /**
     * Defines checkpoint {@code point} of a shut-off domain whose images the caller has already given
     * a bitmap of that name (and whose previous bitmap it disabled): libvirt cannot create checkpoints
     * of inactive domains, but it accepts their definition, as after a metadata loss.
     */
    public void redefineOffline(int point, int parent, List<String> disks) {
        redefineOffline(point, parent, disks, List.of());
    }

    /**
     * As above, with {@code withoutBitmap} (disks read whole at every point: raw files and block
     * devices) listed {@code checkpoint='no'}, as the pull backup's checkpoints list them.
     */
    public void redefineOffline(int point, int parent, List<String> disks, List<String> withoutBitmap) {
        StringBuilder x = new StringBuilder("<domaincheckpoint>\n  <name>").append(name(point)).append("</name>\n");
        x.append("  <description>amirror replication point (domain shut off)</description>\n");
        if (parent > 0) {
            x.append("  <parent><name>").append(name(parent)).append("</name></parent>\n");
        }
        x.append("  <creationTime>").append(System.currentTimeMillis() / 1000).append("</creationTime>\n  <disks>\n");
        for (String d : disks) {
            x.append("    <disk name='").append(d).append("' checkpoint='bitmap' bitmap='").append(name(point))
                    .append("'/>\n");
        }
        for (String d : withoutBitmap) {
            x.append("    <disk name='").append(d).append("' checkpoint='no'/>\n");
        }
        x.append("  </disks>\n");
        try {
            x.append(domain.getXMLDesc(2 /* VIR_DOMAIN_XML_INACTIVE */)).append("</domaincheckpoint>\n");
            domain.checkpointCreateXML(x.toString(), CREATE_REDEFINE);
        } catch (LibvirtException e) {
            throw new ChainException("cannot define checkpoint " + name(point) + " of shut-off " + state.domainName()
                    + ": " + e.getMessage(), e);
        }
        recordCreated(point);
    }

    /**
     * Drops a checkpoint whose capture failed. libvirt merges its bitmap into its parent's, so no
     * write is forgotten: the next capture from the base covers them.
     */
    public void discard(int point) {
        if (point <= state.acknowledged()) {
            throw new ChainException("refusing to discard " + name(point) + ": the standby acknowledged it");
        }
        remove(point);
    }

    /**
     * The standby holds {@code point} durably: it becomes the base of the next capture, and every
     * older checkpoint is retired.
     */
    public void acknowledge(int point) {
        if (!state.points().contains(point)) {
            throw new ChainException("cannot acknowledge " + name(point) + " of " + state.domainName()
                    + ": no such point in the chain " + state.points());
        }
        if (point < state.acknowledged()) {
            throw new ChainException("cannot acknowledge " + name(point) + ": " + name(state.acknowledged())
                    + " was acknowledged already and is newer");
        }
        save(state.withAcknowledged(point));
        retireAcknowledged();
    }

    /**
     * Deletes the checkpoints older than the acknowledged point. libvirt deletes checkpoints of
     * running domains only, so for a shut-off domain this waits until the next reconcile that finds
     * it running; until then the old checkpoints cost a frozen bitmap each, nothing else.
     */
    private void retireAcknowledged() {
        try {
            if (domain.isActive() != 1) {
                return;
            }
        } catch (LibvirtException e) {
            throw new ChainException("cannot read the state of " + state.domainName() + ": " + e.getMessage(), e);
        }
        for (int p : state.points()) {
            if (p < state.acknowledged()) {
                try {
                    remove(p);
                } catch (ChainException e) {
                    if (stoppedMeanwhile()) {
                        return; // shut off between the check and the delete: retired at the next reconcile
                    }
                    throw e;
                }
            }
        }
    }

    private boolean stoppedMeanwhile() {
        try {
            return domain.isActive() != 1;
        } catch (LibvirtException e) {
            return false;
        }
    }

    /**
     * Deletes one checkpoint, only if the standby has acknowledged a newer point: until then the
     * next delta may have to start from it. The domain must be running (a libvirt limit).
     */
    public void delete(int point) {
        if (point >= state.acknowledged()) {
            throw new ChainException("refusing to delete " + name(point) + " of " + state.domainName()
                    + ": the standby has not acknowledged a newer point (last acknowledged: "
                    + (state.acknowledged() == 0 ? "none" : name(state.acknowledged())) + ")");
        }
        remove(point);
    }

    /**
     * Starts a new chain: forgets every amirror checkpoint in libvirt (metadata only; their bitmaps
     * are removed by the caller that knows the images) and in the store. The next capture is full;
     * the point the standby acknowledged is kept, so the new chain's first point follows it (a full
     * capture refined against the replica's hashes repairs the replica from there).
     */
    public void reset() {
        for (int p : libvirtPoints()) {
            try {
                checkpoint(p).delete(DELETE_METADATA_ONLY);
            } catch (LibvirtException e) {
                throw new ChainException("cannot forget checkpoint " + name(p) + ": " + e.getMessage(), e);
            }
        }
        try {
            for (int p : state.points()) {
                store.deleteCheckpointXml(state.domainUuid(), p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        save(new ChainState(state.domainUuid(), state.domainName(), state.acknowledged(), List.of()));
    }

    private void remove(int point) {
        try {
            if (libvirtPoints().contains(point)) {
                checkpoint(point).delete(0);
            }
            store.deleteCheckpointXml(state.domainUuid(), point);
            List<Integer> p = new ArrayList<>(state.points());
            p.remove(Integer.valueOf(point));
            save(state.withPoints(p));
        } catch (LibvirtException e) {
            throw new ChainException("cannot delete checkpoint " + name(point) + " of " + state.domainName() + ": "
                    + e.getMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** amirror's checkpoints as libvirt knows them now, oldest first. */
    public List<Integer> libvirtPoints() {
        try {
            TreeSet<Integer> points = new TreeSet<>();
            for (String n : domain.checkpointListNames(0)) {
                parse(n).ifPresent(points::add);
            }
            return new ArrayList<>(points);
        } catch (LibvirtException e) {
            throw new ChainException("cannot list checkpoints: " + e.getMessage(), e);
        }
    }

    private DomainCheckpoint checkpoint(int point) throws LibvirtException {
        return domain.checkpointLookupByName(name(point));
    }

    private void save(ChainState s) {
        try {
            store.save(s);
            state = s;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
