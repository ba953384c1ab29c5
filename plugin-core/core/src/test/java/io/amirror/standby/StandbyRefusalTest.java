package io.amirror.standby;

import io.amirror.image.DiskImage;
import io.amirror.image.BitRot;
import io.amirror.spool.Spool;
import io.amirror.transport.Identity;
import io.amirror.transport.Sender;
import io.amirror.transport.Tls;
import io.amirror.transport.WireMessage;
import io.amirror.util.Exec;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.function.Consumer;

import static io.amirror.standby.LoopbackStandby.DOM;
import static io.amirror.standby.LoopbackStandby.T;
import static io.amirror.standby.LoopbackStandby.UNLIMITED;
import static io.amirror.standby.LoopbackStandby.entry;
import static io.amirror.standby.LoopbackStandby.local;
import static io.amirror.standby.LoopbackStandby.replicas;
import static io.amirror.standby.LoopbackStandby.sameImage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the standby refuses, and that a refusal changes nothing: peers neither pinned nor signed by
 * the configured CA, a delta that does not start at the replica's point, bad or foreign or oversized
 * data, and a delta whose COPY sources drifted on the replica (STALE), repaired by a plain delta.
 */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class StandbyRefusalTest {
    static LoopbackStandby f;

    @BeforeAll
    static void fixture() throws IOException {
        f = LoopbackStandby.get();
    }

    @Test
    void anUnpinnedPeerIsRefusedOnBothSides(@TempDir Path state) throws Exception {
        try (StandbyService r = f.start(state)) {
            Sender intruder = f.sender(f.stranger, Set.of(f.standby.fingerprint()), local(r.port()), UNLIMITED);
            // the standby rejects the certificate and hangs up: the intruder sees an alert or a reset
            assertThrows(IOException.class, () -> intruder.ship(entry(f.d01, 0, 1)));
            // and a primary that pins someone else refuses the standby
            Sender wary = f.sender(f.primary, Set.of(f.stranger.fingerprint()), local(r.port()), UNLIMITED);
            SSLException e = assertThrows(SSLException.class, () -> wary.ship(entry(f.d01, 0, 1)));
            assertTrue(String.valueOf(e.getMessage()).contains("not pinned") || e.getCause() != null, e.toString());
        }
        assertFalse(Files.exists(replicas(state).resolve(DOM.toString())),
                "no byte from the intruder reached the replica store");
    }

    @Test
    void anOptionalCaAdmitsTheHostsItSigned(@TempDir Path root) throws Exception {
        String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
        Path ca = root.resolve("ca.p12");
        Path signed = root.resolve("signed");
        Files.createDirectories(signed);
        Path host = Identity.keyStoreFile(signed);
        String pw = "changeit-test";
        Files.writeString(signed.resolve("identity.pass"), pw);
        Consumer<String[]> kt = args -> {
            List<String> cmd = new ArrayList<>(List.of(keytool));
            cmd.addAll(List.of(args));
            Exec.run(cmd, root, Map.of(), T).orThrow();
        };
        kt.accept(new String[] {"-genkeypair", "-alias", "ca", "-keyalg", "EC", "-dname", "CN=office CA", "-ext", "bc:c",
            "-storetype", "PKCS12", "-keystore", ca.toString(), "-storepass", pw});
        kt.accept(new String[] {"-exportcert", "-rfc", "-alias", "ca", "-keystore", ca.toString(), "-storepass", pw,
            "-file", root.resolve("ca.pem").toString()});
        kt.accept(new String[] {"-genkeypair", "-alias", "amirror", "-keyalg", "EC", "-dname", "CN=primary2",
            "-storetype", "PKCS12", "-keystore", host.toString(), "-storepass", pw});
        kt.accept(new String[] {"-certreq", "-alias", "amirror", "-keystore", host.toString(), "-storepass", pw,
            "-file", root.resolve("host.csr").toString()});
        kt.accept(new String[] {"-gencert", "-alias", "ca", "-keystore", ca.toString(), "-storepass", pw, "-rfc",
            "-infile", root.resolve("host.csr").toString(), "-outfile", root.resolve("host.pem").toString()});
        kt.accept(new String[] {"-importcert", "-noprompt", "-alias", "ca", "-keystore", host.toString(), "-storepass", pw,
            "-file", root.resolve("ca.pem").toString()});
        kt.accept(new String[] {"-importcert", "-alias", "amirror", "-keystore", host.toString(), "-storepass", pw,
            "-file", root.resolve("host.pem").toString()});
        Identity signedPrimary = Identity.load(signed);

        try (StandbyService r = f.start(f.config(root.resolve("standby"), Set.of(), root.resolve("ca.pem"),
                LoopbackStandby.KEEP, 36500))) {
            Sender ok = new Sender(Tls.context(signedPrimary, Set.of(f.standby.fingerprint())), local(r.port()),
                    UNLIMITED, 30_000);
            assertEquals(1, ok.ship(entry(f.d01, 0, 1)).ack().point(), "a host the CA signed is admitted unpinned");
            Sender unsigned = f.sender(r);
            assertThrows(IOException.class, () -> unsigned.ship(entry(f.d12, 1, 2)), "neither pinned nor signed");
        }
    }

    @Test
    void aDeltaThatDoesNotStartAtTheReplicasPointIsRefusedBeforeAnythingIsWritten(@TempDir Path state) throws Exception {
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(r);
            Sender.RefusedException e = assertThrows(Sender.RefusedException.class, () -> s.ship(entry(f.d12, 1, 2)));
            assertEquals(WireMessage.Refuse.BASE_MISMATCH, e.refusal().code());
            assertTrue(e.getMessage().contains("at point 0"), e.getMessage());
        }
        assertFalse(Files.exists(f.disk(state).image()));
    }

    @Test
    void badDataIsRefusedAndNothingIsApplied(@TempDir Path state) throws Exception {
        Path corrupt = state.resolve("corrupt.amd");
        byte[] b = Files.readAllBytes(f.d01);
        b[b.length / 2] ^= 0x10;
        Files.write(corrupt, b);
        Path other = state.resolve("other.amd");
        Files.copy(f.d01, other);
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(r);
            var bad = assertThrows(Sender.RefusedException.class, () -> s.ship(entry(corrupt, 0, 1)));
            assertEquals(WireMessage.Refuse.BAD_DELTA, bad.refusal().code());
            // a valid delta offered as another domain's
            UUID elsewhere = UUID.randomUUID();
            var foreign = assertThrows(Sender.RefusedException.class, () -> s.ship(
                    new Spool.Entry(elsewhere, "vda", 0, 1, other, Files.size(other))));
            assertTrue(foreign.getMessage().contains("not what was offered"), foreign.getMessage());
            // an absurd size is refused before a byte is written
            var huge = assertThrows(Sender.RefusedException.class, () -> s.ship(
                    new Spool.Entry(DOM, "vda", 0, 1, f.d01, Long.MAX_VALUE / 2)));
            assertEquals(WireMessage.Refuse.NO_SPACE, huge.refusal().code());
        }
        ReplicaDisk disk = f.disk(state);
        assertEquals(0, disk.state().point());
        assertFalse(Files.exists(disk.image()), "no replica was created from bad data");
    }

    @Test
    void aDriftedCopySourceIsRefusedAsStaleAndAPlainDeltaRepairsIt(@TempDir Path state) throws Exception {
        // v3: v2 with its 1 MiB of random bytes at 8M copied to 50M, as a file copy inside the guest
        Path v3 = state.resolve("v3.qcow2");
        Files.copy(f.v2, v3);
        Path piece = state.resolve("piece.bin");
        try (DiskImage img = DiskImage.open(f.v2, false, f.tools)) {
            byte[] b = new byte[1 << 20];
            img.read(8 << 20, b, b.length);
            Files.write(piece, b);
        }
        LoopbackStandby.writeRandom(v3, piece, 50 << 20);
        Path d23 = state.resolve("d23.amd");
        f.create(f.v2, v3, d23, 2, 3);
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(r);
            s.ship(entry(f.d01, 0, 1));
            s.ship(entry(f.d12, 1, 2));
            ReplicaDisk disk = f.disk(state);
            long drifted = (8 << 20) + 5 * 4096;
            BitRot.flipByte(disk.image(), drifted + 100);
            Sender.StaleSourcesException e = assertThrows(Sender.StaleSourcesException.class,
                    () -> s.ship(entry(d23, 2, 3)));
            assertEquals(1, e.stale().ranges().size());
            assertArrayEquals(new long[] {drifted, 4096}, e.stale().ranges().get(0));
            assertEquals(2, disk.state().point(), "nothing applied");
            assertEquals(0, disk.state().pending());
            try (var files = Files.list(disk.image().getParent())) {
                assertTrue(files.noneMatch(p -> p.getFileName().toString().endsWith(".amd")), "the refused delta is gone");
            }
            // the primary forgets that block, reads it again and sends it as data with the point
            Path repair = state.resolve("d23-repair.amd");
            Path asItIs = state.resolve("replica-now.qcow2");
            Files.copy(disk.image(), asItIs);
            Exec.run(T, Exec.tool("qemu-img"), "snapshot", "-a", "amirror-2", asItIs.toString()).orThrow();
            f.create(asItIs, v3, repair, 2, 3);
            assertEquals(3, s.ship(entry(repair, 2, 3)).ack().point());
            assertTrue(sameImage(disk.image(), v3), "the drifted block was repaired and the copy made");
        }
    }
}
