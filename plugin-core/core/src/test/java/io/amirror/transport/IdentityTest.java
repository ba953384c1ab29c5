package io.amirror.transport;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IdentityTest {

    @Test
    void theKeyPairIsMadeOwnerOnlyAndLeavesNothingElse(@TempDir Path state) throws Exception {
        Identity made = Identity.loadOrCreate(state, "office-a");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(Identity.keyStoreFile(state))));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(state.resolve("identity.pass"))));
        try (Stream<Path> files = Files.list(state)) {
            assertEquals(List.of("identity.p12", "identity.pass"),
                    files.map(f -> f.getFileName().toString()).sorted().toList(), "no work directory left behind");
        }
        assertTrue(made.fingerprint().matches("sha256:[0-9a-f]{64}"), made.fingerprint());
        // made once: a second start loads the same key
        assertEquals(made.fingerprint(), Identity.loadOrCreate(state, "office-a").fingerprint());
        assertTrue(made.certificate().getSubjectX500Principal().getName().contains("CN=office-a"));
    }

    @Test
    void aHostNameCannotInjectIntoTheDistinguishedName(@TempDir Path state) throws Exception {
        Identity made = Identity.loadOrCreate(state, "evil, O=other+CN=x");
        String dn = made.certificate().getSubjectX500Principal().getName();
        assertTrue(dn.startsWith("CN=evil_ O_other_CN_x"), dn);
    }
}
