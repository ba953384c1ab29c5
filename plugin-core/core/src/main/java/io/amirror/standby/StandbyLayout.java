package io.amirror.standby;

import io.amirror.transport.ReplicaManifest;

import io.amirror.delta.DeltaFormat;

import java.nio.file.Path;
import java.util.HexFormat;
import java.util.UUID;

/**
 * Where the standby keeps what it keeps: every path of its state directory, in one place
 * ({@code schemas/state-layout.md}, section Standby, lists them with their owners and formats).
 * Pure: no file is touched here.
 *
 * <pre>
 * STATE/                       the state directory (default /var/lib/amirror)
 *   identity.p12, identity.pass  the host's TLS identity (transport.Identity)
 *   standby.lock               held by the running standby daemon (state.StateDirLock)
 *   sockets/                   the replica domains' console and channel sockets (default)
 *   drills/ID/                 a drill under way: overlays, NBD sockets, NVRAM copy, undo record
 *   replicas/                  {@link #replicas()}
 *     UUID/                    one replicated domain ({@link DomainFiles})
 *       lock manifest.json defined.json definition.json failover.json promoted.json
 *       drill-pin.json drill.json  the point a drill under way holds, the last drill's outcome
 *       DISK/                  one disk's replica ({@link DiskFiles})
 *         replica.qcow2 state.json delta-A-B.amd seed.map incoming/SHA256.partial
 * </pre>
 *
 * <p>Modes: files 0600 and directories 0700, except STATE, replicas/, UUID/ and DISK/, which QEMU
 * passes through to the image libvirt hands it (0710 group libvirt-qemu, or 0711;
 * {@link io.amirror.util.PrivateFiles#createTraversable}).
 */
public final class StandbyLayout {
    private final Path stateDir;

    private StandbyLayout(Path stateDir) {
        this.stateDir = stateDir;
    }

    /** The layout under {@code stateDir}, as an absolute path (replica definitions name it). */
    public static StandbyLayout of(Path stateDir) {
        return new StandbyLayout(stateDir.toAbsolutePath());
    }

    public Path stateDir() {
        return stateDir;
    }

    /** One directory per replicated domain, named by the primary's UUID. */
    public Path replicas() {
        return stateDir.resolve("replicas");
    }

    /** One directory per drill under way ({@code io.amirror.drill}): its overlays, device state and undo record. */
    public Path drills() {
        return stateDir.resolve("drills");
    }

    /** The default directory of the replica domains' sockets. */
    public Path sockets() {
        return stateDir.resolve("sockets");
    }

    /** The files of one replicated domain under a replicas directory. */
    public static DomainFiles domain(Path replicas, UUID uuid) {
        return new DomainFiles(replicas.resolve(uuid.toString()));
    }

    /** The files of one disk's replica under a replicas directory. */
    public static DiskFiles disk(Path replicas, UUID uuid, String disk) {
        if (!DeltaFormat.validDiskName(disk)) {
            throw new IllegalArgumentException("bad disk name: " + disk);
        }
        return new DiskFiles(replicas.resolve(uuid.toString()).resolve(disk));
    }

    /** A replicated domain's directory: its lock, manifest, definition and failover journal. */
    public record DomainFiles(Path dir) {
        /** Held by whoever changes the domain's replicas or journal (receiver, hook, CLI). */
        public Path lock() {
            return dir.resolve("lock");
        }

        /** The replica's UEFI variable store, written from its {@code nvram} pseudo-disk ({@link ReplicaDeviceState}). */
        public Path nvram() {
            return dir.resolve("nvram.fd");
        }

        /** The last start's outcome: whether the guest came up ({@link GuestUp}). */
        public Path bootCheck() {
            return dir.resolve("boot-check.json");
        }

        /** The primary's description of the domain ({@link ReplicaManifest}). */
        public Path manifest() {
            return dir.resolve("manifest.json");
        }

        /** The replica domain's name and XML as last defined in libvirt. */
        public Path defined() {
            return dir.resolve("defined.json");
        }

        /** What the replica's definition dropped or changed, or why it was refused ({@link DefinitionReport}). */
        public Path definitionReport() {
            return dir.resolve("definition.json");
        }

        /** The point a drill under way boots from, which no pruning drops until the drill ends. */
        public Path drillPin() {
            return dir.resolve("drill-pin.json");
        }

        /** The outcome of the replica's last drill. */
        public Path lastDrill() {
            return dir.resolve("drill.json");
        }

        /** The point an admin chose for the next start. */
        public Path failoverPoint() {
            return dir.resolve("failover.json");
        }

        /** The replica was prepared for a start not yet seen running: it receives nothing meanwhile. */
        public Path starting() {
            return dir.resolve("starting.json");
        }

        /** A start of the replica waits for the domain's lock: a transfer holding it lets go. */
        public Path startRequest() {
            return dir.resolve("start-requested");
        }

        /** The replica was started as the domain: it receives nothing more. */
        public Path promoted() {
            return dir.resolve("promoted.json");
        }

        /** The tenant (and the peer) the replica belongs to ({@link ReplicaOwner}). */
        public Path owner() {
            return dir.resolve("owner.json");
        }

        /** A point being applied to all the domain's disks as one ({@link PointApply}). */
        public Path pointJournal() {
            return dir.resolve("point.json");
        }
    }

    /** A disk's replica directory: the image with its recovery points, the apply journal, deltas on their way. */
    public record DiskFiles(Path dir) {
        /** The replica, a qcow2 v3 image; recovery point K is its internal snapshot {@code amirror-K}. */
        public Path image() {
            return dir.resolve("replica.qcow2");
        }

        /** The apply journal. */
        public Path journal() {
            return dir.resolve("state.json");
        }

        /** The recovery points' cut and receipt times ({@link PointTimes}). */
        public Path times() {
            return dir.resolve("times.json");
        }

        /** Deltas being received, one file per offered delta, named by its SHA-256. */
        public Path incoming() {
            return dir.resolve("incoming");
        }

        public Path partial(byte[] sha256) {
            return incoming().resolve(HexFormat.of().formatHex(sha256) + ".partial");
        }

        /**
         * A delta received whole and verified, held until every disk of its point has one
         * ({@link PointApply}); named by its points and SHA-256, so a re-offer finds it.
         */
        public Path staged(int basePoint, int newPoint, byte[] sha256) {
            return dir.resolve("staged-" + basePoint + "-" + newPoint + "-" + HexFormat.of().formatHex(sha256) + ".amd");
        }

        /** Whether {@code file} is one of this disk's staged deltas. */
        static boolean isStaged(Path file) {
            return file.getFileName().toString().matches("staged-[0-9]+-[0-9]+-[0-9a-f]{64}\\.amd");
        }

        /** The block hashes of an adopted seed, until the first point is applied on it. */
        public Path seedMap() {
            return dir.resolve("seed.map");
        }

        /** The image of a first point being created (0600 before qemu-img writes it), renamed into place. */
        public Path creatingImage() {
            return dir.resolve("replica.qcow2.creating");
        }

        /** A seed being adopted: the image and hashes, renamed into place when complete. */
        public Path adoptingImage() {
            return dir.resolve("replica.qcow2.adopting");
        }

        public Path adoptingSeedMap() {
            return dir.resolve("seed.map.adopting");
        }
    }
}
