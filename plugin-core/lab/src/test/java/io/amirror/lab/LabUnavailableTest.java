package io.amirror.lab;

import io.amirror.util.Exec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * When an essential part is missing and cannot be installed, opening the lab fails fast with a
 * message that names the part and the fix. The host itself is left alone: the missing QEMU is
 * simulated by a search path that holds every lab tool but the emulator.
 */
class LabUnavailableTest {

    @Test
    void missingQemuThatMayNotBeInstalledIsNamedWithItsPackage(@TempDir Path bin) throws IOException {
        linkAllToolsBut("qemu-system-x86_64", bin);
        LabOptions options = LabOptions.defaults().withSearchPath(bin.toString()).withInstallMissing(false)
                .withWorkDir(bin.resolve("work"));
        LabUnavailableException e = assertTimeoutPreemptively(Duration.ofSeconds(60),
                () -> assertThrows(LabUnavailableException.class, () -> Lab.open(options)));
        assertTrue(e.getMessage().contains("qemu-system-x86"), e.getMessage());
        assertTrue(e.getMessage().contains("apt-get install"), e.getMessage());
        assertFalse(e.getMessage().contains("qemu-utils"), "only what is missing is named: " + e.getMessage());
    }

    @Test
    void missingQemuWithNoWayToInstallItFailsClearly(@TempDir Path bin) throws IOException {
        linkAllToolsBut("qemu-system-x86_64", bin);
        LabOptions options = LabOptions.defaults().withSearchPath(bin.toString()).withInstallMissing(true)
                .withWorkDir(bin.resolve("work"));
        LabUnavailableException e = assertTimeoutPreemptively(Duration.ofSeconds(60),
                () -> assertThrows(LabUnavailableException.class, () -> Lab.open(options)));
        assertTrue(e.getMessage().contains("qemu-system-x86_64"), e.getMessage());
        assertTrue(e.getMessage().contains("apt-get is not on") || e.getMessage().contains("not running as root"),
                e.getMessage());
    }

    /** A bin directory with wrappers of the host's lab tools and dpkg-query, except {@code missing}. */
    private static void linkAllToolsBut(String missing, Path bin) throws IOException {
        for (LabHost.Tool t : LabHost.TOOLS) {
            if (t.name().equals(missing)) {
                continue;
            }
            Path real = Exec.which(t.name(), LabOptions.DEFAULT_SEARCH_PATH);
            if (real != null) {
                wrapper(bin.resolve(t.name()), real);
            }
        }
        Path dpkgQuery = Exec.which("dpkg-query", LabOptions.DEFAULT_SEARCH_PATH);
        if (dpkgQuery != null) {
            wrapper(bin.resolve("dpkg-query"), dpkgQuery);
        }
    }

    private static void wrapper(Path at, Path real) throws IOException {
        Files.writeString(at, "#!/bin/sh\nexec '" + real + "' \"$@\"\n");
        at.toFile().setExecutable(true);
    }
}
