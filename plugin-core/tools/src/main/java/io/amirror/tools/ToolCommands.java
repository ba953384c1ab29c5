package io.amirror.tools;

import io.amirror.cli.CommandProvider;

/**
 * The developer tools' subcommands, added to {@code amirror} by {@link java.util.ServiceLoader} when
 * this module is on the class path (the source tree's {@code ./amirror}, never the package).
 */
public final class ToolCommands {
    private ToolCommands() {
    }

    /** {@code amirror demo}. */
    public static final class Demo implements CommandProvider {
        @Override
        public Object command() {
            return new DemoCommand();
        }
    }

    /** {@code amirror bench ...}. */
    public static final class Bench implements CommandProvider {
        @Override
        public Object command() {
            return new BenchCommand();
        }
    }

    /** {@code amirror lab ...}. */
    public static final class LabTool implements CommandProvider {
        @Override
        public Object command() {
            return new LabCommand();
        }
    }
}
