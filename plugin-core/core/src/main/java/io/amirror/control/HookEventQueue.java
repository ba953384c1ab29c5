package io.amirror.control;

import io.amirror.util.PrivateFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchService;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * The daemon's end of the libvirt hook: the directory {@code STATE/events/} where the hook drops one
 * file per domain event. Files are taken in name order (the hook names them by the time of the
 * event), handed to the consumer, and deleted; a file the hook left while the daemon was down is
 * taken at start, so no event is lost. A malformed file goes to {@code events/rejected/}.
 *
 * <p>A watch on the directory takes new files at once; a scan every few seconds catches any the
 * watch missed.
 */
public final class HookEventQueue implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HookEventQueue.class);

    private final Path dir;
    private final Consumer<HookEvent> handler;
    private final Thread thread;
    private volatile boolean closed;

    public HookEventQueue(Path stateDir, Consumer<HookEvent> handler) throws IOException {
        this.dir = PrivateFiles.createDirectories(stateDir.resolve("events")); // the hook (root) queues its events here
        this.handler = handler;
        this.thread = new Thread(this::run, "hook-events");
        thread.setDaemon(true);
    }

    public HookEventQueue start() {
        thread.start();
        return this;
    }

    private void run() {
        try (WatchService w = FileSystems.getDefault().newWatchService()) {
            dir.register(w, StandardWatchEventKinds.ENTRY_CREATE); // the hook's rename arrives as a create
            while (!closed) {
                drain();
                var key = w.poll(5, TimeUnit.SECONDS);
                if (key != null) {
                    key.pollEvents();
                    key.reset();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            log.error("the hook event queue {} stopped: {}", dir, e.getMessage());
        }
    }

    /** Handles every complete event file now in the directory, oldest first. */
    public synchronized void drain() {
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(p -> p.getFileName().toString().endsWith(".event")).sorted().toList();
        } catch (IOException e) {
            log.warn("cannot list {}: {}", dir, e.getMessage());
            return;
        }
        for (Path f : files) {
            try {
                HookEvent e;
                try {
                    e = HookEvent.parse(Files.readAllBytes(f));
                } catch (IllegalArgumentException bad) {
                    Path rejected = PrivateFiles.createDirectories(dir.resolve("rejected")).resolve(f.getFileName());
                    Files.move(f, rejected, StandardCopyOption.REPLACE_EXISTING);
                    log.warn("hook event {} is malformed ({}); moved to {}", f.getFileName(), bad.getMessage(), rejected);
                    continue;
                }
                try {
                    handler.accept(e);
                } catch (RuntimeException failed) {
                    log.error("handling hook event {} {} of '{}' failed", e.operation(), e.subOperation(), e.domain(), failed);
                }
                Files.deleteIfExists(f);
            } catch (IOException io) {
                log.warn("hook event {}: {}", f.getFileName(), io.getMessage());
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
    }
}
