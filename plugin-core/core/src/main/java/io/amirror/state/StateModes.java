package io.amirror.state;

import io.amirror.util.PrivateFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The modes of a state directory, checked when a daemon starts: whatever amirror keeps there that
 * is readable by others than its user (written by an older amirror, or by one run from a shell
 * whose umask is 0022) is tightened, once, with a log line. The target (see
 * {@code schemas/state-layout.md}): files 0600 and directories 0700, except the way QEMU walks to
 * a replica image, the state directory itself, {@code replicas/}, {@code replicas/UUID/} and
 * {@code replicas/UUID/DISK/}, and to a drill's overlays, {@code drills/} and {@code drills/ID/}, which are {@linkplain PrivateFiles#makeTraversable traversable}
 * (0710 with QEMU's group, else 0711). The primary and the standby may share one state directory:
 * both apply the same rules.
 *
 * <p>Nothing outside amirror's own entries is touched: the walk follows no symbolic link, leaves
 * sockets and other special files as they are, and changes nothing at all in a directory that
 * holds anything amirror does not keep there (a state directory given as {@code /var} or a home
 * directory by mistake), which is named in a warning instead.
 */
public final class StateModes {
    private static final Logger log = LoggerFactory.getLogger(StateModes.class);
    /** What amirror keeps at the top of a state directory, on either side (names starting with '.' are its temporaries). */
    static final Set<String> OWN = Set.of("identity.p12", "identity.pass", "control", "events", "chains", "maps", "spool",
            "bridge", "replicas", "sockets", "drills", "lost+found", "primary.lock", "standby.lock", "switched", "back",
            "reverse", "policies.d", "standby.json");
    /** The state directories a switchover nests in a state directory ({@link SwitchoverLayout}), laid out the same. */
    static final Set<String> NESTED = Set.of("back", "reverse");
    static final String REPLICAS = "replicas";
    static final String DRILLS = "drills";
    private static final Pattern DRILL = Pattern.compile("[0-9a-f]{8}");
    private static final Pattern UUID = Pattern.compile("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");
    private static final Pattern DISK = Pattern.compile("[a-z][a-z0-9]{0,31}");
    private static final int NAMED = 5;

    /** What a check changed. */
    public record Result(List<Path> changed, List<String> foreign) {
        public Result {
            changed = List.copyOf(changed);
            foreign = List.copyOf(foreign);
        }
    }

    private StateModes() {
    }

    /**
     * Brings {@code stateDir} and amirror's entries in it to their modes, logging what changed.
     * A missing directory is fine (nothing to check).
     */
    public static Result secure(Path stateDir) throws IOException {
        if (!Files.isDirectory(stateDir, LinkOption.NOFOLLOW_LINKS)) {
            return new Result(List.of(), List.of());
        }
        List<String> foreign;
        try (Stream<Path> s = Files.list(stateDir)) {
            foreign = s.map(p -> p.getFileName().toString()).filter(n -> !OWN.contains(n) && !n.startsWith("."))
                    .sorted().toList();
        }
        if (!foreign.isEmpty()) {
            log.warn("{} holds more than amirror's state ({}): the modes in it are left as they are; give amirror a "
                    + "directory of its own (files 0600, directories 0700: see state-layout.md)", stateDir,
                    String.join(", ", foreign.subList(0, Math.min(NAMED, foreign.size())))
                            + (foreign.size() > NAMED ? ", ..." : ""));
            return new Result(List.of(), foreign);
        }
        List<Path> changed = new ArrayList<>();
        Path root = stateDir.toAbsolutePath();
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                if (dir.equals(root.resolve("lost+found"))) {
                    return FileVisitResult.SKIP_SUBTREE; // fsck's, on a state directory that is a file system of its own
                }
                if (traversed(root, dir) ? PrivateFiles.makeTraversable(dir) : PrivateFiles.tighten(dir)) {
                    changed.add(dir);
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                if (attrs.isRegularFile() && PrivateFiles.tighten(file)) { // links, sockets and devices stay
                    changed.add(file);
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException exc) throws IOException {
                if (exc instanceof NoSuchFileException) {
                    return FileVisitResult.CONTINUE; // removed meanwhile (a delta applied, a partial moved)
                }
                throw exc;
            }
        });
        if (!changed.isEmpty()) {
            log.info("{}: {} path(s) were readable by other users and are now private (files 0600, directories 0700, "
                    + "the way to the replicas traversable by QEMU only): {}", root, changed.size(),
                    String.join(", ", changed.subList(0, Math.min(NAMED, changed.size())).stream()
                            .map(p -> root.relativize(p).toString().isEmpty() ? "." : root.relativize(p).toString()).toList())
                            + (changed.size() > NAMED ? ", ..." : ""));
        }
        return new Result(changed, List.of());
    }

    /**
     * Whether {@code dir} is on QEMU's way to a replica image or a drill's overlay: the root,
     * replicas/, replicas/UUID/, replicas/UUID/DISK/, drills/, drills/ID/; and the same in the state
     * directories a switchover nests (back/, reverse/).
     */
    static boolean traversed(Path root, Path dir) {
        Path rel = root.relativize(dir);
        if (rel.toString().isEmpty()) {
            return true;
        }
        int n = rel.getNameCount();
        if (NESTED.contains(rel.getName(0).toString())) {
            return traversed(root.resolve(rel.getName(0)), dir);
        }
        if (rel.getName(0).toString().equals(DRILLS)) { // a drill's overlays and NVRAM copy, handed to its domain
            return n == 1 || n == 2 && DRILL.matcher(rel.getName(1).toString()).matches();
        }
        return rel.getName(0).toString().equals(REPLICAS) && n <= 3
                && (n < 2 || UUID.matcher(rel.getName(1).toString()).matches())
                && (n < 3 || DISK.matcher(rel.getName(2).toString()).matches());
    }
}
