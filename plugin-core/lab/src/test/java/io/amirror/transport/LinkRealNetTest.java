package io.amirror.transport;

import io.amirror.delta.DeltaFiles;
import io.amirror.delta.XzBlockCodec;
import io.amirror.image.DiskImage;
import io.amirror.lab.AmirrorProcess;
import io.amirror.lab.NetnsLink;
import io.amirror.standby.ReplicaDisk;
import io.amirror.util.Exec;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Random;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Primary and standby as separate processes in two network namespaces joined by a tbf-shaped veth
 * pair: goodput at 1 and 10 Mbit/s, and kill -9 of the sender and of the receiver at random moments.
 * Trials per fault: {@code -Damirror.trials=N} (default {@value #DEFAULT_TRIALS}, sized for CI).
 */
@Tag("real")
class LinkRealNetTest {
    static final int DEFAULT_TRIALS = 4;
    static final int TRIALS = Integer.getInteger("amirror.trials", DEFAULT_TRIALS);
    static final UUID DOM = UUID.fromString("0c8d1f2e-3b4a-4c5d-8e6f-7a8b9c0d1e2f");

    @TempDir
    static Path dir;
    static Identity primary;
    static Identity standby;
    static DiskImage.Tools tools;
    static Path image;
    static Path small;
    static Path large;

    @BeforeAll
    static void setUp() throws Exception {
        primary = Identity.loadOrCreate(dir.resolve("primary"), "primary");
        standby = Identity.loadOrCreate(dir.resolve("standby-template"), "standby");
        tools = new DiskImage.Tools(Path.of(Exec.tool("qemu-img")), Path.of(Exec.tool("qemu-nbd")));
        // incompressible content, so wire bytes are delta bytes: 1.2 MB for 1 Mbit/s, 8 MB for 10 Mbit/s
        small = delta("small", 1_200_000, 1);
        large = delta("large", 8_000_000, 2);
    }

    static Path delta(String name, int bytes, long seed) throws Exception {
        Path empty = dir.resolve(name + "-0.raw");
        Path full = dir.resolve(name + "-1.raw");
        Files.write(empty, new byte[16 << 20]);
        byte[] content = new byte[16 << 20];
        byte[] r = new byte[bytes];
        new Random(seed).nextBytes(r);
        System.arraycopy(r, 0, content, 1 << 20, r.length);
        Files.write(full, content);
        Path out = dir.resolve(name + ".amd");
        try (DiskImage a = DiskImage.open(empty, false, tools); DiskImage b = DiskImage.open(full, false, tools)) {
            DeltaFiles.create(a, b, out, new DeltaFiles.CreateOptions(DOM, "vda", 0, 1, new XzBlockCodec.Preset(0, false),
                    0, 2, 1 << 20));
        }
        if (name.equals("large")) {
            image = full;
        }
        return out;
    }

    /** A fresh standby state directory holding the standby's identity. */
    static Path standbyState(String name) throws Exception {
        Path s = dir.resolve(name);
        Files.createDirectories(s);
        for (String f : new String[] {"identity.p12", "identity.pass"}) {
            Files.copy(dir.resolve("standby-template").resolve(f), s.resolve(f),
                    StandardCopyOption.REPLACE_EXISTING);
        }
        return s;
    }

    static AmirrorProcess standbyProcess(NetnsLink link, Path state, String tag) throws Exception {
        return AmirrorProcess.start(link.standbyNamespace(), dir.resolve(tag + ".standby.log"), "standby",
                "--state", state.toString(), "--listen", link.standbyAddress() + ":10809", "--peer", primary.fingerprint(),
                "--keep", "3").awaitLog("standby listening", 30_000);
    }

    static AmirrorProcess shipProcess(NetnsLink link, Path delta, String rate, String tag) throws Exception {
        return AmirrorProcess.start(link.primaryNamespace(), dir.resolve(tag + ".ship.log"), "ship",
                "--state", dir.resolve("primary").toString(), "--to", link.standbyAddress() + ":10809",
                "--peer", standby.fingerprint(), "--rate", rate, delta.toString());
    }

    static final Pattern SHIPPED = Pattern.compile("resumed at byte (\\d+), sent (\\d+), ([0-9.]+) Mbit/s");

    static final Pattern RECEIVED = Pattern.compile("received (\\d+) bytes .* in ([0-9.]+) s: ([0-9.]+) Mbit/s");

    /** The shipper's own report of its CPU time and heap peak, from the last {@link #ship}. */
    String lastShipCost = "";

    /** Ships and returns the goodput the standby saw: delta bytes received per second of transfer. */
    double ship(NetnsLink link, AmirrorProcess standbyProc, Path delta, String rate, String tag) throws Exception {
        try (AmirrorProcess p = shipProcess(link, delta, rate, tag)) {
            assertEquals(0, p.waitFor(300), p.output());
            assertTrue(SHIPPED.matcher(p.output()).find(), p.output());
            lastShipCost = p.output().lines().filter(l -> l.startsWith("ship process:")).findFirst().orElse("");
            Matcher m = RECEIVED.matcher(standbyProc.output());
            assertTrue(m.find(), standbyProc.output());
            return Double.parseDouble(m.group(3));
        }
    }

    @Test
    void goodputAtOneAndTenMbits() throws Exception {
        for (String rate : new String[] {"1mbit", "10mbit"}) {
            try (NetnsLink link = NetnsLink.create(rate);
                 AmirrorProcess s = standbyProcess(link, standbyState("goodput-" + rate), "goodput-" + rate)) {
                double cpuBefore = s.cpuSeconds();
                double mbit = ship(link, s, rate.equals("1mbit") ? small : large, rate, "goodput-" + rate);
                double limit = rate.equals("1mbit") ? 1.0 : 10.0;
                System.out.printf("delta goodput at the standby over tbf %s, amirror limited to %s: %.3f Mbit/s (%.1f %%); "
                                + "standby cpu for the transfer and apply %.2f s; %s%n", rate, rate, mbit, 100 * mbit / limit,
                        s.cpuSeconds() - cpuBefore, lastShipCost);
                assertTrue(mbit >= 0.9 * limit && mbit <= 1.05 * limit, rate + ": " + mbit + " Mbit/s");
            }
        }
    }

    @Test
    void killingTheSenderAtRandomMomentsLosesNothingAndResumes() throws Exception {
        Random rnd = new Random(7);
        try (NetnsLink link = NetnsLink.create("10mbit")) {
            for (int t = 0; t < TRIALS; t++) {
                Path state = standbyState("ks-" + t);
                try (AmirrorProcess s = standbyProcess(link, state, "ks-" + t)) {
                    try (AmirrorProcess ship = shipProcess(link, large, "10mbit", "ks-" + t + "-a")) {
                        Thread.sleep(1500 + rnd.nextInt(5000)); // JVM start, handshake, then up to ~5 s of data
                        ship.kill9();
                    }
                    try (AmirrorProcess again = shipProcess(link, large, "10mbit", "ks-" + t + "-b")) {
                        assertEquals(0, again.waitFor(300), again.output());
                        System.out.println("sender kill trial " + t + ": " + again.output().strip());
                    }
                }
                assertReplica(state, "sender kill trial " + t);
            }
        }
    }

    @Test
    void killingTheReceiverAtRandomMomentsIncludingDuringApplyLosesNothing() throws Exception {
        Random rnd = new Random(11);
        try (NetnsLink link = NetnsLink.create("10mbit")) {
            for (int t = 0; t < TRIALS; t++) {
                Path state = standbyState("kr-" + t);
                try (AmirrorProcess s = standbyProcess(link, state, "kr-" + t + "-a");
                     AmirrorProcess ship = shipProcess(link, large, "10mbit", "kr-" + t + "-a")) {
                    // the transfer takes ~7 s and the apply ~1 s more: kill anywhere in there
                    Thread.sleep(1500 + rnd.nextInt(8000));
                    s.kill9();
                    ship.waitFor(120);
                }
                try (AmirrorProcess s = standbyProcess(link, state, "kr-" + t + "-b");
                     AmirrorProcess again = shipProcess(link, large, "10mbit", "kr-" + t + "-b")) {
                    assertEquals(0, again.waitFor(300), again.output());
                    System.out.println("receiver kill trial " + t + ": " + again.output().strip());
                }
                assertReplica(state, "receiver kill trial " + t);
            }
        }
    }

    static void assertReplica(Path state, String what) throws Exception {
        ReplicaDisk d = new ReplicaDisk(state.resolve("replicas"), DOM, "vda", tools, 3);
        assertEquals(1, d.state().point(), what);
        assertEquals(0, Exec.run(Duration.ofMinutes(1), Exec.tool("qemu-img"), "compare", "-q",
                "-f", "qcow2", "-F", "raw", d.image().toString(), image.toString()).exitCode(), what + ": replica differs");
    }
}
