package io.amirror.standby;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.config.ConfigError;
import io.amirror.config.SchemaCheck;
import io.amirror.control.Metrics;
import io.amirror.control.PrimaryControl;
import io.amirror.control.StatusReport;
import io.amirror.control.VerifyReport;
import io.amirror.primary.DomainStatus;
import io.amirror.transport.ReplicaManifest;
import io.amirror.transport.Sender;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.util.Exec;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.amirror.standby.LoopbackStandby.DOM;
import static io.amirror.standby.LoopbackStandby.T;
import static io.amirror.standby.LoopbackStandby.entry;
import static io.amirror.standby.LoopbackStandby.sameImage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A standby whose disk fills up, on a real small file system (a tmpfs of a few MiB, so ENOSPC is
 * the kernel's): an offer that does not fit is refused before a byte is written, naming the bytes
 * needed and free, and taken once there is room; points the primary asked to keep beyond the
 * standby's own retention are dropped to make room, never below it; a partial of an abandoned
 * offer does not hold space for ever.
 */
@Tag("real")
class StandbyDiskFullTest {
    private static LoopbackStandby f;
    private final List<Path> mounts = new ArrayList<>();

    @BeforeAll
    static void fixture() throws IOException {
        f = LoopbackStandby.get();
    }

    /** A tmpfs of {@code mib} MiB at a fresh directory under {@code dir}: a real, small file system. */
    private Path smallFileSystem(Path dir, int mib) throws IOException {
        assumeTrue("root".equals(System.getProperty("user.name")), "mounting a tmpfs needs root");
        Path m = Files.createDirectories(dir.resolve("small"));
        Exec.run(T, "mount", "-t", "tmpfs", "-o", "size=" + mib + "m,mode=0700", "tmpfs", m.toString()).orThrow();
        mounts.add(m);
        return m;
    }

    @AfterEach
    void unmount() {
        for (Path m : mounts) {
            Exec.run(T, "umount", "-l", m.toString());
        }
    }

    private static long number(Pattern p, String text) {
        Matcher m = p.matcher(text);
        assertTrue(m.find(), text);
        return Long.parseLong(m.group(1));
    }

    @Test
    void anOfferThatDoesNotFitIsRefusedBeforeAnyByteAndTakenOnceThereIsRoom(@TempDir Path dir) throws Exception {
        Path state = smallFileSystem(dir, 10).resolve("standby");
        try (StandbyService r = f.start(state)) {
            Sender s = f.sender(r);
            Sender.RefusedException x = assertThrows(Sender.RefusedException.class, () -> s.ship(entry(f.d01, 0, 1)));
            assertEquals(Refuse.NO_SPACE, x.refusal().code(), x.getMessage());
            long need = number(Pattern.compile("needs (\\d+) bytes"), x.getMessage());
            long free = number(Pattern.compile("(\\d+) are free"), x.getMessage());
            assertTrue(need > free && need >= Files.size(f.d01), x.getMessage());
            primarySees(x);
            Path incoming = StandbyLayout.disk(LoopbackStandby.replicas(state), DOM, "vda").incoming();
            try (var files = Files.list(incoming)) {
                assertEquals(0, files.count(), "nothing was written for the refused offer");
            }
            Exec.run(T, "mount", "-o", "remount,size=64m", state.getParent().toString()).orThrow();
            assertEquals(1, s.ship(entry(f.d01, 0, 1)).ack().point());
        }
        assertTrue(sameImage(f.disk(state).image(), f.v1));
    }

    /** The primary's status and metrics name the standby's refusal: what an admin and an alert rule see. */
    private static void primarySees(Sender.RefusedException refusal) throws Exception {
        DomainStatus status = new DomainStatus("files");
        status.assign("office", "standby:10809", Duration.ofMinutes(15), Duration.ofMinutes(30));
        status.cycleStarted();
        status.cycleEnded(refusal);
        StatusReport.Domain v = status.view(Instant.now(), null);
        assertEquals("no_space", v.standbyRefusal());
        assertTrue(v.lastError().contains("are free"), v.lastError());
        StatusReport report = new StatusReport("primary", "test", Instant.now().toString(), Instant.now().toString(),
                List.of(), List.of(), List.of(v));
        JsonNode json = new ObjectMapper().valueToTree(report);
        assertEquals(List.of(), SchemaCheck.named(SchemaCheck.STATUS).check(json, "status --json"));
        Metrics metrics = new Metrics(new PrimaryControl() {
            @Override
            public StatusReport status() {
                return report;
            }

            @Override
            public Optional<Instant> requestSync(String guest) {
                return Optional.empty();
            }

            @Override
            public VerifyReport verify(String guest) {
                throw new UnsupportedOperationException();
            }

            @Override
            public List<ConfigError> reload() {
                return List.of();
            }
        });
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        metrics.write(out);
        String text = out.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains("amirror_standby_refusing{domain=\"files\",policy=") && text.contains(
                "reason=\"no_space\"} 1"), text);
    }

    @Test
    void pointsAskedForBeyondTheStandbysRetentionMakeRoomButNeverThoseItKeeps(@TempDir Path dir) throws Exception {
        // a chain of points, each rewriting the same 3 MiB with new random bytes: every kept point holds 3 MiB
        int n = 9;
        Path[] v = new Path[n + 1];
        Path[] d = new Path[n + 1];
        v[0] = f.v0;
        Random rnd = new Random(7);
        for (int i = 1; i <= n; i++) {
            v[i] = dir.resolve("v" + i + ".qcow2");
            Files.copy(v[i - 1], v[i]);
            Path data = dir.resolve("r" + i + ".bin");
            byte[] b = new byte[3 << 20];
            rnd.nextBytes(b);
            Files.write(data, b);
            LoopbackStandby.writeRandom(v[i], data, 8 << 20);
            d[i] = dir.resolve("d" + i + ".amd");
            f.create(v[i - 1], v[i], d[i], i - 1, i);
        }
        Path state = smallFileSystem(dir, 28).resolve("standby");
        // the standby keeps at least 2 points; the primary asks for 10, which this disk cannot hold
        try (StandbyService r = f.start(f.config(state, Set.of(f.primary.fingerprint()), null, 2, 30))) {
            Sender s = f.sender(r);
            s.ship(entry(d[1], 0, 1));
            s.describe(DOM, 1, new ReplicaManifest(DOM, "files", 1, "<domain type='qemu'><name>files</name></domain>",
                    Map.of(), Map.of(), 10, 86400 * 30L, null).toXz());
            int most = 1;
            for (int i = 2; i <= n; i++) {
                assertEquals(i, s.ship(entry(d[i], i - 1, i)).ack().point(), "point " + i);
                List<Integer> kept = f.disk(state).points().stream().map(ReplicaDisk.Point::point).toList();
                assertTrue(kept.size() >= 2, "never below the standby's own 2: " + kept);
                assertEquals(i, kept.get(kept.size() - 1));
                most = Math.max(most, kept.size());
            }
            List<Integer> kept = f.disk(state).points().stream().map(ReplicaDisk.Point::point).toList();
            assertTrue(most > 2, "while there was room, the primary's request was kept: at most " + most);
            assertTrue(kept.size() < n, "room was made: " + kept);
        }
        assertTrue(sameImage(f.disk(state).image(), v[n]), "the replica is the last point");
    }

    @Test
    void aPartialOfAnAbandonedOfferIsCollectedByTheNextOffer(@TempDir Path dir) throws Exception {
        Path state = dir.resolve("standby");
        Path incoming = StandbyLayout.disk(LoopbackStandby.replicas(state), DOM, "vda").incoming();
        Files.createDirectories(incoming);
        Path abandoned = incoming.resolve("ab".repeat(32) + ".partial");
        Files.write(abandoned, new byte[1 << 20]);
        try (StandbyService r = f.start(state)) {
            assertEquals(1, f.sender(r).ship(entry(f.d01, 0, 1)).ack().point());
        }
        assertFalse(Files.exists(abandoned), "the abandoned partial no longer takes space");
    }
}
