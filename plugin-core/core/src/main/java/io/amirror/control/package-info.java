/**
 * The primary daemon's local API, for the CLI, the hook and monitoring: loopback HTTP with a token
 * ({@link io.amirror.control.ControlServer}, {@link io.amirror.control.ControlEndpoint}), the CLI's
 * client ({@link io.amirror.control.ControlClient}), Prometheus metrics ({@link io.amirror.control.Metrics})
 * and the events the libvirt hook queued ({@link io.amirror.control.HookEventQueue}).
 *
 * <p>Entry: {@link io.amirror.control.ControlServer}. It defines what it serves ({@link io.amirror.control.PrimaryControl}:
 * status, sync, verify, reload, with the documents {@link io.amirror.control.StatusReport} and
 * {@link io.amirror.control.VerifyReport}) and the primary implements that. May use: {@code config}, {@code state},
 * {@code util}. Must not use {@code primary}, so the API and the daemon form no cycle.
 */
package io.amirror.control;
