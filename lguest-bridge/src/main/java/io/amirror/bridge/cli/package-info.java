/**
 * The {@code amirror bridge} commands: serve a guest's disk through the bridge, replicate it, show its
 * points, fail it over on the standby. They join the CLI through {@code io.amirror.cli.CommandProvider}
 * ({@code META-INF/services}), as the tools do.
 *
 * <p>Entry: {@link io.amirror.bridge.cli.BridgeCommand}. May use {@code io.amirror.bridge} and the core's
 * services. Nothing uses it.
 */
package io.amirror.bridge.cli;
