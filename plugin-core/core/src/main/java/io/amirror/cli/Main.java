package io.amirror.cli;

import io.amirror.config.ConfigException;
import io.amirror.control.DaemonUnreachableException;
import io.amirror.standby.Promotion;
import io.amirror.state.StateDirLock;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.util.ServiceLoader;

/** Entry point of the {@code amirror} command. Each subcommand parses, calls one service, prints. */
@Command(name = "amirror",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = "Asynchronous low-bitrate replication of libvirt/QEMU virtual machines.",
        footer = ExitCodes.HELP,
        subcommands = {PrimaryCommand.class, StatusCommand.class, SyncCommand.class,
            PolicyCommand.class, VerifyCommand.class, LinkCommands.Init.class, StandbyCommands.Standby.class, LinkCommands.Ship.class,
            StandbyCommands.Points.class, StandbyCommands.Replicas.class, StandbyCommands.Failover.class, DrillCommand.class, StandbyCommands.Replica.class, StandbyCommands.Seed.class, HookCommand.class, DeltaCommand.class, NbdCommand.class,
            CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs the command line and returns its exit status (for tests: no System.exit). */
    public static int execute(String... args) {
        return commandLine().execute(args);
    }

    /** The whole command tree, with the commands other modules provide, ready to execute. */
    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        for (CommandProvider p : ServiceLoader.load(CommandProvider.class)) {
            cl.addSubcommand(p.command());
        }
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            cmd.getErr().println("amirror: " + ex.getMessage());
            if (ex instanceof ConfigException) {
                return ExitCodes.INVALID_CONFIG;
            }
            if (ex instanceof Promotion.Refused) {
                return ExitCodes.START_REFUSED;
            }
            if (ex instanceof DaemonUnreachableException) {
                return ExitCodes.DAEMON_UNREACHABLE;
            }
            if (ex instanceof StateDirLock.InUse) {
                return ExitCodes.STATE_IN_USE;
            }
            return ExitCodes.FAILED;
        });
        return cl;
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
