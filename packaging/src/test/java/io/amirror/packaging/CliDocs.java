package io.amirror.packaging;

import io.amirror.cli.Main;
import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.codegen.docgen.manpage.ManPageGenerator;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The build's tool, run before the package is made (never shipped): bash completion and one man
 * page per command, both from the command model the shipped jar runs ({@link Main#commandLine},
 * with the bridge's commands), so they cannot drift from the code. The pages come out as AsciiDoc
 * (picocli's generator); the build turns them into troff with asciidoctor. {@code amirror.1}, the
 * overview with the files and the environment, stays written by hand.
 */
public final class CliDocs {
    private CliDocs() {
    }

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);
        Files.createDirectories(out.resolve("adoc"));
        CommandLine cli = Main.commandLine();
        // sourced by bash-completion, never run: without picocli's "#!" line (lintian: bash-completion-with-hashbang)
        Files.writeString(out.resolve("amirror.bash"), AutoComplete.bash("amirror", cli).replaceFirst("^#![^\n]*\n", ""));
        int rc = ManPageGenerator.generateManPage(out.resolve("adoc").toFile(), null, new boolean[0], true,
                cli.getCommandSpec());
        if (rc != 0) {
            throw new IllegalStateException("the man page generator returned " + rc);
        }
    }
}
