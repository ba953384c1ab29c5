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
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;
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
 *
 * <p>The media is untrusted: whoever had it could have put anything on it. The standby reads only
 * regular files directly in the seed directory, never through a symbolic link (a directory holding
 * one is refused whole), each within a bound ({@code seed.json} and the manifest 1 MiB, a delta the
 * size its index records), and stores the manifest only when it describes the seed's own domain.
 */
public final class SeedMedia {
    private static final ObjectMapper JSON = new ObjectMapper();
    public static final String INDEX = "seed.json";
    public static final String MANIFEST = "manifest.json";
    /** seed.json is a few hundred bytes; refuse anything far beyond. */
    private static final long MAX_INDEX = 1 << 20;
    /** A seed directory holds the index, the manifest and a delta per disk. */
    private static final int MAX_ENTRIES = 1000;
    private static final int MAX_DISKS = 256;

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
        Path real = mediaDir(dir);
        Path f = real.resolve(INDEX);
        byte[] json;
        try {
            json = readSmall(real, INDEX, MAX_INDEX);
        } catch (NoSuchFileException e) {
            throw new IOException(dir + " holds no seed (" + INDEX + " is missing: an export that did not finish?)");
        }
        Index index;
        try {
            index = JSON.readValue(json, Index.class);
        } catch (IOException e) {
            throw new IOException(f + " is not a seed index: " + printable(e instanceof
                    com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage()));
        }
        if (index.format() != 1 || index.uuid() == null || index.point() < 1 || index.disks().isEmpty()) {
            throw new IOException(f + " is not a seed index of a format this amirror reads");
        }
        if (index.name() == null || index.name().isEmpty() || index.name().length() > 255
                || !index.name().chars().allMatch(c -> c >= 0x20 && c != 0x7f && c != '/')) {
            throw new IOException(f + " names the domain with what libvirt does not take as a name");
        }
        if (index.disks().size() > MAX_DISKS) {
            throw new IOException(f + " lists " + index.disks().size() + " disks, more than a domain has");
        }
        Set<String> seen = new HashSet<>();
        for (Disk d : index.disks()) {
            if (d == null || d.disk() == null || !d.disk().matches("[a-z][a-z0-9]{0,31}") || !(d.disk() + ".delta").equals(d.file())
                    || d.basePoint() != 0 || d.newPoint() != index.point() || d.size() <= 0 || d.sha256() == null
                    || !d.sha256().matches("[0-9a-f]{64}") || !seen.add(d.disk())) {
                throw new IOException(f + " names a disk delta it may not: " + printable(String.valueOf(d)));
            }
            Path delta = real.resolve(d.file());
            try (FileChannel ch = openOnMedia(real, d.file(), d.size())) {
                if (ch.size() != d.size() || !HexFormat.of().formatHex(sha256(ch)).equals(d.sha256())) {
                    throw new IOException(delta + " is short or damaged (its SHA-256 is not the one " + INDEX
                            + " records): copy the seed again");
                }
            } catch (NoSuchFileException e) {
                throw new IOException(delta + " is missing: copy the seed again");
            } catch (MediaFileTooLarge e) {
                throw new IOException(delta + " is longer than " + INDEX + " records, damaged: copy the seed again");
            }
        }
        return index;
    }

    /** Text from the media, fit for a terminal: printable ASCII, at most 200 characters. */
    private static String printable(String s) {
        String p = String.valueOf(s).replaceAll("[^\\x20-\\x7e]", "?");
        return p.length() > 200 ? p.substring(0, 200) + "..." : p;
    }

    /**
     * The seed directory, its real path: refused if it is a symbolic link itself or holds one,
     * whatever it names (the index, a delta, the manifest), so no read of the import leaves it.
     */
    static Path mediaDir(Path dir) throws IOException {
        if (Files.isSymbolicLink(dir)) {
            throw new IOException(dir + " is a symbolic link: give the seed directory itself");
        }
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException(dir + " holds no seed (not a directory)");
        }
        Path real = dir.toRealPath();
        int n = 0;
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(real)) {
            for (Path e : entries) {
                if (++n > MAX_ENTRIES) {
                    throw new IOException(dir + " holds more than " + MAX_ENTRIES + " files: not a seed directory");
                }
                if (Files.isSymbolicLink(e)) {
                    throw new IOException(e + " is a symbolic link: a seed holds plain files only (copy it again "
                            + "without links, e.g. cp -rL, after checking where they lead)");
                }
            }
        }
        return real;
    }

    /** A file on the media is larger than it may be. */
    static final class MediaFileTooLarge extends IOException {
        MediaFileTooLarge(String message) {
            super(message);
        }
    }

    /**
     * Opens {@code name} in the seed directory {@code real} for reading: a regular file there, not
     * a link (opened with {@code O_NOFOLLOW}), of at most {@code maxBytes}.
     */
    static FileChannel openOnMedia(Path real, String name, long maxBytes) throws IOException {
        Path p = real.resolve(name);
        if (!real.equals(p.getParent())) {
            throw new IOException("'" + name + "' is not a file of the seed directory " + real);
        }
        BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (a.isSymbolicLink()) {
            throw new IOException(p + " is a symbolic link: a seed holds plain files only");
        }
        if (!a.isRegularFile()) {
            throw new IOException(p + " is not a regular file");
        }
        FileChannel ch = FileChannel.open(p, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
        try {
            if (ch.size() > maxBytes) {
                throw new MediaFileTooLarge(p + " has " + ch.size() + " bytes, more than the " + maxBytes + " it may have");
            }
            if (!real.equals(p.toRealPath().getParent())) {
                throw new IOException(p + " is not inside the seed directory " + real);
            }
            return ch;
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** The whole of a small file of the seed directory (see {@link #openOnMedia}). */
    static byte[] readSmall(Path real, String name, long maxBytes) throws IOException {
        try (FileChannel ch = openOnMedia(real, name, maxBytes)) {
            ByteBuffer b = ByteBuffer.allocate((int) ch.size());
            while (b.hasRemaining() && ch.read(b) >= 0) {
                // until full or the end
            }
            if (b.hasRemaining() || ch.read(ByteBuffer.allocate(1)) >= 0) {
                throw new IOException(real.resolve(name) + " changed while it was read");
            }
            return b.array();
        }
    }

    private static byte[] sha256(FileChannel ch) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        ByteBuffer b = ByteBuffer.allocate(1 << 20);
        ch.position(0);
        while (ch.read(b) > 0) {
            b.flip();
            md.update(b);
            b.clear();
        }
        return md.digest();
    }

    /** Copies exactly the recorded bytes of a delta on the media into {@code partial} (0600, the guest's data), forced to disk. */
    private static void copyFromMedia(Path real, Disk d, Path partial) throws IOException {
        Files.deleteIfExists(partial); // made afresh, so it cannot keep a looser mode
        try (FileChannel in = openOnMedia(real, d.file(), d.size());
             FileChannel out = PrivateFiles.open(partial, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            long at = 0;
            while (at < d.size()) {
                long n = in.transferTo(at, d.size() - at, out);
                if (n <= 0) {
                    throw new IOException(real.resolve(d.file()) + " ended at " + at + " of " + d.size() + " bytes");
                }
                at += n;
            }
            out.force(true);
        }
    }

    /**
     * Applies a seed to the standby's replicas under {@code replicas}: each disk's delta verified and
     * applied as if it had arrived over the link, the manifest stored. A replica that already has
     * the point is left as it is; one that was promoted, or holds other points, is refused.
     * Returns one line per disk saying what happened.
     */
    public static List<String> importInto(Path dir, Path replicas, DiskImage.Tools tools) throws Exception {
        return importInto(dir, replicas, tools, StandbyConfig.DEFAULT_MAX_DISK_BYTES);
    }

    /**
     * {@link #importInto(Path, Path, DiskImage.Tools)} on a standby that takes disks of at most
     * {@code maxDiskBytes} ({@code limits.maxDiskBytes}). The manifest, if the seed has one, must
     * describe the seed's domain at the seed's point, and is stored only for that domain and only
     * when its replica has none yet (a description the primary sent since is newer).
     */
    public static List<String> importInto(Path dir, Path replicas, DiskImage.Tools tools, long maxDiskBytes)
            throws Exception {
        Index index = read(dir);
        Path real = mediaDir(dir);
        ReplicaManifest manifest = null;
        if (Files.exists(real.resolve(MANIFEST), LinkOption.NOFOLLOW_LINKS)) {
            byte[] json;
            try {
                json = readSmall(real, MANIFEST, ReplicaManifest.MAX_JSON);
            } catch (MediaFileTooLarge e) {
                throw new IOException(real.resolve(MANIFEST) + " is larger than a replica manifest may be ("
                        + ReplicaManifest.MAX_JSON + " bytes)");
            }
            try {
                manifest = ReplicaManifest.fromJson(json);
            } catch (IOException e) {
                throw new IOException(real.resolve(MANIFEST) + ": " + printable(e.getMessage()));
            }
            if (!manifest.bridged()) {
                ReplicaDefinition.parse(manifest.domainXml());
            }
            if (!manifest.uuid().equals(index.uuid()) || manifest.point() != index.point()
                    || !manifest.name().equals(index.name())) {
                throw new IOException(real.resolve(MANIFEST) + " describes " + manifest.uuid() + " ('" + printable(manifest.name())
                        + "') at point " + manifest.point() + ", the seed is of " + index.uuid() + " ('" + index.name()
                        + "') at point " + index.point() + ": not this seed's manifest");
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
                try (InputStream in = new BufferedInputStream(Channels.newInputStream(
                        openOnMedia(real, d.file(), d.size())))) {
                    virtualSize = DeltaReader.readHeader(in).virtualSize();
                }
                Path partial = disk.prepareIncoming(0, index.point(), d.size(), sha, virtualSize, maxDiskBytes);
                copyFromMedia(real, d, partial);
                disk.stage(partial, 0, index.point(), d.size(), sha, virtualSize).forgetSources();
                done.add(d.disk() + ": at point " + index.point() + " (" + d.size() + " bytes of delta verified and applied)");
            }
            if (!points.applyIfComplete(index.point(), names, null)) {
                throw new IOException("the seed's disks " + names + " could not all be staged for point " + index.point());
            }
        }
        if (manifest != null) {
            try (ReplicaDomain.Lock lock = rd.lock()) {
                Optional<ReplicaManifest> stored = rd.manifest();
                if (stored.isEmpty()) {
                    rd.storeManifest(manifest);
                } else if (!stored.get().key().equals(manifest.key())) {
                    done.add("manifest: the replica's own (of point " + stored.get().point() + ") is kept");
                }
            }
        }
        return done;
    }
}
