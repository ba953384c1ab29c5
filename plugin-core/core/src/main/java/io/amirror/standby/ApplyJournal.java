package io.amirror.standby;

import io.amirror.standby.ReplicaDisk.State;
import io.amirror.state.StateFile;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The apply journal of one disk's replica ({@code state.json}), its only reader and writer. It
 * goes "at k" → "pending k+1 (delta D)" → "at k+1", each step replacing the file atomically, so
 * a crash leaves one of the three and {@link ReplicaDisk#recover()} knows what to finish.
 *
 * <p>Format 1 added the format field to the fields of format 0 (the journal before formats
 * existed), which is read as it is; format 2 added {@code rollingTo} (a roll back in progress),
 * which a journal of format 1 never has.
 */
final class ApplyJournal {
    static final StateFile<State> FILE = StateFile.of("apply journal", State.class, 2)
            .migrating(0, unchanged -> unchanged)
            .migrating(1, journal -> journal.put("rollingTo", 0));
    /** A replica that has received nothing. */
    static final State EMPTY = new State(0, 0, null, 0, null, null);

    private final Path file;

    ApplyJournal(Path file) {
        this.file = file;
    }

    State read() throws IOException {
        return FILE.read(file).orElse(EMPTY);
    }

    void write(State s) throws IOException {
        FILE.write(file, s);
    }
}
