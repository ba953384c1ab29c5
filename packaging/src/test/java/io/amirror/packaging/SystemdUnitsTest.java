package io.amirror.packaging;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The package's units and maintainer scripts, as files (no dpkg, no systemd): every service runs
 * with {@code UMask=0077}, so whatever a daemon or one of its children (qemu-img, qemu-nbd,
 * keytool) creates without an explicit mode is its user's only; and the postinst makes the state
 * and scratch directories without read access for anyone but root (issue 20).
 */
class SystemdUnitsTest {
    static final Path DEB = Path.of(System.getProperty("basedir", "."), "src", "deb");

    @Test
    void everyUnitRunsWithUmask0077() throws Exception {
        List<Path> units;
        try (Stream<Path> s = Files.list(DEB.resolve("systemd"))) {
            units = s.filter(p -> p.toString().endsWith(".service")).sorted().toList();
        }
        assertEquals(List.of("amirror-bridge-sync@.service", "amirror-bridge@.service", "amirror-primary.service",
                "amirror-standby.service"), units.stream().map(p -> p.getFileName().toString()).toList());
        for (Path u : units) {
            List<String> umasks = Files.readAllLines(u).stream().map(String::strip).filter(l -> l.startsWith("UMask="))
                    .toList();
            assertEquals(List.of("UMask=0077"), umasks, u.getFileName() + ": one UMask line, 0077");
        }
    }

    @Test
    void thePostinstMakesTheStateAndScratchDirectoriesWithoutReadAccessForOthers() throws Exception {
        String postinst = Files.readString(DEB.resolve("control").resolve("postinst"));
        assertTrue(postinst.contains("for dir in /var/lib/amirror /var/lib/libvirt/amirror"), postinst);
        assertTrue(postinst.contains("install -d -m 0710 -g libvirt-qemu \"$dir\"")
                && postinst.contains("install -d -m 0711 \"$dir\""), postinst);
        assertTrue(postinst.contains("install -d -m 0700 /var/lib/amirror/events"), postinst);
        assertFalse(postinst.matches("(?s).*install -d -m 07[0-7][4-7].*"), "no directory readable by others: " + postinst);
        assertFalse(postinst.matches("(?s).*install -d -m 07[4-7].*"), "no directory readable by the group: " + postinst);
    }
}
