package io.amirror;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.core.importer.Location;
import com.tngtech.archunit.lang.ArchRule;
import io.amirror.cli.Main;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * The package rules of the production core, checked on its compiled classes: no package cycle, no use of
 * the developer tools (lab, demo, benchmarks), the data flow's layering, pure codecs, and a
 * {@code package-info.java} in every package. The rules are the ones each package's {@code package-info.java}
 * states; a rule that fails names the classes and the lines that break it.
 *
 * <p>Each rule is checked by a plain JUnit test ({@code rule.check(core)}) rather than ArchUnit's own
 * JUnit engine, whose rule fields surefire 3.5.3 does not run.
 */
class ArchitectureTest {

    /** The core's production classes, imported once. */
    static JavaClasses core;

    @BeforeAll
    static void importCore() {
        // ArchUnit reports every class it reads at DEBUG; the tests run with logback's default configuration
        if (LoggerFactory.getLogger("com.tngtech.archunit") instanceof ch.qos.logback.classic.Logger log) {
            log.setLevel(ch.qos.logback.classic.Level.WARN);
        }
        core = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_JARS)
                .withImportOption(new CoreOnly())
                .importPackages("io.amirror");
    }

    /** Only the classes compiled from this module's {@code src/main/java}, wherever the others come from. */
    static final class CoreOnly implements ImportOption {
        // the location of the entry point's class: this module's classes directory
        private static final String CORE = Main.class.getProtectionDomain().getCodeSource().getLocation().toString();

        @Override
        public boolean includes(Location location) {
            return location.asURI().toString().startsWith(CORE);
        }
    }

    /** The developer tools: they build on the core, never the other way round, and never ship. */
    static final String[] TOOLS = {"io.amirror.lab..", "io.amirror.demo..", "io.amirror.bench..", "io.amirror.tools.."};

    /** Every amirror package except the given ones. */
    static DescribedPredicate<JavaClass> amirrorExcept(String... allowed) {
        return JavaClass.Predicates.resideInAPackage("io.amirror..")
                .and(not(JavaClass.Predicates.resideInAnyPackage(allowed)))
                .as("are amirror classes outside %s", String.join(", ", allowed));
    }

    // -- the whole core

    static final ArchRule no_package_cycles = slices().matching("io.amirror.(*)..").namingSlices("$1")
            .should().beFreeOfCycles()
            .because("each package is one stage of the data flow and must be readable, testable and "
                    + "replaceable on top of the stages below it");

    static final ArchRule core_holds_no_tools = noClasses().should().resideInAnyPackage(TOOLS)
            .because("the lab, the demo and the benchmarks are modules of their own: a production host "
                    + "carries no code that installs packages or restarts libvirtd");

    static final ArchRule core_uses_no_tools = noClasses().that().resideOutsideOfPackages(TOOLS)
            .should().dependOnClassesThat().resideInAnyPackage(TOOLS)
            .because("the tools build on the core (and join the CLI through cli.CommandProvider); "
                    + "the core must work without them");

    // -- the foundations

    static final ArchRule util_uses_no_stage = noClasses().that().resideInAPackage("io.amirror.util..")
            .should().dependOnClassesThat(amirrorExcept("io.amirror.util.."))
            .because("util is the small machinery under every stage; it knows none of them");

    static final ArchRule state_uses_only_util = noClasses().that().resideInAPackage("io.amirror.state..")
            .should().dependOnClassesThat(amirrorExcept("io.amirror.state..", "io.amirror.util.."))
            .because("state is the persistence under every stage: the owners declare their files, "
                    + "state never reaches back into them");

    static final ArchRule config_is_plain_records = noClasses().that().resideInAPackage("io.amirror.config..")
            .should().dependOnClassesThat().resideInAnyPackage(
                    "io.amirror.delta..", "io.amirror.transport..", "io.amirror.primary..", "io.amirror.standby..")
            .because("policies and daemon configurations are records checked against their schemas; the "
                    + "stages read them, so config cannot depend on the stages");

    // -- pure codecs

    /** The protocol codecs and the messages they read and write: bytes in, records out. */
    static final DescribedPredicate<JavaClass> CODECS = DescribedPredicate.describe(
            "protocol codecs and messages (nbd, delta, transport)", c -> {
                String top = c.getName().replaceFirst("\\$.*", "");
                boolean inCodecPackage = c.getPackageName().startsWith("io.amirror.nbd")
                        || c.getPackageName().startsWith("io.amirror.delta")
                        || c.getPackageName().startsWith("io.amirror.transport");
                return inCodecPackage && (top.endsWith("Codec") || top.endsWith("Messages") || top.endsWith("Constants")
                        || top.equals("io.amirror.delta.Frame") || top.equals("io.amirror.delta.DeltaFormat")
                        || top.equals("io.amirror.delta.DeltaHeader") || top.equals("io.amirror.transport.WireMessage")
                        || c.getPackageName().contains(".wire"));
            });

    static final ArchRule codecs_do_no_io = noClasses().that(CODECS)
            .should().dependOnClassesThat().resideInAnyPackage("java.net..", "javax.net..", "java.nio.channels..",
                    "java.nio.file..")
            .orShould().dependOnClassesThat().haveFullyQualifiedName("java.io.File")
            .orShould().dependOnClassesThat().haveFullyQualifiedName("java.io.FileInputStream")
            .orShould().dependOnClassesThat().haveFullyQualifiedName("java.io.FileOutputStream")
            .orShould().dependOnClassesThat().haveFullyQualifiedName("java.io.RandomAccessFile")
            .because("codecs are pure (bytes in, records out): they are fuzzed and tested without sockets "
                    + "or files, and every untrusted byte passes through them first");

    // -- primary and standby, side by side

    static final ArchRule transport_only_carries = noClasses().that().resideInAPackage("io.amirror.transport..")
            .should().dependOnClassesThat().resideInAnyPackage("io.amirror.standby..", "io.amirror.primary..")
            .because("transport decodes and dispatches messages; what the standby does with them belongs to "
                    + "StandbyService, what the primary sends to the primary's cycle");

    static final ArchRule standby_trusts_no_primary = noClasses().that().resideInAPackage("io.amirror.standby..")
            .should().dependOnClassesThat().resideInAnyPackage("io.amirror.primary..", "io.amirror.capture..")
            .because("the standby runs on another host: it knows the wire and its replicas, never the "
                    + "primary's cycle or how the primary captures");

    static final ArchRule standby_runs_no_drill = noClasses().that().resideInAPackage("io.amirror.standby..")
            .should().dependOnClassesThat().resideInAPackage("io.amirror.drill..")
            .because("a drill boots a replica aside and goes away; the standby's receive and apply must work "
                    + "the same with or without drills (the commands run them and sweep their leftovers)");

    static final ArchRule primary_knows_no_standby = noClasses().that().resideInAPackage("io.amirror.primary..")
            .should().dependOnClassesThat().resideInAPackage("io.amirror.standby..")
            .because("the primary reaches the standby only over the wire (transport), so that either side "
                    + "can change without the other");

    static final ArchRule control_serves_without_primary = noClasses().that().resideInAPackage("io.amirror.control..")
            .should().dependOnClassesThat().resideInAPackage("io.amirror.primary..")
            .because("control defines what it serves (status, sync, verify, reload); primary implements "
                    + "it, so the API and the daemon do not form a cycle");

    /** Only the commands use the commands; the package {@code io.amirror} itself is left to an entry point. */
    static final ArchRule cli_is_the_top = noClasses()
            .that().resideOutsideOfPackages(TOOLS).and().resideOutsideOfPackages("io.amirror.cli..", "io.amirror")
            .should().dependOnClassesThat().resideInAPackage("io.amirror.cli..")
            .because("the commands parse, call one service and print; no service depends on a command "
                    + "(the tools and the bridge join the CLI through cli.CommandProvider)");

    // one test per rule, so that each failure is reported on its own

    @Test void noPackageCycles() { no_package_cycles.check(core); }
    @Test void coreHoldsNoTools() { core_holds_no_tools.check(core); }
    @Test void coreUsesNoTools() { core_uses_no_tools.check(core); }
    @Test void utilUsesNoStage() { util_uses_no_stage.check(core); }
    @Test void stateUsesOnlyUtil() { state_uses_only_util.check(core); }
    @Test void configIsPlainRecords() { config_is_plain_records.check(core); }
    @Test void codecsDoNoIo() { codecs_do_no_io.check(core); }
    @Test void transportOnlyCarries() { transport_only_carries.check(core); }
    @Test void standbyTrustsNoPrimary() { standby_trusts_no_primary.check(core); }
    @Test void standbyRunsNoDrill() { standby_runs_no_drill.check(core); }
    @Test void primaryKnowsNoStandby() { primary_knows_no_standby.check(core); }
    @Test void controlServesWithoutPrimary() { control_serves_without_primary.check(core); }
    @Test void cliIsTheTop() { cli_is_the_top.check(core); }

    // -- documentation

    /** Every package says in its {@code package-info.java} which stage it is, its entry type and what it may use. */
    @Test
    void everyPackageHasPackageInfo() {
        Path sources = Path.of(System.getProperty("basedir", "."), "src", "main", "java");
        assertTrue(Files.isDirectory(sources), "run from the module's directory: no " + sources.toAbsolutePath());
        List<String> missing = core.stream().map(JavaClass::getPackageName)
                .collect(Collectors.toCollection(TreeSet::new)).stream()
                .filter(p -> !Files.isRegularFile(sources.resolve(p.replace('.', '/')).resolve("package-info.java")))
                .toList();
        assertTrue(missing.isEmpty(), "packages without a package-info.java (say which stage the package is, "
                + "its entry type, what it may use and what it must not): " + missing);
    }
}
