package io.amirror.cli;

/**
 * The exit statuses of {@code amirror}, for scripts and monitoring. Documented in the README and
 * in {@code amirror --help}.
 */
final class ExitCodes {
    /** Done, and for {@code status}: every domain meets its RPO. */
    static final int OK = 0;
    /** The operation failed; the message says why. */
    static final int FAILED = 1;
    /** The command line was wrong (picocli's own code). */
    static final int USAGE = 2;
    /** A policy or configuration file was refused. */
    static final int INVALID_CONFIG = 3;
    /** The daemon is not running, or its control token cannot be read. */
    static final int DAEMON_UNREACHABLE = 4;
    /** {@code status}: a domain misses its RPO or its last cycle failed; {@code sync --wait}: the cycle failed. */
    static final int NOT_HEALTHY = 5;
    /** {@code failover}, or the hook at a replica's start: the replica is not at a point it can start from. */
    static final int START_REFUSED = 6;
    /**
     * {@code primary}, {@code standby}, {@code bridge serve}: a daemon of the same kind already holds the
     * state directory (the message names its pid); nothing was changed.
     */
    static final int STATE_IN_USE = 7;

    static final String HELP = "%nExit status: 0 ok; 1 failed; 2 bad command line; 3 a policy or configuration file "
            + "was refused; 4 the daemon is unreachable; 5 a domain misses its RPO or its cycle failed; "
            + "6 a replica start was refused; 7 another daemon of the same kind holds the state directory.";

    private ExitCodes() {
    }
}
