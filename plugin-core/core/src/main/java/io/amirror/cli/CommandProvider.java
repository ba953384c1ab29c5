package io.amirror.cli;

/**
 * Contributes a subcommand to {@code amirror} from another module on the class path (the bridge's
 * {@code amirror bridge}), found with {@link java.util.ServiceLoader}. The core does not depend on
 * those modules; the application jar holds them all.
 */
public interface CommandProvider {

    /** A picocli {@code @Command} object, added under its own name. */
    Object command();
}
