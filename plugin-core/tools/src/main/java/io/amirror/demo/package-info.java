/**
 * Not production: {@code amirror demo}, a developer tool that never ships in the package. A standby and
 * the primary daemon in two network namespaces over a shaped link, a lab guest working through office
 * days, the daemon's live status, then the replica checked and started; everything it made is undone
 * at the end or on Ctrl-C.
 *
 * <p>Entry: {@link io.amirror.demo.ReplicationDemo}. May use the lab and the core. The core must never
 * use it; its command joins the CLI through {@code cli.CommandProvider}.
 */
package io.amirror.demo;
