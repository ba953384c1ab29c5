package io.amirror.standby;

import io.amirror.transport.ReplicaManifest;

import io.amirror.state.StateFormatException;
import io.amirror.transport.Sender;
import io.amirror.transport.WireMessage;
import io.amirror.util.Exec;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.stream.Stream;

import static io.amirror.standby.LoopbackStandby.T;
import static io.amirror.standby.LoopbackStandby.entry;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The standby's state files across an upgrade: a state directory as the standby wrote it before
 * state files had formats (format 0) is read as it is, with its replicas and points, and rewritten
 * in the current format only by its owner's next write; a file of a newer format is refused with
 * an error naming it, and nothing is changed.
 */
@Tag("real") // real qemu-img, qemu-nbd or qemu-io, real sockets
class StandbyStateFormatTest {
    static final UUID FILES = UUID.fromString("f11e5000-0000-4000-8000-000000000001");
    static final UUID MAIL = UUID.fromString("3a11000a-0000-4000-8000-000000000002");
    static LoopbackStandby f;

    @BeforeAll
    static void fixture() throws IOException {
        f = LoopbackStandby.get();
    }

    /**
     * A standby state directory byte for byte as the unversioned classes wrote it: domain "files"
     * with disk vda at point 2 (recovery points 1 and 2 in its image), its manifest, its definition
     * and a chosen failover point; domain "mail" promoted at point 5.
     */
    static Path unversionedState(Path state) throws IOException {
        Path replicas = StandbyLayout.of(state).replicas();
        Path files = replicas.resolve(FILES.toString());
        Path vda = files.resolve("vda");
        Files.createDirectories(vda);
        Path image = vda.resolve("replica.qcow2");
        Exec.run(T, Exec.tool("qemu-img"), "create", "-q", "-f", "qcow2", "-o", "compat=1.1", image.toString(), "4M").orThrow();
        Exec.run(T, Exec.tool("qemu-img"), "snapshot", "-c", "amirror-1", image.toString()).orThrow();
        Exec.run(T, Exec.tool("qemu-img"), "snapshot", "-c", "amirror-2", image.toString()).orThrow();
        Files.writeString(vda.resolve("state.json"), "{\"point\":2,\"pending\":0,\"pendingDelta\":null,"
                + "\"virtualSize\":4194304,\"appliedSha256\":\"00ff\",\"pendingSha256\":null}");
        // the manifest as ReplicaManifest.toJson() wrote it (the wire's JSON, pretty-printed)
        Files.writeString(files.resolve("manifest.json"), """
                {
                  "uuid" : "%s",
                  "name" : "files",
                  "point" : 2,
                  "domainXml" : "<domain type='qemu'><name>files</name></domain>",
                  "networks" : { },
                  "bridges" : { },
                  "keepPoints" : 7,
                  "keepSeconds" : 86400,
                  "launcher" : [ ]
                }""".formatted(FILES));
        Files.writeString(files.resolve("defined.json"), "{\"xml\":\"<domain/>\",\"name\":\"files-replica\"}");
        Files.writeString(files.resolve("failover.json"), "{\"point\":1}");
        Path mail = replicas.resolve(MAIL.toString());
        Files.createDirectories(mail);
        Files.writeString(mail.resolve("promoted.json"), "{\"point\":5,\"at\":\"2026-11-26T04:00:00Z\"}");
        return replicas;
    }

    @Test
    void anUnversionedStandbyStateIsReadWithItsReplicasAndPoints(@TempDir Path state) throws Exception {
        Path replicas = unversionedState(state);
        ReplicaDomain files = ReplicaDomain.find(replicas, "files", f.tools).orElseThrow();
        assertEquals(FILES, files.uuid());
        assertEquals(FILES, ReplicaDomain.find(replicas, "files-replica", f.tools).orElseThrow().uuid(),
                "found by the name it was defined with");
        assertEquals(7, files.manifest().orElseThrow().keepPoints());
        assertEquals("<domain/>", files.definedXml().orElseThrow());
        assertEquals(1, files.failoverPoint().orElseThrow());
        assertTrue(files.promoted().isEmpty());
        ReplicaDisk vda = files.disk("vda");
        assertEquals(2, vda.state().point());
        assertEquals(4194304, vda.state().virtualSize());
        assertEquals(List.of(1, 2), vda.points().stream().map(ReplicaDisk.Point::point).toList());
        assertEquals(5, new ReplicaDomain(replicas, MAIL, f.tools).promoted().orElseThrow().point());

        Map<String, ReplicaReport.Entry> report = new TreeMap<>();
        ReplicaReport.of(replicas, f.tools, Instant.now(), null).forEach(e -> report.put(e.uuid(), e));
        ReplicaReport.Entry filesEntry = report.get(FILES.toString());
        assertEquals("files", filesEntry.domain());
        assertEquals(2, filesEntry.point());
        assertEquals("ok", filesEntry.health());
        assertEquals("files-replica", filesEntry.replicaDomain());
        assertEquals("promoted", report.get(MAIL.toString()).health());

        // reading rewrote nothing; the owner's next write is in the current format, and reads back
        Path failover = replicas.resolve(FILES.toString()).resolve("failover.json");
        assertEquals("{\"point\":1}", Files.readString(failover));
        files.requestFailoverPoint(2);
        assertTrue(Files.readString(failover).contains("\"format\" : 1"), Files.readString(failover));
        assertEquals(2, files.failoverPoint().orElseThrow());
    }

