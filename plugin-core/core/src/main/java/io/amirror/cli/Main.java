package io.amirror.cli;

import io.amirror.config.ConfigException;
import io.amirror.control.DaemonUnreachableException;
import io.amirror.standby.Promotion;
import io.amirror.state.StateDirLock;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import ch.qos.logback.classic.Level;
import org.slf4j.LoggerFactory;

import java.util.ServiceLoader;

/** Entry point of the {@code amirror} command. Each subcommand parses, calls one service, prints. */
@Command(name = "amirror",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = "Asynchronous low-bitrate replication of libvirt/QEMU virtual machines.",
        footer = ExitCodes.HELP,
        subcommands = {PrimaryCommand.class, StatusCommand.class, SyncCommand.class,
            PolicyCommand.class, VerifyCommand.class, LinkCommands.Init.class, StandbyCommands.Standby.class, LinkCommands.Ship.class,
            StandbyCommands.Points.class, StandbyCommands.Replicas.class, StandbyCommands.Failover.class, SwitchoverCommand.class, DrillCommand.class, StandbyCommands.Replica.class, StandbyCommands.Seed.class, HookCommand.class, DeltaCommand.class, NbdCommand.class,
            CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** amirror's own log level for this run, on every command (libraries stay at WARN: logback.xml). */
    @CommandLine.Option(names = "--log-level", paramLabel = "LEVEL", scope = CommandLine.ScopeType.INHERIT,
            description = "amirror's log level for this run: error, warn, info, debug or trace (default: info, or "
                    + "the environment's AMIRROR_LOG).")
    void logLevel(String level) {
        Level l = switch (level.toLowerCase(java.util.Locale.ROOT)) {
            case "error" -> Level.ERROR;
            case "warn", "warning" -> Level.WARN;
            case "info" -> Level.INFO;
            case "debug" -> Level.DEBUG;
            case "trace" -> Level.TRACE;
            default -> throw new CommandLine.ParameterException(spec.commandLine(),
                    "--log-level: '" + level + "' is none of error, warn, info, debug, trace");
        };
        if (LoggerFactory.getLogger("io.amirror") instanceof ch.qos.logback.classic.Logger own) {
            own.setLevel(l);
        }
    }

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs the command line and returns its exit status (for tests: no System.exit). */
    public static int execute(String... args) {
        return commandLine().execute(args);
    }

    /** The whole command tree, with the commands other modules provide, ready to execute (also what the build documents). */
    public static CommandLine commandLine() {
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
