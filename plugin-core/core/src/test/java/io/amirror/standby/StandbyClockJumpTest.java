package io.amirror.standby;

import com.fasterxml.jackson.databind.JsonNode;
import io.amirror.delta.DeltaFiles;
import io.amirror.delta.XzBlockCodec;
import io.amirror.image.DiskImage;
import io.amirror.spool.Spool;
import io.amirror.state.StateFile;
import io.amirror.transport.Identity;
import io.amirror.transport.Sender;
import io.amirror.util.Exec;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The standby daemon as a real process ({@code amirror standby}) whose clock really jumps 30 days
 * ahead across a restart (libfaketime preloaded; qemu-img, its child, dates the snapshot by the same
 * clock), keeping 10 points and none older than 7 days: the point that arrives after the jump prunes
 * none of the four before it, whose cut times are 3 days apart, and every point keeps the cut time
 * its primary gave it. Before cut times, all four went: their snapshot dates were 30 days "old".
 */
@Tag("real") // real processes, qemu-img, sockets, a real clock change
class StandbyClockJumpTest {
    static final Path LIBFAKETIME = Path.of("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1");
    static final UUID DOM = UUID.fromString("0c1a2b3c-4d5e-4f60-8a7b-9c8d7e6f5a4b");
    static final long DAY = 86_400_000L;

    @TempDir
    Path dir;

    @Test
    void aThirtyDayJumpOfTheStandbysClockPrunesNoPointAndKeepsTheirAges() throws Exception {
        assertTrue(Files.exists(LIBFAKETIME), "libfaketime is missing: apt-get install faketime (./quickstart does)");
        DiskImage.Tools tools = DiskImage.Tools.installed();
        Path state = dir.resolve("standby");
        Identity standby = Identity.loadOrCreate(state, "standby");
        Identity primary = Identity.loadOrCreate(dir.resolve("primary"), "primary");

        // five states of an 8 MiB disk, and the deltas between them: cut 4, 3, 2, 1 days ago and now
        long now = System.currentTimeMillis();
        List<Path> images = new ArrayList<>();
        images.add(dir.resolve("v0.qcow2"));
        Exec.run(Duration.ofMinutes(1), Exec.tool("qemu-img"), "create", "-q", "-f", "qcow2", images.get(0).toString(),
                "8M").orThrow();
        long[] cuts = new long[6];
        List<Path> deltas = new ArrayList<>();
        deltas.add(null);
        for (int k = 1; k <= 5; k++) {
            Path img = dir.resolve("v" + k + ".qcow2");
            Files.copy(images.get(k - 1), img);
            Exec.run(Duration.ofMinutes(1), Exec.tool("qemu-io"), "-f", "qcow2", "-c",
                    "write -P " + k + " " + k + "M 64k", img.toString()).orThrow();
            images.add(img);
            cuts[k] = k < 5 ? now - (5 - k) * DAY : now;
            Path d = dir.resolve("d" + k + ".amd");
            try (DiskImage a = DiskImage.open(images.get(k - 1), false, tools);
                 DiskImage b = DiskImage.open(img, false, tools)) {
                DeltaFiles.create(a, b, d, new DeltaFiles.CreateOptions(DOM, "vda", k - 1, k,
                        new XzBlockCodec.Preset(0, false), 0, 1, 1 << 20, cuts[k]));
            }
            deltas.add(d);
        }

        // points 1-4 by a standby on the true clock
        try (Daemon d = Daemon.start(dir.resolve("first.log"), state, primary.fingerprint(), null)) {
            for (int k = 1; k <= 4; k++) {
                d.ship(primary, standby, deltas.get(k), k);
            }
        }
        ReplicaDisk disk = new ReplicaDisk(StandbyLayout.of(state).replicas(), DOM, "vda", tools,
                ReplicaDisk.Retention.KEEP_ALL);
        assertEquals(List.of(1, 2, 3, 4), disk.points().stream().map(ReplicaDisk.Point::point).toList());

        // restarted 30 days ahead; point 5 arrives
        try (Daemon d = Daemon.start(dir.resolve("second.log"), state, primary.fingerprint(), "+30d")) {
            d.ship(primary, standby, deltas.get(5), 5);
        }
        List<ReplicaDisk.Point> kept = disk.points();
        assertEquals(List.of(1, 2, 3, 4, 5), kept.stream().map(ReplicaDisk.Point::point).toList(),
                "the jump pruned points within the 7 days and 10 points kept");
        for (ReplicaDisk.Point p : kept) {
            assertEquals(Instant.ofEpochMilli(cuts[p.point()]).toString(), p.cutAt(), "point " + p.point() + "'s cut time");
        }
        // the clock really jumped for the daemon and its qemu-img: point 5's snapshot is dated 30 days ahead
        long dated = Instant.parse(kept.get(4).date()).toEpochMilli();
        assertTrue(Math.abs(dated - (now + 30 * DAY)) < DAY, "point 5 is dated " + kept.get(4).date());
        assertTrue(Instant.parse(kept.get(3).date()).toEpochMilli() < now + DAY, kept.get(3).date());

        // the standby's own report, on the jumped clock: ages from the primary's cut time
        Process replicas = command(dir.resolve("replicas.log"), "+30d", "replicas", "--state", state.toString(), "--json");
        assertTrue(replicas.waitFor(60, TimeUnit.SECONDS));
        String out = Files.readString(dir.resolve("replicas.log"));
        JsonNode r = StateFile.JSON.readTree(out.substring(out.indexOf('{'))).path("replicas").get(0);
        assertEquals(Instant.ofEpochMilli(cuts[5]).toString(), r.path("cutAt").asText(), out);
        assertEquals("cut", r.path("ageFrom").asText(), out);
        assertEquals(5, r.path("point").asInt(), out);
    }

