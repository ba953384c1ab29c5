package io.amirror.cli;

import io.amirror.config.ConfigException;
import io.amirror.config.PrimaryConfig;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/**
 * The primary's configuration file and the overrides of it that the primary's commands share (the
 * daemon, {@code seed export}, {@code seed cancel}): a mixin, so every one reads the file and the
 * overrides the same way.
 */
final class PrimarySettings {
    @Option(names = "--config", paramLabel = "FILE", description = "The primary's configuration (default: "
            + "/etc/amirror/primary.json if it exists; missing means all defaults).")
    Path config;
    @Option(names = "--state", description = "State directory, overriding the configuration.")
    Path state;
    @Option(names = "--scratch", description = "Directory for backup job sockets and scratch files (QEMU must reach "
            + "it), overriding the configuration.")
    Path scratch;
    @Option(names = "--libvirt", paramLabel = "URI", description = "libvirt connection, overriding the configuration.")
    String libvirtUri;

    /** The file (a missing default file is all defaults, a missing named one an error) with the overrides. */
    PrimaryConfig config() throws ConfigException {
        PrimaryConfig cfg = config != null ? PrimaryConfig.load(config, true)
                : PrimaryConfig.load(PrimaryConfig.DEFAULT_FILE, false);
        if (state != null) {
            cfg = cfg.withStateDir(state);
        }
        if (scratch != null) {
            cfg = cfg.withScratchDir(scratch);
        }
        return libvirtUri != null ? cfg.withLibvirtUri(libvirtUri) : cfg;
    }
}
