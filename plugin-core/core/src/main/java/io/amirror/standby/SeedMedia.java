package io.amirror.standby;

import io.amirror.transport.ReplicaManifest;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.config.StandbyConfig;
import io.amirror.delta.DeltaReader;
import io.amirror.image.DiskImage;
import io.amirror.util.AtomicFiles;
import io.amirror.util.FileDigest;
import io.amirror.util.PrivateFiles;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;

/**
 * A domain's first point on removable media, for a standby a slow link would take days to fill:
 * the point's delta of each disk (xz-compressed, checksummed, exactly what would have crossed the
 * link), the replica manifest, and {@code seed.json} naming them with their SHA-256. The primary
 * writes it ({@code amirror seed export}); the standby verifies and applies it like a delta that
 * arrived ({@code amirror seed import}); the primary's next cycle finds the point there, sends
 * nothing for it, and goes on with what changed since.
 *
 * <p>{@code seed.json} is written last: a directory without it is an export that did not finish.
 */
public final class SeedMedia {
    private static final ObjectMapper JSON = new ObjectMapper();
    public static final String INDEX = "seed.json";
    public static final String MANIFEST = "manifest.json";
    /** seed.json is a few hundred bytes; refuse anything far beyond. */
    private static final long MAX_INDEX = 1 << 20;

    /** One disk's delta on the media. */
    public record Disk(String disk, String file, int basePoint, int newPoint, long size, String sha256) {
    }

    /** The index of a seed directory. */
    public record Index(int format, UUID uuid, String name, int point, String createdAt, List<Disk> disks) {
        public Index {
            disks = List.copyOf(disks);
        }
    }

    private SeedMedia() {
    }

    /**
     * Writes a seed of {@code point} into {@code dir} (created; must hold no seed yet): each delta
     * file copied and forced to the media, then the manifest, then the index.
     */
    public static Index write(Path dir, UUID uuid, String name, int point, List<Path> deltas, List<String> disks,
                              ReplicaManifest manifest) throws IOException {
        PrivateFiles.createDirectories(dir); // what it creates; a directory that exists keeps its mode
        if (Files.exists(dir.resolve(INDEX))) {
            throw new IOException(dir + " already holds a seed (" + INDEX + "); give an empty directory");
        }
        List<Disk> out = new ArrayList<>();
        for (int i = 0; i < deltas.size(); i++) {
            String file = disks.get(i) + ".delta";
            Path target = dir.resolve(file);
            PrivateFiles.copy(deltas.get(i), target); // the guest's data: 0600, forced to the media
            out.add(new Disk(disks.get(i), file, 0, point, Files.size(target),
                    HexFormat.of().formatHex(FileDigest.sha256(target))));
        }
        if (manifest != null) {
            AtomicFiles.writePrivate(dir.resolve(MANIFEST), manifest.toJson()); // it may carry VNC and SPICE passwords
        }
        Index index = new Index(1, uuid, name, point, Instant.now().toString(), out);
        AtomicFiles.writePrivate(dir.resolve(INDEX), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(index));
        return index;
    }

    /** Reads and checks a seed's index: names, points and the files' sizes and SHA-256. */
    public static Index read(Path dir) throws IOException {
        Path f = dir.resolve(INDEX);
        if (!Files.isRegularFile(f)) {
            throw new IOException(dir + " holds no seed (" + INDEX + " is missing: an export that did not finish?)");
        }
        if (Files.size(f) > MAX_INDEX) {
            throw new IOException(f + " is " + Files.size(f) + " bytes: not a seed index");
        }
        Index index;
        try {
            index = JSON.readValue(f.toFile(), Index.class);
        } catch (IOException e) {
            throw new IOException(f + " is not a seed index: " + e.getMessage());
        }
        if (index.format() != 1 || index.uuid() == null || index.point() < 1 || index.disks().isEmpty()) {
            throw new IOException(f + " is not a seed index of a format this amirror reads");
        }
        for (Disk d : index.disks()) {
            if (d.disk() == null || !d.disk().matches("[a-z][a-z0-9]{0,31}") || !(d.disk() + ".delta").equals(d.file())
                    || d.basePoint() != 0 || d.newPoint() != index.point()) {
                throw new IOException(f + " names a disk delta it may not: " + d);
            }
            Path delta = dir.resolve(d.file());
            if (!Files.isRegularFile(delta) || Files.size(delta) != d.size()
                    || !HexFormat.of().formatHex(FileDigest.sha256(delta)).equals(d.sha256())) {
                throw new IOException(delta + " is missing, short or damaged (its SHA-256 is not the one " + INDEX
                        + " records): copy the seed again");
            }
        }
        return index;
    }

