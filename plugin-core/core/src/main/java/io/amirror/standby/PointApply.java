package io.amirror.standby;

import io.amirror.standby.ReplicaDisk.Staged;
import io.amirror.state.StateFile;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.util.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/**
 * Applies a point to every disk of a domain as one, so the replica is never half at one point and
 * half at the next, and no offer ever needs to roll a disk back.
 *
 * <p>The algorithm: each disk's delta of point P is received, verified and <em>staged</em> on its
 * own ({@link ReplicaDisk#stage}); nothing of the replica changes. When the delta of the point's
 * last disk is staged, the domain's point journal ({@code point.json}, this class its only reader
 * and writer) is written with every staged delta of P, then each disk applies its own under its
 * own journal ({@link ReplicaDisk#applyStaged}), then the point journal is removed. A crash in
 * between is finished by {@link #recover}, forward: the staged deltas are verified and stay until
 * their disk has applied them. So after recovery either every disk of P is at P or none is.
 *
 * <p>The caller holds the domain's lock, and calls {@link #recover} before anything that reads or
 * changes the replica (an offer, a verify, a failover).
 */
final class PointApply {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(PointApply.class);

    /** One disk's part of a point being applied. */
    record Part(String disk, int basePoint, String delta, String sha256) {
    }

    /** The point being applied, and the staged delta of each of its disks. */
    record Pending(int point, List<Part> parts) {
        Pending {
            parts = List.copyOf(parts);
        }
    }

    static final StateFile<Pending> FILE = StateFile.of("point apply journal", Pending.class, 1);

    /** Frees space for an apply that does not fit (prunes within the standby's floor). */
    interface RoomMaker {
        void makeRoom() throws IOException;
    }

    private final ReplicaDomain domain;
    private final Path file;
    private final Function<String, ReplicaDisk> disks;
    private final RoomMaker roomMaker;

    /**
     * The point journal of {@code domain}; {@code disks} opens a disk of it by name;
     * {@code roomMaker} is asked once for room when a point does not fit.
     */
    PointApply(ReplicaDomain domain, Function<String, ReplicaDisk> disks, RoomMaker roomMaker) {
        this.domain = domain;
        this.file = domain.files().pointJournal();
        this.disks = disks;
        this.roomMaker = roomMaker;
    }

    /** For the admin's commands: a point that does not fit is refused, nothing is pruned for it. */
    PointApply(ReplicaDomain domain, Function<String, ReplicaDisk> disks) {
        this(domain, disks, () -> {
        });
    }

    /**
     * Applies point {@code point} if every disk of {@code pointDisks} holds its staged delta of it
     * (or is at it already). Returns whether the point is now applied; when not, the staged deltas
     * wait for the others, and {@code justStaged} gives up the sources it gathered.
     */
    boolean applyIfComplete(int point, List<String> pointDisks, Staged justStaged) throws IOException {
        List<Staged> parts = new ArrayList<>();
        List<String> names = new ArrayList<>();
        for (String name : pointDisks) {
            ReplicaDisk d = disks.apply(name);
            if (d.state().point() == point && d.state().pending() == 0) {
                continue; // applied before a crash ended the last attempt
            }
            Optional<Staged> st = justStaged != null && justStaged.file().getParent().equals(d.image().getParent())
                    ? Optional.of(justStaged) : d.stagedFor(point);
            if (st.isEmpty()) {
                if (justStaged != null) {
                    justStaged.forgetSources();
                }
                return false;
            }
            parts.add(st.get());
            names.add(name);
        }
        checkRoom(point, parts, names);
        List<Part> journal = new ArrayList<>();
        for (int i = 0; i < parts.size(); i++) {
            Staged st = parts.get(i);
            journal.add(new Part(names.get(i), st.basePoint(), st.file().toString(), st.sha256()));
        }
        FILE.write(file, new Pending(point, journal));
        for (int i = 0; i < parts.size(); i++) {
            disks.apply(names.get(i)).applyStaged(parts.get(i));
        }
        AtomicFiles.delete(file);
        retireOthers(point, pointDisks);
        writeDeviceState();
        return true;
    }