    @Test
    void anUnversionedReplicaTakesTheNextPointAndItsJournalMovesToTheCurrentFormat(@TempDir Path state) throws Exception {
        Path replicas = StandbyLayout.of(state).replicas();
        try (StandbyService r = f.start(state)) {
            f.sender(r).ship(entry(f.d01, 0, 1));
        }
        // the journal as the unversioned standby left it at point 1
        ReplicaDisk disk = f.disk(state);
        Path journal = disk.image().resolveSibling("state.json");
        ReplicaDisk.State at1 = disk.state();
        Files.writeString(journal, "{\"point\":1,\"pending\":0,\"pendingDelta\":null,\"virtualSize\":" + at1.virtualSize()
                + ",\"appliedSha256\":\"" + at1.appliedSha256() + "\",\"pendingSha256\":null}");
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(r);
            assertEquals(0, s.ship(entry(f.d01, 0, 1)).sentBytes(), "the old journal still knows point 1's delta");
            assertEquals(2, s.ship(entry(f.d12, 1, 2)).ack().point());
        }
        assertTrue(Files.readString(journal).contains("\"format\" : " + ApplyJournal.FILE.version()), Files.readString(journal));
        assertEquals(List.of(1, 2), disk.points().stream().map(ReplicaDisk.Point::point).toList());
        assertTrue(Files.isDirectory(replicas.resolve(LoopbackStandby.DOM.toString())));
    }

    @Test
    void aNewerFormatIsRefusedWithAClearErrorAndNothingChanges(@TempDir Path state) throws Exception {
        Path replicas = unversionedState(state);
        Path journal = replicas.resolve(FILES.toString()).resolve("vda").resolve("state.json");
        Files.writeString(journal, "{\"format\":99,\"point\":2,\"pending\":0,\"virtualSize\":4194304,\"epoch\":7}");
        Map<Path, byte[]> before = snapshot(state);
        ReplicaDomain files = new ReplicaDomain(replicas, FILES, f.tools);

        StateFormatException e = assertThrows(StateFormatException.class, () -> files.disk("vda").state());
        assertTrue(e.getMessage().contains(journal.toString()) && e.getMessage().contains("format 99")
                && e.getMessage().contains("newer"), e.getMessage());
        assertThrows(StateFormatException.class, () -> ReplicaReport.of(replicas, f.tools, Instant.now(), null));
        IOException start = assertThrows(IOException.class, () -> Promotion.prepare(files, "files"));
        assertTrue(start.getMessage().contains("format 99"), start.getMessage());
        Map<Path, byte[]> after = snapshot(state);
        assertEquals(before.keySet(), after.keySet(), "no file made or removed");
        before.forEach((p, b) -> assertTrue(Arrays.equals(b, after.get(p)), p + " changed"));

        // a manifest of a newer format is refused too, and the domain is still found by its UUID
        Path manifest = replicas.resolve(FILES.toString()).resolve("manifest.json");
        Files.writeString(manifest, "{\"format\":2,\"uuid\":\"" + FILES + "\",\"name\":\"files\"}");
        var m = assertThrows(StateFormatException.class, files::manifest);
        assertTrue(m.getMessage().contains("replica manifest is format 2"), m.getMessage());
        assertEquals(FILES, ReplicaDomain.find(replicas, FILES.toString(), f.tools).orElseThrow().uuid());
    }

    @Test
    void theServiceRefusesADeltaForAReplicaWhoseJournalIsNewer(@TempDir Path state) throws Exception {
        Path journal = f.disk(state).image().resolveSibling("state.json");
        Files.createDirectories(journal.getParent());
        Files.writeString(journal, "{\"format\":99,\"point\":0}");
        try (StandbyService r = f.start(state)) {
            var refused = assertThrows(Sender.RefusedException.class, () -> f.sender(r).ship(entry(f.d01, 0, 1)));
            assertEquals(WireMessage.Refuse.INTERNAL, refused.refusal().code());
            assertTrue(refused.getMessage().contains("format 99"), refused.getMessage());
        }
        assertEquals("{\"format\":99,\"point\":0}", Files.readString(journal));
        assertFalse(Files.exists(f.disk(state).image()));
        assertFalse(Files.exists(journal.resolveSibling("incoming")), "no byte of the delta was stored");
    }

    /** Every regular file under {@code dir} with its bytes (the domain's lock file excepted: taking it is not a change). */
    private static Map<Path, byte[]> snapshot(Path dir) throws IOException {
        Map<Path, byte[]> out = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().equals("lock")).toList()) {
                out.put(p, Files.readAllBytes(p));
            }
        }
        return out;
    }
}
