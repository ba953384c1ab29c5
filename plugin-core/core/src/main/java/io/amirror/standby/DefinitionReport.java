package io.amirror.standby;

import io.amirror.state.StateFile;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * What the standby did with a replica's last description, kept as {@code definition.json} in the
 * replica's directory for {@code amirror replicas}: the point it came with, what was dropped or
 * changed ({@link ReplicaDefinition.Change}s), and, when the standby refused to define it, why
 * (the previous definition then still stands). Written owner-only: the notes name the primary's
 * devices.
 */
public record DefinitionReport(int point, List<ReplicaDefinition.Change> changes, String refused) {
    static final StateFile<DefinitionReport> FILE = StateFile.of("replica definition report", DefinitionReport.class, 1);

    public DefinitionReport {
        changes = changes == null ? List.of() : List.copyOf(changes);
    }

    /** How many items of the primary's description the replica's definition left out or changed. */
    public int dropped() {
        return changes.size();
    }

    /** One line for a table: "N items dropped", or "refused: why". */
    public String summary() {
        return refused != null ? "refused: " + refused
                : changes.isEmpty() ? "as described" : changes.size() + " item" + (changes.size() == 1 ? "" : "s") + " dropped";
    }

    public void write(Path replicaDir) throws IOException {
        FILE.write(new StandbyLayout.DomainFiles(replicaDir).definitionReport(), this);
    }

    /** The report in {@code replicaDir}, if the standby built a definition there; a damaged one reads as none. */
    public static Optional<DefinitionReport> read(Path replicaDir) {
        try {
            return FILE.read(new StandbyLayout.DomainFiles(replicaDir).definitionReport());
        } catch (IOException e) {
            return Optional.empty(); // only a report: the next description writes it again
        }
    }
}
