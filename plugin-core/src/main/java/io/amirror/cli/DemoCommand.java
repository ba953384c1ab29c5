package io.amirror.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/**
 * {@code amirror demo}: the end-to-end run of the README's first command. Until replication is
 * built it is the lab smoke run: a real guest writes its disk and the bytes are found in the image.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Run amirror end to end on one machine with a built-in lab guest (needs root).")
public final class DemoCommand implements Callable<Integer> {

    @Option(names = "--seed", description = "Seed of the guest's writes (default: ${DEFAULT-VALUE}).")
    long seed = 1;

    @Override
    public Integer call() {
        return LabCommand.runSmoke(System.out, seed, true);
    }
}
