package io.amirror.bridge;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.Closeable;
import java.io.IOException;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Deadlines for blocking connections: one sweeper thread closes the connection of every armed
 * deadline that passed, which ends the blocked read or write of its thread. Unix socket channels
 * have no read timeout and a TLS socket's is per read, so closing is the one way that works for
 * all of them and for a client that trickles a byte at a time.
 *
 * <p>Arming and disarming are two volatile writes, cheap enough for every request. A deadline is
 * enforced within one sweep interval after it passes.
 */
final class Deadlines implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Deadlines.class);

    private final Set<Deadline> live = ConcurrentHashMap.newKeySet();
    private final Thread sweeper;
    private final long sweepMillis;
    private volatile boolean closed;

    Deadlines(Duration sweep) {
        this.sweepMillis = Math.max(10, sweep.toMillis());
        sweeper = new Thread(this::sweep, "bridge-deadlines");
        sweeper.setDaemon(true);
        sweeper.start();
    }

    /** A deadline for {@code connection}, disarmed; {@link Deadline#close} forgets it. */
    Deadline open(Closeable connection, String what) {
        Deadline d = new Deadline(connection, what);
        live.add(d);
        return d;
    }

    private void sweep() {
        while (!closed) {
            long now = System.nanoTime();
            for (Deadline d : live) {
                long at = d.at;
                if (at != 0 && now - at >= 0) {
                    log.info("{}: {} took longer than allowed; connection closed", d.what, d.phase);
                    live.remove(d);
                    try {
                        d.connection.close();
                    } catch (IOException e) {
                        log.debug("closing {}: {}", d.what, e.getMessage());
                    }
                }
            }
            try {
                Thread.sleep(sweepMillis);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        sweeper.interrupt();
    }

    /** One connection's deadline: armed for a phase, or not. */
    final class Deadline implements AutoCloseable {
        private final Closeable connection;
        private final String what;
        private volatile long at; // System.nanoTime() of the deadline; 0: disarmed
        private volatile String phase = "";

        private Deadline(Closeable connection, String what) {
            this.connection = connection;
            this.what = what;
        }

        /** The connection is closed unless {@link #disarm} comes within {@code limit}; zero: no limit. */
        void arm(Duration limit, String phase) {
            if (limit.isZero()) {
                disarm();
                return;
            }
            this.phase = phase;
            long t = System.nanoTime() + limit.toNanos();
            at = t == 0 ? 1 : t;
        }

        void disarm() {
            at = 0;
        }

        @Override
        public void close() {
            live.remove(this);
        }
    }
}