    /** The CLI as a process, with its clock moved by {@code offset} (libfaketime's syntax) unless null. */
    static Process command(Path log, String offset, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "-cp",
                System.getProperty("java.class.path"), "io.amirror.cli.Main"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        if (offset != null) {
            Map<String, String> env = pb.environment();
            env.put("LD_PRELOAD", LIBFAKETIME.toString());
            env.put("FAKETIME", offset);
            env.put("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        }
        return pb.start();
    }

    /** {@code amirror standby} on a free loopback port, keeping 10 points and none older than 7 days. */
    record Daemon(Process process, Path log, int port) implements AutoCloseable {
        static Daemon start(Path log, Path state, String peer, String offset) throws Exception {
            int port;
            try (ServerSocket s = new ServerSocket(0)) {
                port = s.getLocalPort();
            }
            Process p = command(log, offset, "standby", "--state", state.toString(), "--listen", "127.0.0.1:" + port,
                    "--peer", peer, "--no-define", "--keep", "10", "--keep-days", "7");
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (!Files.exists(log) || !Files.readString(log).contains("standby listening")) {
                assertTrue(p.isAlive(), () -> "the standby ended: " + read(log));
                assertTrue(System.nanoTime() < deadline, () -> "the standby did not start: " + read(log));
                Thread.sleep(100);
            }
            return new Daemon(p, log, port);
        }

        void ship(Identity primary, Identity standby, Path delta, int point) throws Exception {
            Sender s = new Sender(io.amirror.transport.Tls.context(primary, Set.of(standby.fingerprint())),
                    new InetSocketAddress("127.0.0.1", port), LoopbackStandby.UNLIMITED, 30_000);
            Sender.Shipped done = s.ship(new Spool.Entry(DOM, "vda", point - 1, point, delta, Files.size(delta)));
            assertEquals(point, done.ack().point(), read(log));
        }

        static String read(Path log) {
            try {
                return Files.exists(log) ? Files.readString(log) : "";
            } catch (Exception e) {
                return e.toString();
            }
        }

        @Override
        public void close() throws Exception {
            process.destroy(); // SIGTERM: the daemon's orderly stop
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
            }
        }
    }
}
