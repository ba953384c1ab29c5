package io.amirror.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.config.ConfigError;
import io.amirror.config.ConfigException;
import io.amirror.config.Durations;
import io.amirror.config.Policy;
import io.amirror.config.PolicyLoader;
import io.amirror.config.PrimaryConfig;
import io.amirror.config.SchemaCheck;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code amirror policy validate|list|schema}: check and show policy files without a daemon. */
@Command(name = "policy", mixinStandardHelpOptions = true, footer = ExitCodes.HELP,
        description = "Check and show replication policies.",
        subcommands = {PolicyCommand.Validate.class, PolicyCommand.ListPolicies.class, PolicyCommand.Schema.class})
public final class PolicyCommand {

    @Command(name = "validate", mixinStandardHelpOptions = true, footer = ExitCodes.HELP,
            description = "Check policy files (or directories of them) against the policy schema and rules; print "
                    + "every error with its file, field and fix.")
    static final class Validate implements Callable<Integer> {
        @Parameters(paramLabel = "FILE|DIR", arity = "1..*")
        List<Path> paths;
        @Option(names = "--primary-config", description = "Also check this daemon configuration file.")
        Path primaryConfig;

        @Override
        public Integer call() throws Exception {
            List<ConfigError> errors = new ArrayList<>();
            int ok = 0;
            for (Path p : paths) {
                if (Files.isDirectory(p)) {
                    PolicyLoader.Loaded l = PolicyLoader.loadDir(p);
                    errors.addAll(l.errors());
                    ok += l.policies().size();
                    l.policies().forEach(x -> System.out.println(x.file() + ": ok (policy " + x.name() + ")"));
                } else {
                    try {
                        Policy x = PolicyLoader.load(p);
                        System.out.println(p + ": ok (policy " + x.name() + ")");
                        ok++;
                    } catch (ConfigException e) {
                        errors.addAll(e.errors());
                    }
                }
            }
            if (primaryConfig != null) {
                try {
                    PrimaryConfig.load(primaryConfig, true);
                    System.out.println(primaryConfig + ": ok (primary configuration)");
                } catch (ConfigException e) {
                    errors.addAll(e.errors());
                }
            }
            errors.forEach(System.err::println);
            if (!errors.isEmpty()) {
                System.err.printf("%d error(s); %d file(s) valid%n", errors.size(), ok);
                return ExitCodes.INVALID_CONFIG;
            }
            return ExitCodes.OK;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, footer = ExitCodes.HELP,
            description = "Show the policies of a directory: domains, standby, RPO, limits.")
    static final class ListPolicies implements Callable<Integer> {
        @Option(names = "--dir", description = "Policy directory (default: ${DEFAULT-VALUE}).")
        Path dir = PrimaryConfig.defaults().policyDir();

        @Override
        public Integer call() throws Exception {
            PolicyLoader.Loaded l = PolicyLoader.loadDir(dir);
            for (Policy p : l.policies()) {
                System.out.printf("%s  (%s)%n", p.name(), p.file());
                System.out.printf("  domains:     %s%n", describe(p.domains()));
                System.out.printf("  standby:     %s  %s%n", p.standby().address(), p.standby().fingerprint());
                System.out.printf("  rpo:         %s (target %s, alert after %s)%n", p.rpo(),
                        Durations.format(p.rpo().target()), Durations.format(p.alertAfter()));
                System.out.printf("  bandwidth:   %s%n", p.bandwidthText() == null ? "unlimited" : p.bandwidthText());
                System.out.printf("  blackouts:   %s%n", p.blackouts().isEmpty() ? "none" : p.blackouts());
                System.out.printf("  compression: %s; quiesce: %s; keep %d points, %d days%n",
                        p.compression() == null ? "auto" : p.compression(), p.quiesce() ? "yes" : "no", p.keepPoints(),
                        p.keepAge().toDays());
            }
            l.errors().forEach(System.err::println);
            return l.errors().isEmpty() ? ExitCodes.OK : ExitCodes.INVALID_CONFIG;
        }

        private static String describe(Policy.DomainSelector s) {
            List<String> parts = new ArrayList<>();
            if (!s.names().isEmpty()) {
                parts.add("names " + s.names());
            }
            if (!s.globs().isEmpty()) {
                parts.add("globs " + s.globs());
            }
            if (s.tag() != null) {
                parts.add("tag " + s.tag());
            }
            return String.join(", ", parts);
        }
    }

    @Command(name = "schema", mixinStandardHelpOptions = true,
            description = "Print a JSON Schema: policy (default), primary, standby, status, replicas or drill-report.")
    static final class Schema implements Callable<Integer> {
        @Parameters(paramLabel = "NAME", arity = "0..1", defaultValue = SchemaCheck.POLICY)
        String name;

        @Override
        public Integer call() throws Exception {
            System.out.println(new ObjectMapper().writerWithDefaultPrettyPrinter()
                    .writeValueAsString(SchemaCheck.named(name).schemaJson()));
            return ExitCodes.OK;
        }
    }
}
