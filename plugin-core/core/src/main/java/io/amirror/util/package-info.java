/**
 * Small machinery under every stage: crash-safe file replacement ({@link io.amirror.util.AtomicFiles}),
 * external programs with deadlines ({@link io.amirror.util.Exec}), file digests and tree removal,
 * {@code HOST:PORT} and week windows as admins write them, interruptible pauses.
 *
 * <p>Stage: none of its own. May use: the JDK only. Must not use any other amirror package: each
 * class here stands alone, so that every stage can use it without pulling in another.
 */
package io.amirror.util;
