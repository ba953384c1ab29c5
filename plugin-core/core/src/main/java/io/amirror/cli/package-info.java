/**
 * The top, for admins and scripts: the {@code amirror} command in picocli. Each command parses, calls
 * one service, and prints, for people or as {@code --json}; exit statuses are in
 * {@link io.amirror.cli.ExitCodes}. Other modules (the bridge, the developer tools) add their commands
 * through {@link io.amirror.cli.CommandProvider}, found with {@link java.util.ServiceLoader}.
 *
 * <p>Entry: {@link io.amirror.cli.Main}. May use every production package. Must not be used by any of
 * them, and must not name the lab, the demo or the benchmarks: their commands come with the tools.
 */
package io.amirror.cli;
