/**
 * The developer tools' commands: {@code amirror demo}, {@code amirror bench ...} and
 * {@code amirror lab ...}, added to the CLI by {@link io.amirror.tools.ToolCommands} through
 * {@code cli.CommandProvider} when this module is on the class path (the source tree's developer
 * build, never the package).
 *
 * <p>Not a stage of the data flow: a tool outside production. May use the core, the lab, the demo
 * and the benchmarks; nothing in the core may use it.
 */
package io.amirror.tools;
