package io.amirror.libvirt;

import io.amirror.util.Pause;
import org.libvirt.Connect;
import org.libvirt.ErrorCallback;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A long-lived process's connection to libvirtd that survives libvirtd restarts: {@link #get()}
 * hands out the current connection and opens a new one when libvirtd dropped the old (a restart,
 * an upgrade). Domain handles from an old connection die with it, so callers look domains up again
 * for each unit of work.
 */
public final class LibvirtSession implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LibvirtSession.class);

    private final String uri;
    private Connect current;

    /** Kept here so the native side's reference to it stays valid. */
    private static final ErrorCallback QUIET = new ErrorCallback();

    /**
     * Stops libvirt from printing every failed call to stderr (its default handler); the failures
     * still reach the caller as {@link LibvirtException}s, which say what went wrong in context.
     */
    public static synchronized void quiet() {
        try {
            Connect.setErrorCallback(QUIET);
        } catch (LibvirtException e) {
            log.debug("cannot quieten libvirt's error output: {}", e.getMessage());
        }
    }

    public LibvirtSession(String uri) throws LibvirtException {
        quiet();
        this.uri = uri;
        this.current = new Connect(uri);
    }

    public String uri() {
        return uri;
    }

    /** A call on the connection. */
    public interface Call<T> {
        T on(Connect c) throws LibvirtException;
    }

    /**
     * The connection, reopened first if libvirtd dropped it; while libvirtd restarts, opening is
     * retried for up to {@link #RECONNECT_WAIT_SECONDS} s.
     */
    public synchronized Connect get() throws LibvirtException {
        if (alive()) {
            return current;
        }
        drop();
        long deadline = System.nanoTime() + RECONNECT_WAIT_SECONDS * 1_000_000_000L;
        while (true) {
            try {
                current = new Connect(uri);
                log.info("connected to libvirt at {}", uri);
                return current;
            } catch (LibvirtException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                Pause.millis(1_000);
            }
        }
    }

    /**
     * Runs {@code call}; when it fails because the connection died under it (libvirtd restarted
     * since the last call), reconnects and runs it once more.
     */
    public <T> T call(Call<T> call) throws LibvirtException {
        Connect c = get();
        try {
            return call.on(c);
        } catch (LibvirtException e) {
            synchronized (this) {
                if (c == current && alive()) {
                    throw e; // a real answer from a live libvirtd
                }
            }
            log.info("libvirt connection lost ({}); reconnecting", e.getMessage());
            return call.on(get());
        }
    }

    static final int RECONNECT_WAIT_SECONDS = 30;

    private boolean alive() {
        try {
            return current != null && current.isAlive();
        } catch (LibvirtException dead) {
            return false;
        }
    }

    private void drop() {
        if (current != null) {
            try {
                current.close();
            } catch (LibvirtException ignored) {
                // it is gone already
            }
            current = null;
        }
    }

    @Override
    public synchronized void close() throws LibvirtException {
        if (current != null) {
            current.close();
            current = null;
        }
    }
}
