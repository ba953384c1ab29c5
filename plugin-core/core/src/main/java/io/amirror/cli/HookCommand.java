package io.amirror.cli;

import io.amirror.libvirt.LibvirtHook;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code amirror hook install|uninstall|show}: the libvirt qemu hook, for hosts set up without the package. */
@Command(name = "hook", mixinStandardHelpOptions = true, description = "The libvirt qemu hook that tells the daemon "
        + "of domain events and prepares replicas at their start.",
        subcommands = {HookCommand.Install.class, HookCommand.Uninstall.class, HookCommand.Show.class})
final class HookCommand {

    @Command(name = "install", mixinStandardHelpOptions = true,
            description = "Install the hook as HOOKS/qemu.d/amirror and its settings file.")
    static final class Install implements Callable<Integer> {
        @Option(names = "--hooks-dir", description = "libvirt's hook directory (default: ${DEFAULT-VALUE}).")
        Path hooksDir = LibvirtHook.HOOKS_DIR;
        @Option(names = "--conf", description = "The hook's settings file (default: ${DEFAULT-VALUE}).")
        Path conf = LibvirtHook.CONF;
        @Option(names = "--primary-state", description = "The primary daemon's state directory (default: ${DEFAULT-VALUE}).")
        Path primaryState = Path.of(LinkCommands.DEFAULT_STATE);
        @Option(names = "--amirror", description = "The amirror command the hook runs (default: ${DEFAULT-VALUE}).")
        Path amirror = Path.of("/usr/bin/amirror");
        @Option(names = "--single-file", description = "Install as HOOKS/qemu, for a libvirt older than 6.5 (no qemu.d); "
                + "refused if another qemu hook is there.")
        boolean singleFile;

        @Override
        public Integer call() throws Exception {
            LibvirtHook.Installed i = singleFile
                    ? LibvirtHook.installSingleFile(hooksDir, conf, primaryState.toAbsolutePath(), amirror)
                    : LibvirtHook.install(hooksDir, conf, primaryState.toAbsolutePath(), amirror);
            System.out.println("installed " + i.script() + " (settings in " + i.conf() + ")");
            if (i.restartLibvirtd()) {
                System.out.println("libvirtd looks for hooks when it starts: restart it once (" + LibvirtHook.restartAdvice() + ")");
            }
            return 0;
        }
    }

    @Command(name = "uninstall", mixinStandardHelpOptions = true,
            description = "Remove amirror's hook (HOOKS/qemu.d/amirror, or HOOKS/qemu if it is amirror's) and its "
                    + "settings file. A script there that is not amirror's is refused; another tool's hook stays.")
    static final class Uninstall implements Callable<Integer> {
        @Option(names = "--hooks-dir", description = "libvirt's hook directory (default: ${DEFAULT-VALUE}).")
        Path hooksDir = LibvirtHook.HOOKS_DIR;
        @Option(names = "--conf", description = "The hook's settings file (default: ${DEFAULT-VALUE}).")
        Path conf = LibvirtHook.CONF;

        @Override
        public Integer call() throws Exception {
            LibvirtHook.Removed r = LibvirtHook.uninstall(hooksDir, conf);
            if (r.files().isEmpty()) {
                System.out.println("no amirror hook in " + hooksDir + " and no " + conf + ": nothing to remove");
                return 0;
            }
            r.files().forEach(f -> System.out.println("removed " + f));
            System.out.println(r.restartLibvirtd()
                    ? "libvirtd calls its single qemu hook until it starts again: restart it (" + LibvirtHook.restartAdvice() + ")"
                    : "libvirtd runs no amirror hook from its next domain event on");
            return 0;
        }
    }

    @Command(name = "show", mixinStandardHelpOptions = true, description = "Print the hook script.")
    static final class Show implements Callable<Integer> {
        @Override
        public Integer call() throws Exception {
            System.out.print(LibvirtHook.script());
            return 0;
        }
    }
}
