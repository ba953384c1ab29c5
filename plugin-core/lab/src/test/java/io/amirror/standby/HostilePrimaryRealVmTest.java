package io.amirror.standby;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.delta.DeltaFiles;
import io.amirror.delta.DeltaFormat;
import io.amirror.delta.DeltaHeader;
import io.amirror.delta.DeltaWriter;
import io.amirror.delta.XzBlockCodec;
import io.amirror.image.DiskImage;
import io.amirror.lab.AmirrorProcess;
import io.amirror.lab.HostileDomains;
import io.amirror.lab.Lab;
import io.amirror.lab.PrivateTree;
import io.amirror.lab.RealVmTest;
import io.amirror.spool.Spool;
import io.amirror.transport.Identity;
import io.amirror.transport.ReplicaManifest;
import io.amirror.transport.Sender;
import io.amirror.transport.Tls;
import io.amirror.transport.TokenBucket;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.util.Exec;
import io.amirror.util.FileDigest;
import io.amirror.util.PrivateFiles;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.function.Executable;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The hostile-primary suite: a real standby process ({@code amirror standby} with a configuration
 * of two tenants) over real TLS, defining replica domains in the real libvirtd, and a primary that
 * has been taken over. It sends every domain XML of {@link HostileDomains} and reads back what
 * libvirt stored; it tries the other tenant's replica, rolls a replica back, asks to drop the
 * history, and offers a disk the standby must not even start to verify. Each attempt is refused or
 * neutralised with a clear message, and replicas, points and definitions stay as they were.
 *
 * <p>The tests share one standby and run in order: the first ships the points the others attack.
 */
