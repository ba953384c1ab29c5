package io.amirror.control;

import io.amirror.config.ConfigError;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * What the control API serves on a primary ({@link ControlServer}, {@link Metrics}): the daemon
 * implements it, so the API knows the daemon only through these calls and the documents they return.
 */
public interface PrimaryControl {

    /** The whole daemon now ({@code status.schema.json}). */
    StatusReport status() throws Exception;

    /** Asks for a cycle of {@code guest} now; when it is due to run, or empty when no policy covers it. */
    Optional<Instant> requestSync(String guest) throws Exception;

    /** Compares the standby's replica of {@code guest} with the primary's record. */
    VerifyReport verify(String guest) throws Exception;

    /** Reads the policies again; the errors of those refused. */
    List<ConfigError> reload() throws Exception;
}
