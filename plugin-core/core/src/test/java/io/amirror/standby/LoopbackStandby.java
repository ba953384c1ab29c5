package io.amirror.standby;

import io.amirror.config.Policy;
import io.amirror.config.PolicyLoader;
import io.amirror.config.StandbyConfig;
import io.amirror.delta.DeltaFiles;
import io.amirror.delta.XzBlockCodec;
import io.amirror.image.DiskImage;
import io.amirror.spool.Spool;
import io.amirror.transport.Identity;
import io.amirror.transport.Sender;
import io.amirror.transport.Tls;
import io.amirror.transport.TokenBucket;
import io.amirror.util.Exec;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * What the standby's loopback tests share: three TLS identities (primary, standby, a stranger),
 * qcow2 images v0 (empty), v1 and v2 of one 64 MiB disk with the deltas 0→1 and 1→2 between them,
 * and a standby service on a loopback port with a sender to it. Built once per test JVM (qemu-img
 * and qemu-io, a few seconds) and shared by every test class; each test brings its own state
 * directory.
 */
final class LoopbackStandby {
    static final Duration T = Duration.ofMinutes(2);
    static final UUID DOM = UUID.fromString("6f1c2a52-4a5e-4b4f-9d55-1e7f9c1d2b3a");
    static final int KEEP = 3;
    static final TokenBucket UNLIMITED = new TokenBucket(() -> 1e12);

    final Path shared;
    final Identity primary;
    final Identity standby;
    final Identity stranger;
    final DiskImage.Tools tools;
    /** Images v0 (empty), v1, v2 and the deltas 0->1 and 1->2 between them. */
    final Path v0;
    final Path v1;
    final Path v2;
    final Path d01;
    final Path d12;

    private static LoopbackStandby instance;

