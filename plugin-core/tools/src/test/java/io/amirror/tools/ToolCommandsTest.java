package io.amirror.tools;

import io.amirror.cli.CommandProvider;
import io.amirror.cli.Main;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ToolCommandsTest {

    @Test
    void theToolsJoinTheCliWhenTheyAreOnTheClassPath() {
        Set<String> names = new TreeSet<>();
        for (CommandProvider p : ServiceLoader.load(CommandProvider.class)) {
            names.add(new CommandLine(p.command()).getCommandName());
        }
        assertTrue(names.containsAll(Set.of("demo", "bench", "lab")), names.toString());
        assertEquals(0, Main.execute("demo", "--help"));
        assertEquals(0, Main.execute("bench", "delta", "--help"));
        assertEquals(0, Main.execute("lab", "smoke", "--help"));
    }
}
