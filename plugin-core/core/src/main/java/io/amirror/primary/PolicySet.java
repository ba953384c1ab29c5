package io.amirror.primary;

import io.amirror.config.ConfigError;
import io.amirror.config.Policy;
import io.amirror.config.PolicyLoader;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The daemon's policies: the valid ones of the policy directory by name, the files refused at the
 * last {@link #reload}, and which guest each covers ({@link #match}, through {@link PolicyMatcher}),
 * with the conflicts of the last match. Readers see one consistent set; a reload replaces it whole.
 */
final class PolicySet {
    private final Path dir;
    private volatile Map<String, Policy> byName = Map.of();
    private volatile List<ConfigError> refusedFiles = List.of();
    private volatile List<ConfigError> conflicts = List.of();

    PolicySet(Path dir) {
        this.dir = dir;
    }

    /** Rereads the directory; returns the errors of the files that were refused. */
    List<ConfigError> reload() throws IOException {
        PolicyLoader.Loaded loaded = PolicyLoader.loadDir(dir);
        Map<String, Policy> m = new LinkedHashMap<>();
        loaded.policies().forEach(p -> m.put(p.name(), p));
        this.byName = Collections.unmodifiableMap(m); // file-name order: the first policy wins a conflict
        this.refusedFiles = loaded.errors();
        return loaded.errors();
    }

    /** Which policy covers which guest, among libvirt's {@code defined} domains and the bridge policies' guests. */
    PolicyMatcher.Result match(List<PolicyMatcher.DefinedDomain> defined) {
        PolicyMatcher.Result r = PolicyMatcher.match(List.copyOf(byName.values()), defined);
        this.conflicts = r.conflicts();
        return r;
    }

    Policy get(String name) {
        return name == null ? null : byName.get(name);
    }

    List<String> names() {
        return List.copyOf(byName.keySet());
    }

    /** The refused files of the last reload, then the conflicts of the last match. */
    List<ConfigError> errors() {
        return Stream.concat(refusedFiles.stream(), conflicts.stream()).toList();
    }
}
