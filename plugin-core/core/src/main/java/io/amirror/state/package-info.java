/**
 * State files on both sides: {@link io.amirror.state.StateFile}, one kind of versioned JSON file
 * (format field, step-by-step migration, atomic private writes) and the one JSON mapper of state;
 * {@link io.amirror.state.StateDirLock}, the lock that keeps a state directory to one daemon of a
 * kind.
 *
 * <p>Stage: none of its own; the persistence under every stage. Each file has one owner class (named
 * in {@code schemas/state-layout.md}); the owner declares its {@code StateFile} and is the only
 * writer. May use: {@code util}, Jackson. Used by every stage that keeps state.
 */
package io.amirror.state;
