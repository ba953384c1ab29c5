package io.amirror.cli;

import io.amirror.config.Durations;
import io.amirror.drill.ReplicaDrill;
import io.amirror.image.DiskImage;
import io.amirror.standby.DrillReport;
import io.amirror.standby.ReplicaDomain;
import io.amirror.standby.StandbyLayout;
import io.amirror.state.StateFile;
import io.amirror.util.ShellText;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** {@code amirror drill}: a test failover of a replica, aside, while replication goes on. */
@Command(name = "drill", mixinStandardHelpOptions = true,
        description = {"On the standby: boot a replica's recovery point in a throwaway domain (NAME-drill) while "
                + "replication goes on, check that its guest comes up, run the checks through its agent, and remove "
                + "everything the drill made: domain, overlays, NVRAM and TPM copies, network; also after a failure, "
                + "a timeout or Ctrl-C (what a killed drill left, the next drill or standby start removes).",
                "The drill's disks are thin overlays over the point; the replica's image is never written, and "
                        + "the point is kept until the drill ends whatever the retention says. Exit status 5: the guest "
                        + "did not come up or a check failed."})
final class DrillCommand implements Callable<Integer> {
    @Mixin
    LinkCommands.StateDir stateDir;
    @Mixin
    StandbyCommands.DefinitionOptions definition;
    @Parameters(index = "0", paramLabel = "DOMAIN", description = "The domain's name (primary's or replica's) or UUID.")
    String domain;
    @Option(names = "--point", paramLabel = "K", description = "Boot kept recovery point K (default: the newest).")
    Integer point;
    @Option(names = "--network", paramLabel = "isolated|none|NAME", description = "Where the drill's NICs go: a "
            + "network of its own with no uplink and no DHCP (default), no NIC at all, or the standby's libvirt network NAME.")
    String network = "isolated";
    @Option(names = "--check", paramLabel = "COMMAND", description = "A command line run in the guest through its agent "
            + "once it answers (repeatable, in order; words split as sh does, no expansions). Default: the policy's boot check.")
    List<String> checks = List.of();
    @Option(names = "--timeout", paramLabel = "DURATION", description = "How long the guest has from its start to answer "
            + "and pass the checks (default: ${DEFAULT-VALUE}).")
    String timeout = "10m";
    @Option(names = "--keep", paramLabel = "DURATION", description = "Keep the drill domain running this long after the "
            + "checks, to look at it (default: 0).")
    String keep = "0s";
    @Option(names = "--settle", paramLabel = "DURATION", description = "For a guest without an agent: how long it must run "
            + "before the screenshot (or its serial log) is taken as evidence (default: ${DEFAULT-VALUE}).")
    String settle = "60s";
    @Option(names = "--json", description = "Print the report as JSON (schema: 'amirror policy schema drill-report').")
    boolean json;

    @Override
    public Integer call() throws Exception {
        ReplicaDrill.Request request = new ReplicaDrill.Request(point, network,
                checks.stream().map(ShellText::words).toList(), Durations.parse(timeout), nonNegative(keep),
                Durations.parse(settle), false);
        ReplicaDomain d = StandbyCommands.find(stateDir, domain);
        Path sockets = definition.socketDir != null ? definition.socketDir : StandbyLayout.of(stateDir.path).sockets();
        ReplicaDrill drill = new ReplicaDrill(d, StandbyLayout.of(stateDir.path), definition.libvirtUri, sockets,
                DiskImage.Tools.installed(), json ? System.err::println : System.out::println);
        // Ctrl-C or SIGTERM: the hook tears the drill down, then lets this thread report before the JVM ends
        CountDownLatch reported = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            drill.abort();
            try {
                reported.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "drill-abort");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            return report(drill.run(request));
        } finally {
            reported.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException exiting) {
                // the hook is running: it removed what the drill made
            }
        }
    }

    private int report(DrillReport r) throws Exception {
        if (json) {
            System.out.println(StateFile.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(r));
        } else {
            System.out.println(r.replica() + ": drill at point " + r.point() + ": " + (r.passed() ? "PASSED" : "FAILED")
                    + ": " + r.summary());
            for (DrillReport.Check c : r.checks()) {
                System.out.println("  " + (c.passed() ? "ok    " : "FAILED") + " " + ShellText.command(c.command())
                        + (c.exitCode() == null ? "" : " (exit " + c.exitCode() + ")"));
            }
            if (r.evidence() != null) {
                System.out.println("  evidence: " + r.evidence().lines().findFirst().orElse(""));
            }
        }
        return r.passed() ? ExitCodes.OK : ExitCodes.NOT_HEALTHY;
    }

    private static Duration nonNegative(String text) {
        return text.equals("0") || text.equals("0s") ? Duration.ZERO : Durations.parse(text);
    }
}