    /**
     * Applies a seed to the standby's replicas under {@code replicas}: each disk's delta verified and
     * applied as if it had arrived over the link, the manifest stored. A replica that already has
     * the point is left as it is; one that was promoted, or holds other points, is refused.
     * Returns one line per disk saying what happened.
     */
    public static List<String> importInto(Path dir, Path replicas, DiskImage.Tools tools)
            throws Exception {
        Index index = read(dir);
        ReplicaManifest manifest = null;
        if (Files.exists(dir.resolve(MANIFEST))) {
            manifest = ReplicaManifest.fromJson(Files.readAllBytes(dir.resolve(MANIFEST)));
            if (!manifest.bridged()) {
                ReplicaDefinition.parse(manifest.domainXml());
            }
            if (!manifest.uuid().equals(index.uuid())) {
                throw new IOException(dir.resolve(MANIFEST) + " describes " + manifest.uuid() + ", the seed is of "
                        + index.uuid());
            }
        }
        ReplicaDomain rd = new ReplicaDomain(replicas, index.uuid(), tools);
        List<String> done = new ArrayList<>();
        try (ReplicaDomain.Lock lock = rd.lock()) {
            if (rd.promoted().isPresent()) {
                throw new IOException("the replica of " + index.uuid() + " was started as the domain here; "
                        + "a seed cannot go under it");
            }
            PointApply points = new PointApply(rd, rd::disk);
            points.recover();
            List<String> names = new ArrayList<>();
            for (Disk d : index.disks()) {
                names.add(d.disk());
                ReplicaDisk disk = rd.disk(d.disk());
                byte[] sha = HexFormat.of().parseHex(d.sha256());
                disk.recover();
                int at = disk.state().point();
                if (disk.alreadyApplied(index.point(), sha) || disk.holdsStaged(0, index.point(), sha)) {
                    done.add(d.disk() + ": already at point " + index.point());
                    continue;
                }
                if (at != 0) {
                    throw new IOException("the replica of " + index.uuid() + " " + d.disk() + " is at point " + at
                            + ": a seed of point " + index.point() + " is for a replica that has none yet");
                }
                long virtualSize;
                try (InputStream in = new BufferedInputStream(Files.newInputStream(dir.resolve(d.file())))) {
                    virtualSize = DeltaReader.readHeader(in).virtualSize();
                }
                Path partial = disk.prepareIncoming(0, index.point(), d.size(), sha, virtualSize,
                        StandbyConfig.DEFAULT_MAX_DISK_BYTES);
                PartialDelta.copy(dir.resolve(d.file()), partial);
                disk.stage(partial, 0, index.point(), d.size(), sha, virtualSize).forgetSources();
                done.add(d.disk() + ": at point " + index.point() + " (" + d.size() + " bytes of delta verified and applied)");
            }
            if (!points.applyIfComplete(index.point(), names, null)) {
                throw new IOException("the seed's disks " + names + " could not all be staged for point " + index.point());
            }
        }
        if (manifest != null) {
            try (ReplicaDomain.Lock lock = rd.lock()) {
                rd.storeManifest(manifest);
            }
        }
        return done;
    }
}