    /**
     * The point's NVRAM and TPM state where libvirt reads them for the replica. The point is
     * applied either way: a failure here is written again by the next point, and by a start.
     */
    private void writeDeviceState() {
        try {
            ReplicaDeviceState.writeOut(domain);
        } catch (IOException | RuntimeException e) {
            log.error("{}: the replica's firmware and TPM state could not be written out (the next point and a start "
                    + "try again): {}", domain.uuid(), e.getMessage());
        }
    }

    /**
     * The disks of the domain that point {@code point} no longer has (removed on the primary) are
     * retired: the disk's directory is renamed {@code DISK.retired-K}, K the point it left at, with
     * its image and recovery points whole. A retired disk is no longer part of the replica (its
     * definition, a failover's common point), and nothing of it is deleted: an admin can still
     * read it, and a primary that drops a disk from a point cannot erase its history. A disk added
     * back later starts anew from its first delta.
     */
    private void retireOthers(int point, List<String> pointDisks) throws IOException {
        for (String name : domain.diskNames()) {
            if (pointDisks.contains(name)) {
                continue;
            }
            ReplicaDisk gone = disks.apply(name);
            int at = gone.state().point();
            if (at >= point) {
                continue; // a disk at the point already is in it, whatever the list said
            }
            Path dir = gone.image().getParent();
            Path retired = dir.resolveSibling(name + ".retired-" + at);
            for (int n = 2; Files.exists(retired); n++) {
                retired = dir.resolveSibling(name + ".retired-" + at + "-" + n);
            }
            Files.move(dir, retired, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            log.warn("{}: disk {} is not in point {}: removed on the primary, its replica retired at point {} as {}",
                    domain.uuid(), name, point, at, retired.getFileName());
        }
    }

    /**
     * Refuses, before the journal is written, a point whose apply would not fit on the standby's
     * disk, after asking for room once; its staged deltas stay, and the next offer of any of them
     * tries again.
     */
    private void checkRoom(int point, List<Staged> parts, List<String> names) throws IOException {
        if (parts.isEmpty()) {
            return;
        }
        long need = 0;
        for (int i = 0; i < parts.size(); i++) {
            need += disks.apply(names.get(i)).applyNeeds(parts.get(i));
        }
        ReplicaDisk first = disks.apply(names.get(0));
        if (need <= first.usableSpace()) {
            return;
        }
        roomMaker.makeRoom();
        long free = first.usableSpace();
        if (need > free) {
            throw new StandbyRefusal(Refuse.NO_SPACE, "point " + point + " needs " + need + " bytes on the standby to "
                    + "apply, " + free + " are free; its deltas are kept and applied once there is room");
        }
    }

    /**
     * Finishes a point that a crash interrupted: every disk of it that is not at the point yet
     * applies its staged delta. A disk whose delta cannot be applied (gone, or damaged on disk)
     * is an error naming it; the journal stays, so nothing is taken for done.
     */
    void recover() throws IOException {
        Optional<Pending> p = FILE.read(file);
        if (p.isEmpty()) {
            return;
        }
        for (Part part : p.get().parts()) {
            ReplicaDisk d = disks.apply(part.disk());
            ReplicaDisk.State s = d.state();
            if (s.point() == p.get().point() && s.pending() == 0) {
                continue;
            }
            if (s.pending() == p.get().point()) {
                d.recover();
                continue;
            }
            d.applyStaged(new Staged(Path.of(part.delta()), part.basePoint(), p.get().point(), part.sha256(), null));
        }
        AtomicFiles.delete(file);
        writeDeviceState();
    }

    /** Forgets a half-applied point: the disks were rolled to a kept point instead (a failover). */
    void discard() throws IOException {
        AtomicFiles.delete(file);
    }

    /** Whether a point is half applied (its journal is there): {@link #recover} has work to do. */
    boolean pending() throws IOException {
        return FILE.read(file).isPresent();
    }
}