    /** The fixture, built on first use. */
    static synchronized LoopbackStandby get() throws IOException {
        if (instance == null) {
            instance = new LoopbackStandby(Files.createTempDirectory("amirror-standby-fixture-"));
            Path dir = instance.shared;
            Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(dir)));
        }
        return instance;
    }


    private LoopbackStandby(Path shared) throws IOException {
        this.shared = shared;
        primary = Identity.loadOrCreate(shared.resolve("primary"), "primary");
        standby = Identity.loadOrCreate(shared.resolve("standby"), "standby");
        stranger = Identity.loadOrCreate(shared.resolve("stranger"), "stranger");
        tools = new DiskImage.Tools(Path.of(Exec.tool("qemu-img")), Path.of(Exec.tool("qemu-nbd")));
        v0 = shared.resolve("v0.qcow2");
        v1 = shared.resolve("v1.qcow2");
        v2 = shared.resolve("v2.qcow2");
        Exec.run(T, Exec.tool("qemu-img"), "create", "-q", "-f", "qcow2", v0.toString(), "64M").orThrow();
        Files.copy(v0, v1);
        // incompressible data, so the deltas span several xz blocks and cuts land inside them
        Path rnd = shared.resolve("rnd.bin");
        byte[] r = new byte[6 << 20];
        new Random(1).nextBytes(r);
        Files.write(rnd, r);
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 1 0 2M", v1.toString()).orThrow();
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -P 3 20M 1M", v1.toString()).orThrow();
        Files.copy(v1, v2);
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -z 20M 512k", "-c", "write -P 7 40M 64k", v2.toString())
                .orThrow();
        // a region of random bytes in both versions: written through a raw copy
        writeRandom(v1, rnd, 8 << 20);
        writeRandom(v2, rnd, 8 << 20);
        Path rnd2 = shared.resolve("rnd2.bin");
        byte[] r2 = new byte[3 << 20];
        new Random(2).nextBytes(r2);
        Files.write(rnd2, r2);
        writeRandom(v2, rnd2, 30 << 20);
        d01 = shared.resolve("d01.amd");
        d12 = shared.resolve("d12.amd");
        create(v0, v1, d01, 0, 1);
        create(v1, v2, d12, 1, 2);
    }

    static void writeRandom(Path qcow, Path data, long offset) {
        Exec.run(T, Exec.tool("qemu-io"), "-f", "qcow2", "-c", "write -s " + data + " " + offset + " " + data.toFile().length(),
                qcow.toString()).orThrow();
    }

    /** The delta {@code base -> next} of disk vda of {@code domain} from image {@code from} to {@code to}. */
    void create(Path from, Path to, Path out, UUID domain, int base, int next) throws IOException {
        create(from, to, out, domain, "vda", base, next);
    }

    /** The delta {@code base -> next} of {@code disk} of {@code domain} from image {@code from} to {@code to}. */
    void create(Path from, Path to, Path out, UUID domain, String disk, int base, int next) throws IOException {
        try (DiskImage a = DiskImage.open(from, false, tools); DiskImage b = DiskImage.open(to, false, tools)) {
            DeltaFiles.create(a, b, out, new DeltaFiles.CreateOptions(domain, disk, base, next,
                    new XzBlockCodec.Preset(1, false), 0, 2, 1 << 20 /* 1 MiB blocks: many of them */));
        }
    }

    void create(Path from, Path to, Path out, int base, int next) throws IOException {
        create(from, to, out, DOM, base, next);
    }

    static Spool.Entry entry(Path delta, int base, int next) throws IOException {
        return new Spool.Entry(DOM, "vda", base, next, delta, Files.size(delta));
    }

    /** The configuration of a standby with state {@code state} on a free loopback port, defining no domains. */
    StandbyConfig config(Path state, Set<String> peers, Path ca, int keep, int keepDays) {
        return new StandbyConfig(state, local(0), "127.0.0.1:0", List.copyOf(peers), ca, "qemu:///system", false, "",
                null, keep, keepDays);
    }

    /**
     * A standby of state {@code state} that trusts {@code primary} only and keeps 3 points;
     * with {@code define}, it defines replica domains in libvirt's test driver.
     */
    static StandbyConfig trusting(Path state, Identity primary, boolean define) {
        return new StandbyConfig(state, local(0), "127.0.0.1:0", List.of(primary.fingerprint()), null, "test:///default",
                define, "", null, 3, 36500, StandbyConfig.ReplicaLimits.NONE);
    }

    /** Policy "office" of domain "files", aimed at {@code s} (whose key is {@code standby}), at xz preset 1. */
    static Policy officePolicy(StandbyService s, Identity standby) throws io.amirror.config.ConfigException {
        return PolicyLoader.parse(("{\"name\": \"office\", \"domains\": {\"names\": [\"files\"]}, \"standby\": "
                + "{\"address\": \"127.0.0.1:" + s.port() + "\", \"fingerprint\": \"" + standby.fingerprint() + "\"}, "
                + "\"rpo\": {\"interval\": \"1h\"}, \"compression\": \"1\"}").getBytes(StandardCharsets.UTF_8),
                "office.json");
    }

    /** A standby of state {@code state} that trusts the primary, keeping {@link #KEEP} points. */
    StandbyService start(Path state) throws IOException {
        return start(config(state, Set.of(primary.fingerprint()), null, KEEP, 36500));
    }

    StandbyService start(StandbyConfig config) throws IOException {
        return StandbyService.start(config, standby, tools);
    }

    /** The replicas directory of a standby with state {@code state}. */
    static Path replicas(Path state) {
        return StandbyLayout.of(state).replicas();
    }

    /** The replica of disk vda of {@link #DOM} on a standby with state {@code state}. */
    ReplicaDisk disk(Path state) {
        return new ReplicaDisk(replicas(state), DOM, "vda", tools, KEEP);
    }

    Sender sender(Identity me, Set<String> pins, InetSocketAddress to, TokenBucket bucket) throws IOException {
        return new Sender(Tls.context(me, pins), to, bucket, 30_000);
    }

    /** The primary's sender to {@code s}, unlimited. */
    Sender sender(StandbyService s) throws IOException {
        return sender(primary, Set.of(standby.fingerprint()), local(s.port()), UNLIMITED);
    }

    static InetSocketAddress local(int port) {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
    }

    static boolean sameImage(Path a, Path b) {
        return Exec.run(T, Exec.tool("qemu-img"), "compare", "-q", a.toString(), b.toString()).exitCode() == 0;
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
