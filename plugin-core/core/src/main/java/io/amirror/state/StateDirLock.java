package io.amirror.state;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One daemon of a kind per state directory: an exclusive OS file lock on {@code STATE/<kind>.lock}
 * ({@code primary.lock}, {@code standby.lock}; the bridge's {@code bridge.lock} in its own state
 * directory), taken by the daemon before it touches anything else there and held until it stops.
 *
 * <p>Why: every daemon assumes it is the only one of its kind on its files. A second {@code amirror
 * primary} on the same directory would delete the first one's spool partials at its start (they
 * look like a crash's leftovers), overwrite the control token the CLI reads, and run cycles beside
 * the first one's; a second standby would apply beside the first; a second bridge would replace the
 * first one's sockets and delete the copy-on-write scratch file of a point being read. So the second
 * one is refused with {@link InUse}, naming the process that holds the directory and how to stop
 * it, and changes nothing on disk (the lock file is opened, never written, unless the lock is got).
 *
 * <p>Why per kind: a primary and a standby legitimately share a state directory (both default to
 * {@code /var/lib/amirror} and share its key pair, on a host that is the standby of one office and
 * the primary of its own domains); their files do not overlap. The commands that work beside a
 * running daemon ({@code status}, {@code sync}, {@code verify}, {@code replicas}, {@code points},
 * {@code failover}, {@code seed ...}, the hook's {@code replica prepare}, {@code bridge sync}) take
 * no such lock: they work under the finer locks of the files they change.
 *
 * <p>The lock is the OS's ({@link FileChannel#tryLock()}, a POSIX record lock): the kernel releases
 * it when the holder dies, kill -9 included, so a lock file left by a dead process blocks nothing.
 * The file's text ({@code pid=}, {@code daemon=}, {@code since=}, {@code command=}, one per line),
 * written after the lock is taken and emptied when the daemon releases it, only tells a refused
 * process (and an admin's {@code cat}) who holds it; a killed daemon's text stays and blocks nothing. The file is never deleted: a second daemon could otherwise lock
 * a new file of the same name while the first still holds the old one.
 *
 * <p>Within one JVM: a POSIX lock belongs to the process, and closing <em>any</em> channel or
 * stream of the file in that process releases it. So a second acquisition in the process that
 * holds the lock is refused from memory, without opening the file, and nothing else in a daemon
 * (nor a test beside one in its JVM) may open the lock file: read it from another process.
 */
public final class StateDirLock implements AutoCloseable {
    private static final int MAX_TEXT = 4096;
    /** Locks this process holds, by the lock file's real path; checked before the file is opened. */
    private static final Map<Path, Holder> HELD_HERE = new ConcurrentHashMap<>();

    private final Path file;
    private final Daemon daemon;
    private final Holder holder;
    private final FileChannel channel;
    private final FileLock lock;
    private boolean closed;

    private StateDirLock(Path file, Daemon daemon, Holder holder, FileChannel channel, FileLock lock) {
        this.file = file;
        this.daemon = daemon;
        this.holder = holder;
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * A kind of daemon that owns a state directory: its lock file's name, what it is called in a
     * refusal, and how an admin stops it.
     */
    public record Daemon(String lockName, String title, String stopHint) {
        public static final Daemon PRIMARY = new Daemon("primary.lock", "the primary daemon (amirror primary)",
                "systemctl stop amirror-primary");
        public static final Daemon STANDBY = new Daemon("standby.lock", "the standby daemon (amirror standby)",
                "systemctl stop amirror-standby");

        public Daemon {
            if (!lockName.matches("[a-z][a-z0-9-]*\\.lock")) {
                throw new IllegalArgumentException("bad lock file name: " + lockName);
            }
        }
    }

    /**
     * Who holds (or last held) a lock, as its file says: {@code pid} -1 and the others null when
     * it does not say.
     */
    public record Holder(long pid, String daemon, Instant since, String command) {
        static Holder parse(String text) {
            long pid = -1;
            String daemon = null;
            Instant since = null;
            String command = null;
            for (String line : text.split("\n")) {
                int eq = line.indexOf('=');
                if (eq < 0) {
                    continue;
                }
                String v = line.substring(eq + 1).strip();
                switch (line.substring(0, eq).strip()) {
                    case "pid" -> {
                        try {
                            pid = Long.parseLong(v);
                        } catch (NumberFormatException e) {
                            pid = -1;
                        }
                    }
                    case "daemon" -> daemon = v;
                    case "since" -> {
                        try {
                            since = Instant.parse(v);
                        } catch (DateTimeParseException e) {
                            since = null;
                        }
                    }
                    case "command" -> command = v;
                    default -> {
                    }
                }
            }
            return new Holder(pid, daemon, since, command);
        }

        String text() {
            return "pid=" + pid + "\ndaemon=" + daemon + "\nsince=" + since + "\ncommand=" + command + "\n";
        }

        /** Whether the text names a live process (it may be a dead holder's, just before the new one wrote). */
        boolean alive() {
            return pid > 0 && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
        }
    }

    /** Refused: another process (or another part of this one) holds the state directory for its kind of daemon. */
    public static final class InUse extends IOException {
        private final transient Holder holder;
        private final Path lockFile;

        InUse(String message, Path lockFile, Holder holder) {
            super(message);
            this.lockFile = lockFile;
            this.holder = holder;
        }

        /** The holder as its lock file says ({@code pid} -1 when it says nothing readable). */
        public Holder holder() {
            return holder;
        }

        public Path lockFile() {
            return lockFile;
        }
    }

    /**
     * Takes {@code daemon}'s lock on {@code stateDir} (created if missing), or refuses with
     * {@link InUse} and changes nothing. Hold it until the daemon has stopped, then {@link #close}.
     */
    public static StateDirLock acquire(Path stateDir, Daemon daemon) throws IOException {
        Files.createDirectories(stateDir);
        Path file = stateDir.toRealPath().resolve(daemon.lockName());
        synchronized (HELD_HERE) {
            Holder here = HELD_HERE.get(file);
            if (here != null) {
                throw inUse(stateDir, file, daemon, here);
            }
            FileChannel ch = FileChannel.open(file, Set.of(StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            FileLock lock;
            try {
                lock = ch.tryLock();
            } catch (OverlappingFileLockException thisProcess) { // a lock taken around this class
                ch.close();
                throw inUse(stateDir, file, daemon, new Holder(ProcessHandle.current().pid(), null, null, null));
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
            if (lock == null) {
                Holder other;
                try (ch) {
                    other = readHolder(ch);
                }
                throw inUse(stateDir, file, daemon, other);
            }
            Holder me = new Holder(ProcessHandle.current().pid(), daemon.lockName().replaceFirst("\\.lock$", ""),
                    Instant.now().truncatedTo(ChronoUnit.SECONDS), commandLine());
            try {
                ch.truncate(0);
                ch.write(ByteBuffer.wrap(me.text().getBytes(StandardCharsets.UTF_8)), 0);
                ch.force(true);
            } catch (IOException | RuntimeException e) {
                ch.close(); // releases the lock too
                throw e;
            }
            HELD_HERE.put(file, me);
            return new StateDirLock(file, daemon, me, ch, lock);
        }
    }

    /**
     * The holder's text. The holder writes it just after it took the lock, so an empty text, or one
     * naming a dead process (the previous holder's), is read again for a moment.
     */
    private static Holder readHolder(FileChannel ch) throws IOException {
        Holder h = null;
        for (int attempt = 0; attempt < 20; attempt++) {
            ByteBuffer buf = ByteBuffer.allocate(MAX_TEXT);
            while (buf.hasRemaining() && ch.read(buf, buf.position()) > 0) {
                // read until the end of the file or the buffer
            }
            h = Holder.parse(new String(buf.array(), 0, buf.position(), StandardCharsets.UTF_8));
            if (h.alive()) {
                return h;
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        return h;
    }

    private static InUse inUse(Path stateDir, Path file, Daemon daemon, Holder h) {
        StringBuilder m = new StringBuilder().append(stateDir).append(" is in use by ").append(daemon.title());
        if (h.pid() > 0) {
            m.append(": pid ").append(h.pid());
            if (h.pid() == ProcessHandle.current().pid()) {
                m.append(" (this process)");
            } else if (!h.alive()) {
                m.append(" (as its lock file says; no such process is visible from here)");
            }
            if (h.since() != null) {
                m.append(", running since ").append(h.since());
            }
            if (h.command() != null && !h.command().isBlank()) {
                m.append(", command: ").append(shorten(h.command()));
            }
            m.append(". One per state directory: stop it first (").append(daemon.stopHint()).append(", or kill ")
                    .append(h.pid()).append(')');
        } else {
            m.append(" (its pid is not recorded in ").append(file).append(" yet)")
                    .append(". One per state directory: stop it first (").append(daemon.stopHint())
                    .append("; 'fuser -v ").append(file).append("' names the process)");
        }
        m.append(", or give this one another state directory. Nothing was changed.");
        return new InUse(m.toString(), file, h);
    }

    /**
     * A command line fit for a one-line message: a long class path is left out, and what is still
     * long is cut in the middle.
     */
    static String shorten(String command) {
        String c = command.replaceAll("\\s+", " ").strip()
                .replaceAll("(^| )(-cp|-classpath|--class-path) \\S{40,}", "$1$2 …");
        return c.length() <= 400 ? c : c.substring(0, 120) + " … " + c.substring(c.length() - 270);
    }

    private static String commandLine() {
        return ProcessHandle.current().info().commandLine().orElse("java").replaceAll("[\\r\\n]+", " ");
    }

    /** The lock file. */
    public Path file() {
        return file;
    }

    public Daemon daemon() {
        return daemon;
    }

    /** What this holder wrote in the file. */
    public Holder holder() {
        return holder;
    }

    /** Empties the text and releases the lock; the file stays (see the class comment). Idempotent. */
    @Override
    public void close() throws IOException {
        synchronized (HELD_HERE) {
            if (closed) {
                return;
            }
            closed = true;
            try (channel) {
                if (channel.isOpen()) {
                    channel.truncate(0);
                }
                lock.release();
            } finally {
                HELD_HERE.remove(file);
            }
        }
    }
}
