package io.amirror.primary;

import io.amirror.state.StateFile;
import io.amirror.state.SwitchoverLayout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * The record that a domain was switched over to its standby ({@code amirror switchover}): it runs
 * there now, from {@code point}, as {@code replicaName}, and replicates back to this host. While
 * the record is there the primary daemon leaves the domain alone (no cycles, no RPO alerts, no hook
 * events): its standby would refuse every point, and its own copy here stays as the final point left
 * it. The switchover command writes it just before it asks the standby to take the domain over, and
 * removes it again when the standby refuses; an admin who wants the domain replicated from here
 * again removes it ({@code STATE/switched/UUID.json}).
 */
public record SwitchedAway(String domain, int point, String at, String standby, String replicaName, String replicaUuid) {
    static final StateFile<SwitchedAway> FILE = StateFile.of("switchover record", SwitchedAway.class, 1);

    public static Optional<SwitchedAway> read(Path stateDir, UUID domain) throws IOException {
        return FILE.read(SwitchoverLayout.of(stateDir).switchedAway(domain));
    }

    public void write(Path stateDir, UUID domain) throws IOException {
        io.amirror.util.PrivateFiles.createDirectories(SwitchoverLayout.of(stateDir).switchedAway());
        FILE.write(SwitchoverLayout.of(stateDir).switchedAway(domain), this);
    }

    public static void remove(Path stateDir, UUID domain) throws IOException {
        Files.deleteIfExists(SwitchoverLayout.of(stateDir).switchedAway(domain));
    }

    /** A record as the daemon goes by it: the domain's UUID, its name when the record says it, and why. */
    record Away(UUID uuid, String domain, String why) {
    }

    /** Every record; a damaged one counts as there (the domain is left alone), with its error. */
    static java.util.List<Away> all(Path stateDir) throws IOException {
        Path dir = SwitchoverLayout.of(stateDir).switchedAway();
        java.util.List<Away> out = new java.util.ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (Stream<Path> s = Files.list(dir)) {
            for (Path f : s.toList()) {
                String name = f.getFileName().toString();
                if (!name.endsWith(".json")) {
                    continue;
                }
                UUID uuid;
                try {
                    uuid = UUID.fromString(name.substring(0, name.length() - 5));
                } catch (IllegalArgumentException notOurs) {
                    continue;
                }
                try {
                    Optional<SwitchedAway> r = FILE.read(f);
                    out.add(new Away(uuid, r.map(SwitchedAway::domain).orElse(null), r.map(a -> "runs on " + a.standby()
                            + " as " + a.replicaName() + " since its switchover at point " + a.point() + " (" + a.at()
                            + ")").orElse("switched over")));
                } catch (IOException damaged) {
                    out.add(new Away(uuid, null, "switched over (" + damaged.getMessage() + ")"));
                }
            }
        }
        return out;
    }
}
