package io.amirror.standby;

import io.amirror.util.PrivateFiles;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The lock of one replica domain, shared by every process that changes it: the standby daemon for
 * a whole receive, verify and apply, the libvirt hook's {@code replica prepare}, and the CLI.
 *
 * <p>Two layers, because a file lock is held by a process, not a thread: within this JVM one
 * {@link ReentrantLock} per lock file orders the threads (a second thread waits, where a second
 * {@link FileChannel#lock} would throw), and the first hold of the owning thread takes the
 * exclusive file lock that orders the processes; its last release drops it. The holder writes what
 * it is doing into the lock file, so a waiter that gives up can say who held the domain.
 *
 * <p>Callers release on the thread that acquired (a {@code ReentrantLock}'s rule).
 */
final class DomainLock implements ReplicaDomain.Lock {
    /** How often a bounded wait tries the file lock again. */
    private static final long POLL_MILLIS = 50;
    /** The most of the holder's description a waiter reads back. */
    private static final int MAX_DESCRIPTION = 512;

    private static final ConcurrentHashMap<Path, Held> HELD = new ConcurrentHashMap<>();

    /** One lock file's state in this JVM; its fields are touched only by the thread holding {@code threads}. */
    private static final class Held {
        final ReentrantLock threads = new ReentrantLock();
        FileChannel channel;
        FileLock file;
    }

    private final Held held;
    private boolean closed;

    private DomainLock(Held held) {
        this.held = held;
    }

    /**
     * Takes the lock of {@code file} for {@code what}, waiting at most {@code wait} (null: as long
     * as it takes); empty when the wait ran out.
     */
    static Optional<ReplicaDomain.Lock> acquire(Path file, String what, Duration wait) throws IOException {
        Held h = HELD.computeIfAbsent(file.toAbsolutePath().normalize(), k -> new Held());
        long deadline = wait == null ? Long.MAX_VALUE : System.nanoTime() + wait.toNanos();
        try {
            if (wait == null) {
                h.threads.lockInterruptibly();
            } else if (!h.threads.tryLock(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                return Optional.empty();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for " + file);
        }
        if (h.threads.getHoldCount() > 1) {
            return Optional.of(new DomainLock(h)); // this thread holds the file lock already
        }
        try {
            FileChannel ch = PrivateFiles.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
            FileLock l;
            try {
                l = wait == null ? ch.lock() : pollFileLock(ch, deadline);
                if (l == null) {
                    ch.close();
                    h.threads.unlock();
                    return Optional.empty();
                }
                describe(ch, what);
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
            h.channel = ch;
            h.file = l;
            return Optional.of(new DomainLock(h));
        } catch (IOException | RuntimeException e) {
            if (h.threads.isHeldByCurrentThread()) {
                h.threads.unlock();
            }
            throw e;
        }
    }

    private static FileLock pollFileLock(FileChannel ch, long deadline) throws IOException {
        while (true) {
            FileLock l = ch.tryLock();
            if (l != null) {
                return l;
            }
            if (System.nanoTime() >= deadline) {
                return null;
            }
            try {
                Thread.sleep(POLL_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while waiting for a domain's lock");
            }
        }
    }

    private static void describe(FileChannel ch, String what) throws IOException {
        String line = "pid " + ProcessHandle.current().pid() + ", since " + Instant.now() + ": " + what;
        ch.truncate(0);
        ch.write(ByteBuffer.wrap(line.getBytes(StandardCharsets.UTF_8)), 0);
    }

    /** What the holder of {@code file} said it was doing, as printable text (empty when unknown). */
    static String holder(Path file) {
        try {
            byte[] b = Files.readAllBytes(file);
            String s = new String(b, 0, Math.min(b.length, MAX_DESCRIPTION), StandardCharsets.UTF_8);
            return s.replaceAll("\\p{Cntrl}", " ").strip();
        } catch (NoSuchFileException e) {
            return "";
        } catch (IOException e) {
            return "";
        }
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (held.threads.getHoldCount() == 1) {
                FileChannel ch = held.channel;
                held.channel = null;
                held.file = null;
                if (ch != null) {
                    ch.close(); // closing the channel releases its lock
                }
            }
        } finally {
            held.threads.unlock();
        }
    }
}
