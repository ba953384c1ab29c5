package io.amirror.state;

import io.amirror.util.PrivateFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Set;

import static java.net.StandardProtocolFamily.UNIX;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Modes that do not depend on the umask: {@link PrivateFiles} creates with explicit modes, and
 * {@link StateModes} tightens a state directory as an older amirror (umask 0022) left it, once,
 * and nothing that is not amirror's.
 */
class StateModesTest {
    static final String UUID = "6f1c2a52-4a5e-4b4f-9d55-1e7f9c1d2b3a";

    static String mode(Path p) throws Exception {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS));
    }

    /** The traversable mode this host gives: with QEMU's group where it has one (and we may give it), else to all. */
    static boolean traversable(Path p) throws Exception {
        PosixFileAttributes a = Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        return a.permissions().equals(PrivateFiles.TRAVERSE_GROUP) && a.group().getName().equals(PrivateFiles.QEMU_USER)
                || a.permissions().equals(PrivateFiles.TRAVERSE_ANY);
    }

    static Path file(Path p, String mode) throws Exception {
        Files.createDirectories(p.getParent());
        Files.writeString(p, "x");
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(mode));
        return p;
    }

    static Path dir(Path p, String mode) throws Exception {
        Files.createDirectories(p);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(mode));
        return p;
    }

    @Test
    void createdLevelsGetTheirModeWhateverTheUmaskAndExistingOnesKeepTheirs(@TempDir Path tmp) throws Exception {
        Path existing = dir(tmp.resolve("existing"), "rwxr-xr-x");
        Path deep = PrivateFiles.createDirectories(existing.resolve("a/b/c"));
        assertEquals("rwxr-xr-x", mode(existing), "a level that exists is left as it is");
        for (Path p : List.of(existing.resolve("a"), existing.resolve("a/b"), deep)) {
            assertEquals("rwx------", mode(p), p.toString());
        }
        Path way = PrivateFiles.createTraversable(existing.resolve("t/u"));
        assertTrue(traversable(way) && traversable(way.getParent()), mode(way));
        assertEquals(deep, PrivateFiles.createDirectories(deep), "an existing directory is fine");

        Path empty = PrivateFiles.createEmpty(file(deep.resolve("img"), "rw-r--r--"));
        assertEquals("rw-------", mode(empty), "replaced, not inheriting the old mode");
        assertEquals(0, Files.size(empty));
        try (OutputStream o = PrivateFiles.newOutputStream(file(deep.resolve("out"), "rw-rw-rw-"))) {
            o.write(1);
        }
        assertEquals("rw-------", mode(deep.resolve("out")));
        Path source = file(tmp.resolve("source"), "rw-r--r--");
        PrivateFiles.copy(source, deep.resolve("copy"));
        assertEquals("rw-------", mode(deep.resolve("copy")));
        assertEquals("x", Files.readString(deep.resolve("copy")));
    }

    @Test
    void anOldStateDirectoryIsTightenedOnceAndTheWayToTheReplicasStaysOpenToQemuOnly(@TempDir Path tmp) throws Exception {
        Path state = dir(tmp.resolve("state"), "rwxr-xr-x");
        Path outside = file(tmp.resolve("outside.txt"), "rw-r--r--");
        List<Path> files = List.of(file(state.resolve("identity.pass"), "rw-r--r--"),
                file(state.resolve("spool/" + UUID + "/vda/delta-0-1.amd"), "rw-r--r--"),
                file(state.resolve("maps/" + UUID + "/vda.map"), "rw-rw-r--"),
                file(state.resolve("chains/" + UUID + "/chain.json"), "rw-r--r--"),
                file(state.resolve("events/1-2.event"), "rw-r--r--"),
                file(state.resolve("replicas/" + UUID + "/manifest.json"), "rw-r--r--"),
                file(state.resolve("replicas/" + UUID + "/vda/replica.qcow2"), "rw-r--r--"),
                file(state.resolve("replicas/" + UUID + "/vda/state.json"), "rw-r--r--"),
                file(state.resolve("replicas/" + UUID + "/vda/incoming/ab.partial"), "rw-r--r--"),
                file(state.resolve("replicas/" + UUID + "/vda/run.sh"), "rwxr-xr-x"));
        List<Path> privateDirs = List.of(state.resolve("spool"), state.resolve("spool/" + UUID + "/vda"), state.resolve("maps/" + UUID),
                state.resolve("chains"), state.resolve("events"), state.resolve("replicas/" + UUID + "/vda/incoming"));
        List<Path> qemusWay = List.of(state, state.resolve("replicas"), state.resolve("replicas/" + UUID),
                state.resolve("replicas/" + UUID + "/vda"));
        for (Path d : privateDirs) {
            Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        Files.setPosixFilePermissions(state.resolve("replicas/" + UUID), PosixFilePermissions.fromString("rwx------"));
        Files.createSymbolicLink(state.resolve("maps/" + UUID + "/link"), outside);
        Path socket = state.resolve("sockets/console.sock");
        Files.createDirectories(socket.getParent());
        try (ServerSocketChannel s = ServerSocketChannel.open(UNIX)) {
            s.bind(UnixDomainSocketAddress.of(socket));
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rwxrwxrwx"));

            StateModes.Result r = StateModes.secure(state);
            assertTrue(r.foreign().isEmpty());
            for (Path f : files) {
                assertEquals(f.endsWith("run.sh") ? "rwx------" : "rw-------", mode(f), f.toString());
            }
            for (Path d : privateDirs) {
                assertEquals("rwx------", mode(d), d.toString());
            }
            for (Path d : qemusWay) {
                assertTrue(traversable(d), d + " " + mode(d));
            }
            assertEquals("rw-r--r--", mode(outside), "a symbolic link is never followed out of the state directory");
            assertEquals("rwxrwxrwx", mode(socket), "sockets are libvirt's and QEMU's");
            assertTrue(r.changed().size() >= files.size() + privateDirs.size(), r.changed().toString());
            assertEquals(List.of(), StateModes.secure(state).changed(), "once: nothing is left to change");
        }
    }

    @Test
    void aDirectoryHoldingMoreThanAmirrorsStateIsLeftAsItIs(@TempDir Path tmp) throws Exception {
        Path notOurs = dir(tmp.resolve("var"), "rwxr-xr-x");
        Path spool = file(notOurs.resolve("spool/mail/root"), "rw-r--r--");
        file(notOurs.resolve("lib/dpkg/status"), "rw-r--r--");
        StateModes.Result r = StateModes.secure(notOurs);
        assertEquals(List.of("lib"), r.foreign());
        assertEquals(List.of(), r.changed());
        assertEquals("rwxr-xr-x", mode(notOurs));
        assertEquals("rw-r--r--", mode(spool));
        assertEquals(Set.of(), Set.copyOf(StateModes.secure(tmp.resolve("missing")).changed()));
    }
}
