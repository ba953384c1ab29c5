package io.amirror.primary;

import io.amirror.config.ConfigError;
import io.amirror.config.Policy;
import io.amirror.config.PolicyLoader;
import io.amirror.schedule.ReplicationScheduler.Assignment;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Decides which policy covers which domain. Pure: it sees the domains as names with the policy tag
 * from their metadata (or none), so it is tested without libvirt.
 *
 * <p>A domain named in a policy is covered even while it is not defined (it may be defined later,
 * and its status then says so); globs and tags match defined domains only. A domain matched by two
 * policies goes to the first (policies are in file-name order) and the conflict is reported: one
 * domain has one checkpoint chain, so it replicates to one standby. A bridge policy covers its
 * guest by name only: libvirt's domains are not its guests.
 */
public final class PolicyMatcher {

    /** A defined domain: its name, and the value of its amirror policy tag if it has one. */
    public record DefinedDomain(String name, String tag) {
    }

    public record Result(List<Assignment> assignments, List<ConfigError> conflicts) {
    }

    private PolicyMatcher() {
    }

    public static Result match(List<Policy> policies, List<DefinedDomain> domains) {
        Map<String, Assignment> byDomain = new LinkedHashMap<>();
        List<ConfigError> conflicts = new ArrayList<>();
        for (Policy p : policies) {
            List<String> covered = new ArrayList<>(p.domains().names());
            List<Pattern> globs = p.domains().globs().stream().map(PolicyLoader::globToRegex).toList();
            for (DefinedDomain d : p.bridged() ? List.<DefinedDomain>of() : domains) {
                boolean byGlob = globs.stream().anyMatch(g -> g.matcher(d.name()).matches());
                boolean byTag = p.domains().tag() != null && p.domains().tag().equals(d.tag());
                if ((byGlob || byTag) && !covered.contains(d.name())) {
                    covered.add(d.name());
                }
            }
            for (String name : covered) {
                Assignment earlier = byDomain.putIfAbsent(name, new Assignment(name, p));
                if (earlier != null) {
                    conflicts.add(new ConfigError(p.file(), "/domains", "domain '" + name + "' is covered by policy '"
                            + earlier.policy().name() + "' already; it stays with that one",
                            "narrow the names, globs or tag of one of the two policies"));
                }
            }
        }
        return new Result(List.copyOf(byDomain.values()), conflicts);
    }
}