@RealVmTest
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class HostilePrimaryRealVmTest {
    /** The domain of the corpus ({@code <uuid>} of its XML): office A's. */
    private static final UUID FILES = UUID.fromString("6f0c2a52-1f7a-4b1e-9d55-0c4f7d2b9a11");
    private static final UUID WEB = UUID.fromString("0b7d5e2a-9c41-4f7e-8a3d-5c2e1f0a9b77");
    private static final Duration T = Duration.ofMinutes(2);
    private static final ObjectMapper JSON = new ObjectMapper();

    private static Lab lab;
    private static Path work;
    private static Path state;
    private static Path sockets;
    private static Path kit;
    private static Identity officeA;
    private static Identity officeB;
    private static Identity standbyId;
    private static AmirrorProcess standby;
    private static int port;
    private static DiskImage.Tools tools;
    /** Disk images of FILES at points 0..3, and the deltas between them, per disk. */
    private static final Map<String, Path[]> DELTAS = new TreeMap<>();
    private static Path[] images;

    @BeforeAll
    static void standby(Lab l) throws Exception {
        lab = l;
        work = Files.createTempDirectory(lab.options().workDir(), "hostile-");
        PrivateFiles.makeTraversable(work); // QEMU would pass through it to the replicas in the state below
        state = work.resolve("standby");
        sockets = Files.createTempDirectory(Path.of("/tmp"), "amhost");
        kit = Files.createDirectories(work.resolve("kit"));
        Files.writeString(kit.resolve("vmlinuz"), "not a kernel: the suite never starts these domains");
        Files.writeString(kit.resolve("initramfs.gz"), "not an initramfs");
        Files.createSymbolicLink(kit.resolve("evil"), Path.of("/etc/shadow"));
        officeA = Identity.loadOrCreate(work.resolve("office-a"), "office-a");
        officeB = Identity.loadOrCreate(work.resolve("office-b"), "office-b");
        standbyId = Identity.loadOrCreate(state, "standby");
        tools = new DiskImage.Tools(Path.of(Exec.tool("qemu-img")), Path.of(Exec.tool("qemu-nbd")));
        images = new Path[4];
        for (int i = 0; i < 4; i++) {
            images[i] = work.resolve("v" + i + ".qcow2");
            if (i == 0) {
                Exec.run(T, Exec.tool("qemu-img"), "create", "-q", "-f", "qcow2", images[0].toString(), "16M").orThrow();
            } else {
                Files.copy(images[i - 1], images[i]);
                Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P " + (i + 10) + " " + i + "M 256k",
                        images[i].toString()).orThrow();
            }
        }
        for (String disk : List.of("vda", "vdb")) {
            Path[] d = new Path[4];
            for (int i = 1; i < 4; i++) {
                d[i] = work.resolve(disk + "-" + (i - 1) + "-" + i + ".amd");
                delta(images[i - 1], images[i], d[i], FILES, disk, i - 1, i);
            }
            DELTAS.put(disk, d);
        }
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path config = work.resolve("standby.json");
        Files.writeString(config, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(Map.of(
                "stateDir", state.toString(),
                "listen", "127.0.0.1:" + port,
                "libvirtUri", lab.options().libvirtUri(),
                "tenants", List.of(
                        Map.of("name", "office-a", "peers", List.of(officeA.fingerprint()), "domains", List.of(FILES.toString())),
                        Map.of("name", "office-b", "peers", List.of(officeB.fingerprint()), "domains", List.of("web-*"))),
                "replicas", Map.of("define", true, "suffix", "-hostile", "socketDir", sockets.toString(),
                        "networks", List.of("office-lan"), "bridges", List.of("br-sb"), "kernelDirs", List.of(kit.toString())),
                "retention", Map.of("keep", 3, "maxAgeDays", 30, "immutableDays", 1),
                "limits", Map.of("maxDiskBytes", 1L << 30))));
        standbyConfig = config;
        standby = AmirrorProcess.start(null, work.resolve("standby.log"), "standby", "--config", config.toString())
                .awaitLog("standby listening", 60_000);
    }

    static Path standbyConfig;

    @AfterAll
    static void cleanUp() throws Exception {
        if (standby != null) {
            standby.stop(Duration.ofSeconds(30));
        }
        Exec.run(T, "virsh", "-c", lab.options().libvirtUri(), "undefine", "files-hostile", "--nvram");
        Exec.run(T, "virsh", "-c", lab.options().libvirtUri(), "undefine", "web-1-hostile", "--nvram");
        Path log = work.resolve("standby.log");
        if (Files.exists(log)) { // kept beside the reports for a failure's post-mortem
            Files.copy(log, Path.of("target", "hostile-standby.log"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        Exec.run(T, "rm", "-rf", work.toString(), sockets.toString());
    }

    private static void delta(Path from, Path to, Path out, UUID domain, String disk, int base, int next) throws IOException {
        try (DiskImage a = DiskImage.open(from, false, tools); DiskImage b = DiskImage.open(to, false, tools)) {
            DeltaFiles.create(a, b, out, new DeltaFiles.CreateOptions(domain, disk, base, next,
                    new XzBlockCodec.Preset(1, false), 0, 1, 1 << 20));
        }
    }

    private static Sender as(Identity who) throws IOException {
        return new Sender(Tls.context(who, Set.of(standbyId.fingerprint())),
                new InetSocketAddress(InetAddress.getLoopbackAddress(), port), new TokenBucket(() -> 1e12), 30_000);
    }

    private static Spool.Entry entry(UUID domain, String disk, Path delta, int base, int next) throws IOException {
        return new Spool.Entry(domain, disk, base, next, delta, Files.size(delta));
    }

    /** Ships point {@code next} of both of FILES's disks as office A. */
    private static void shipPoint(Sender s, int next) throws IOException {
        for (String disk : List.of("vda", "vdb")) {
            s.ship(entry(FILES, disk, DELTAS.get(disk)[next], next - 1, next), List.of("vda", "vdb"), held -> {
            }, true);
        }
    }

    private static Path replicaDir() {
        return state.resolve("replicas").resolve(FILES.toString());
    }

    private static ReplicaDisk disk(String name) {
        return new ReplicaDisk(state.resolve("replicas"), FILES, name, tools, ReplicaDisk.Retention.KEEP_ALL);
    }

    private static List<Integer> points(String name) throws IOException {
        return disk(name).points().stream().map(ReplicaDisk.Point::point).toList();
    }

    /** Every file of the standby's replica of FILES with its digest: what a refused attempt must leave as it was. */
    private static Map<String, String> everything() throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (var files = Files.walk(replicaDir())) {
            for (Path p : files.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().equals("lock")).toList()) {
                out.put(replicaDir().relativize(p).toString(), HexFormat.of().formatHex(FileDigest.sha256(p)));
            }
        }
        return out;
    }

    private static ReplicaManifest manifest(UUID uuid, String name, int point, String xml, int keepPoints, long keepSeconds) {
        return new ReplicaManifest(uuid, name, point, xml, Map.of("default", "office-lan"), Map.of(), keepPoints, keepSeconds,
                null);
    }

    private static Refuse refused(int code, Executable e) {
        Sender.RefusedException x = assertThrows(Sender.RefusedException.class, e);
        assertEquals(code, x.refusal().code(), x.getMessage());
        assertTrue(x.getMessage().length() > 30, "a clear reason: " + x.getMessage());
        return x.refusal();
    }

    @Test
    @Order(1)
    void theOwnerReplicatesTwoPointsOfTwoDisks() throws Exception {
        Sender a = as(officeA);
        shipPoint(a, 1);
        shipPoint(a, 2);
        a.describe(FILES, 2, manifest(FILES, "files", 2, HostileDomains.plain(kit.toString(), state.toString()), 24, 86400)
                .toXz());
        awaitDefinition(2);
        assertEquals(List.of(1, 2), points("vda"));
        assertEquals(List.of(1, 2), points("vdb"));
        assertEquals("office-a", new ReplicaDomain(state.resolve("replicas"), FILES, tools).owner().orElseThrow().tenant());
    }

    @Test
    @Order(2)
    void everyHostileDomainXmlIsRefusedOrStoredSafelyByLibvirt() throws Exception {
        Sender a = as(officeA);
        HostileDomains.Standby rules = new HostileDomains.Standby(
                List.of(disk("vda").image().toString(), disk("vdb").image().toString()),
                List.of(replicaDir() + "/", sockets + "/", kit + "/", "/usr/share/OVMF/", "/dev/urandom",
                        "/var/lib/libvirt/qemu/nvram/"),
                Set.of("office-lan"), Set.of("br-sb"), ReplicaDefinition.NS);
        int point = 100;
        List<String> failures = new ArrayList<>();
        for (HostileDomains.Case c : HostileDomains.corpus(kit.toString(), state.toString())) {
            point++;
            try {
                a.describe(FILES, point, manifest(FILES, "files", point, c.xml(), 24, 86400).toXz());
            } catch (Sender.RefusedException e) {
                if (!c.refused()) {
                    failures.add(c.name() + ": its description was refused: " + e.getMessage());
                }
                continue; // refused at the door: nothing stored, nothing defined
            }
            JsonNode report = awaitDefinition(point);
            boolean wasRefused = !report.path("refused").isNull();
            if (report.path("refused").asText().startsWith("libvirt refused")) {
                failures.add(c.name() + ": built into something libvirt refuses: " + report.path("refused").asText());
                continue;
            }
            if (wasRefused != c.refused()) {
                failures.add(c.name() + ": expected " + (c.refused() ? "a refusal" : "a definition") + ", got " + report);
                continue;
            }
            String stored = Exec.run(T, "virsh", "-c", lab.options().libvirtUri(), "dumpxml", "--inactive", "files-hostile")
                    .orThrow().stdout();
            try {
                HostileDomains.assertSafe(withoutLibvirtDefaults(stored), rules);
            } catch (AssertionError e) {
                failures.add(c.name() + ": " + e.getMessage());
            }
        }
        if (!failures.isEmpty()) {
            fail(failures.size() + " hostile domain XMLs got through:\n" + String.join("\n\n", failures));
        }
        assertEquals(List.of(1, 2), points("vda"), "descriptions never touch the points");
    }

    /**
     * What libvirt stored, without what libvirt itself adds to every domain it defines: its default
     * emulator (the standby named none, and no primary can name one) and libvirt 9's audio backend
     * (none, or spice's own for a spice display). Anything else in the dump came from the standby's definition.
     */
    private static String withoutLibvirtDefaults(String stored) {
        return stored.replaceFirst("<emulator>/usr/bin/qemu-system-x86_64</emulator>", "")
                .replaceFirst("<audio id='1' type='(none|spice)'/>", "");
    }

    /** Waits until the standby's definition report reflects the description of {@code point}; returns it. */
    private static JsonNode awaitDefinition(int point) throws Exception {
        Path report = replicaDir().resolve("definition.json");
        long deadline = System.currentTimeMillis() + 60_000;
        while (System.currentTimeMillis() < deadline) {
            if (Files.exists(report)) {
                JsonNode r = JSON.readTree(Files.readString(report));
                if (r.path("point").asInt() == point) {
                    return r;
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no definition of point " + point + ": " + standby.output());
    }

    @Test
    @Order(3)
    void theOtherTenantCanNeitherWriteNorReadNorRenameTheReplica() throws Exception {
        Sender b = as(officeB);
        Map<String, String> before = everything();
        refused(Refuse.NOT_OWNER, () -> b.ship(entry(FILES, "vda", DELTAS.get("vda")[3], 2, 3)));
        refused(Refuse.NOT_OWNER, () -> b.ship(entry(FILES, "vda", DELTAS.get("vda")[1], 0, 1)));
        refused(Refuse.NOT_OWNER, () -> b.describe(FILES, 2, manifest(FILES, "files", 2,
                HostileDomains.plain(kit.toString(), state.toString()), 1, 1).toXz()));
        refused(Refuse.NOT_OWNER, () -> b.verify(FILES, "vda", 2, 256, done -> {
        }));
        assertEquals(before, everything(), "nothing of office A's replica changed");
        assertTrue(standby.output().contains(officeB.fingerprint()), "each refusal is logged with the peer's key");
        // office B has its own replicas, under its own names, and cannot take office A's name
        Path web = work.resolve("web-0-1.amd");
        delta(images[0], images[1], web, WEB, "vda", 0, 1);
        assertEquals(1, b.ship(entry(WEB, "vda", web, 0, 1)).ack().point());
        refused(Refuse.NOT_OWNER, () -> b.describe(WEB, 1, manifest(WEB, "files", 1,
                HostileDomains.plain(kit.toString(), state.toString()), 24, 86400).toXz()));
        refused(Refuse.NOT_OWNER, () -> as(officeA).ship(entry(WEB, "vda", web, 0, 1)));
    }

    @Test
    @Order(4)
    void noOfferRollsTheReplicaBackAndNoDescriptionShortensItsHistory() throws Exception {
        Sender a = as(officeA);
        Map<String, String> before = everything();
        // point 2 again with other bytes, over point 2: the rollback attack (the same delta again is a
        // lost ACK's re-offer, acknowledged without a byte)
        assertEquals(0, a.ship(entry(FILES, "vda", DELTAS.get("vda")[2], 1, 2)).sentBytes());
        refused(Refuse.BASE_MISMATCH, () -> a.ship(entry(FILES, "vda", DELTAS.get("vda")[1], 0, 1)));
        Path other = work.resolve("other.qcow2");
        Files.copy(images[1], other);
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 99 0 64k", other.toString()).orThrow();
        Path redo = work.resolve("vda-redo-1-2.amd");
        delta(images[1], other, redo, FILES, "vda", 1, 2);
        refused(Refuse.BASE_MISMATCH, () -> a.ship(entry(FILES, "vda", redo, 1, 2)));
        // a corrupt delta of the next point: refused after its bytes came, and nothing is kept of it
        Path corrupt = work.resolve("vda-corrupt-2-3.amd");
        byte[] bytes = Files.readAllBytes(DELTAS.get("vda")[3]);
        bytes[bytes.length / 2] ^= 0x10;
        Files.write(corrupt, bytes);
        refused(Refuse.BAD_DELTA, () -> a.ship(entry(FILES, "vda", corrupt, 2, 3)));
        assertEquals(before, everything(), "a refused delta changes nothing, points included");
        // the primary asks to keep 1 point for 1 second; the standby keeps at least its own 3, and today's are immutable
        a.describe(FILES, 2, manifest(FILES, "files", 2, HostileDomains.plain(kit.toString(), state.toString()), 1, 1)
                .toXz());
        shipPoint(a, 3);
        assertEquals(List.of(1, 2, 3), points("vda"));
        assertEquals(List.of(1, 2, 3), points("vdb"));
    }

    @Test
    @Order(5)
    void aDiskDeclaredHugeIsRefusedAtTheOfferBeforeAnyWork() throws Exception {
        Sender a = as(officeA);
        Map<String, String> before = everything();
        for (long size : new long[] {1L << 62, (1L << 30) + 4096, 8L << 20}) {
            // 2^62 bytes (the 292-byte CPU bomb), just above the standby's limit, and below the replica's size
            Path bomb = work.resolve("bomb-" + size + ".amd");
            DeltaHeader h = new DeltaHeader(FILES, "vda", size, 3, 4, DeltaFormat.BLOCK_SIZE, DeltaFormat.CODEC_XZ,
                    DeltaFormat.BLOCK_SIZE + DeltaFormat.DATA_FRAME_HEADER);
            ExecutorService pool = Executors.newSingleThreadExecutor();
            try (OutputStream out = Files.newOutputStream(bomb);
                 DeltaWriter w = new DeltaWriter(out, h, new XzBlockCodec.Preset(0, false), pool, 1,
                         DeltaWriter.ResultListener.NONE)) {
                w.zero(0, size);
                w.finish();
            } finally {
                pool.shutdown();
            }
            Refuse r = refused(size == 8L << 20 ? Refuse.BAD_DELTA : Refuse.TOO_LARGE,
                    () -> a.ship(entry(FILES, "vda", bomb, 3, 4)));
            assertTrue(r.reason().contains(Long.toString(size)), r.reason());
        }
        assertEquals(before, everything(), "nothing written, nothing changed");
    }

    @Test
    @Order(6)
    void afterTheSyncNothingOfTheStandbyIsReadableByOtherUsers() {
        assertEquals(List.of(), PrivateTree.exposed(state), "what other users (or QEMU beyond passing through) could read");
    }

    @Test
    @Order(7)
    void aFloodOfConnectionsThatNeverAuthenticateDoesNotShutOutThePrimary() throws Exception {
        List<Socket> held = new ArrayList<>();
        try {
            for (int i = 0; i < 300; i++) { // from another address of the loopback net: not the primary's
                Socket s = new Socket();
                s.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.2"), 0));
                try {
                    s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 2_000);
                    held.add(s);
                } catch (IOException refused) {
                    s.close();
                }
            }
            long threads = ProcessHandle.of(standby.pid()).isPresent() ? Files.list(Path.of("/proc/" + standby.pid()
                    + "/task")).count() : -1;
            assertTrue(threads > 0 && threads < 200, "the standby holds no thread per connection: " + threads);
            byte[] digests = as(officeA).verify(FILES, "vda", 3, 256, done -> {
            });
            assertEquals(16 * 16, digests.length, "the primary is served meanwhile: 16 groups of its 16 MiB disk");
        } finally {
            for (Socket s : held) {
                s.close();
            }
        }
    }

    @Test
    @Order(8)
    void aReplicaDomainLibvirtLostIsDefinedAgainWhenTheStandbyStarts() throws Exception {
        String uri = lab.options().libvirtUri();
        assertEquals(0, Exec.run(T, "virsh", "-c", uri, "domstate", "files-hostile").exitCode(), "defined by now");
        // libvirt loses the definition (an admin's undefine, a host rebuilt) while the standby is down
        standby.stop(Duration.ofSeconds(30));
        assertEquals(0, Exec.run(T, "virsh", "-c", uri, "undefine", "files-hostile", "--nvram").exitCode());
        assertTrue(Exec.run(T, "virsh", "-c", uri, "domstate", "files-hostile").exitCode() != 0);
        standby = AmirrorProcess.start(null, work.resolve("standby-2.log"), "standby", "--config", standbyConfig.toString())
                .awaitLog("standby listening", 60_000);
        standby.awaitLog("defined again in libvirt", 60_000);
        assertEquals("shut off", Exec.run(T, "virsh", "-c", uri, "domstate", "files-hostile").orThrow().stdout().strip());
        assertTrue(Exec.run(T, "virsh", "-c", uri, "dumpxml", "files-hostile").orThrow().stdout()
                .contains(disk("vda").image().toString()), "defined on the replica's own image");
    }
}
