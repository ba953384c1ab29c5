package io.amirror.standby;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.lab.AmirrorProcess;
import io.amirror.lab.Lab;
import io.amirror.transport.Identity;
import io.amirror.util.Exec;
import io.amirror.util.PrivateFiles;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static io.amirror.lab.Cli.cli;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A primary daemon and a standby daemon as separate amirror processes on loopback, with their
 * state, policies and logs in one directory under the lab's work directory (kept with
 * {@code -Damirror.keep}), and the CLI calls tests make against them.
 */
final class ReplicationRun implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    final Lab lab;
    final Path work;
    final Path primaryState;
    final Path standbyState;
    final Path policies;
    final Path sockets;
    final Identity primaryId;
    final Identity standbyId;
    final int port;
    /** The standby's options for defining replica domains, which failover takes too. */
    final List<String> definition;
    AmirrorProcess standby;
    AmirrorProcess primary;

    private ReplicationRun(Lab lab, String prefix) throws Exception {
        this.lab = lab;
        work = Files.createTempDirectory(lab.options().workDir(), prefix);
        PrivateFiles.makeTraversable(work);
        primaryState = work.resolve("primary");
        standbyState = work.resolve("standby");
        policies = Files.createDirectories(work.resolve("policies.d"));
        sockets = Files.createTempDirectory(Path.of("/tmp"), "amsock");
        primaryId = Identity.loadOrCreate(primaryState, "primary");
        standbyId = Identity.loadOrCreate(standbyState, "standby");
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        definition = List.of("--libvirt", lab.options().libvirtUri(), "--replica-suffix", "-replica",
                "--socket-dir", sockets.toString(), "--kernel-dir", lab.kit().kernel().getParent().toString());
    }

    static ReplicationRun open(Lab lab, String prefix) throws Exception {
        return new ReplicationRun(lab, prefix);
    }

    /** The policy's {@code "standby"} member: this run's standby address and fingerprint. */
    String standbyMember() {
        return "\"standby\": {\"address\": \"127.0.0.1:" + port + "\", \"fingerprint\": \"" + standbyId.fingerprint() + "\"}";
    }

    ReplicationRun startStandby() throws Exception {
        return startStandby(new String[0]);
    }

    /** The standby with {@code more} options (a {@code --config} file, say). */
    ReplicationRun startStandby(String... more) throws Exception {
        List<String> args = new ArrayList<>(List.of("standby", "--state", standbyState.toString(),
                "--listen", "127.0.0.1:" + port, "--peer", primaryId.fingerprint()));
        args.addAll(definition);
        args.addAll(List.of(more));
        standby = AmirrorProcess.start(null, work.resolve("standby.log"), args.toArray(String[]::new))
                .awaitLog("standby listening", 60_000);
        return this;
    }

    ReplicationRun startPrimary() throws Exception {
        primary = AmirrorProcess.start(null, work.resolve("primary.log"), "primary", "--state", primaryState.toString(),
                "--policies", policies.toString(), "--control", "127.0.0.1:0", "--scratch",
                lab.options().workDir().resolve("jobs").toString(), "--libvirt", lab.options().libvirtUri())
                .awaitLog("primary running", 60_000);
        return this;
    }

    void killPrimary() throws Exception {
        if (primary != null) {
            primary.kill9();
            primary = null;
        }
    }

    /** One cycle now; returns the standby's point after it (waits for a newer one than {@code after} unless -1). */
    int sync(String domain, int after) throws Exception {
        String out = cli(work, "sync-" + System.nanoTime(), 0, "sync", "--state", primaryState.toString(), domain, "--wait");
        assertTrue(out.contains("standby holds point"), out);
        int point = status().path("lastPoint").asInt();
        assertTrue(after < 0 || point > after, "no point after " + after + ": " + out);
        return point;
    }

    /** The first domain of {@code status --json}. */
    JsonNode status() throws Exception {
        return JSON.readTree(cli(work, "status-" + System.nanoTime(), -1, "status", "--json", "--state",
                primaryState.toString())).path("domains").path(0);
    }

    /** Waits for the standby to hold a point newer than {@code after}. */
    int lastPointAfter(int after, String what, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            int point = status().path("lastPoint").asInt();
            if (point > after) {
                return point;
            }
            Thread.sleep(2_000);
        }
        throw new AssertionError("no " + what + " within " + timeout.toSeconds() + " s");
    }

    /** The replica image of disk {@code target} of the domain of UUID {@code uuid}. */
    Path replicaImage(String uuid, String target) {
        return replicaDirectory(uuid).resolve(target).resolve("replica.qcow2");
    }

    Path replicaDirectory(String uuid) {
        return standbyState.resolve("replicas").resolve(uuid);
    }

    Domain awaitDefined(String name) throws Exception {
        // the standby defines it after the point's apply; on a loaded host that can take a minute
        for (int i = 0; i < 360; i++) {
            try {
                return lab.libvirt().domainLookupByName(name);
            } catch (LibvirtException notYet) {
                Thread.sleep(500);
            }
        }
        throw new AssertionError("replica domain " + name + " not defined within 3 minutes");
    }

    /** The serial console socket a replica domain's definition binds, which must be under {@code sockets}. */
    static Path consoleSocket(Path sockets, String replicaXml) {
        String path = replicaXml.replaceAll("(?s).*<serial type='unix'>\\s*<source mode='bind' path='([^']+)'.*", "$1");
        assertTrue(path.startsWith(sockets.toString()), "serial socket moved: " + path);
        return Path.of(path);
    }

    /** Stops and undefines domain {@code name} (keeping its NVRAM file: it is under the test's directory). */
    static void undefine(Lab lab, String name) {
        try {
            Domain r = lab.libvirt().domainLookupByName(name);
            if (r.isActive() == 1) {
                r.destroy();
            }
            r.undefine(0x8 /* VIR_DOMAIN_UNDEFINE_KEEP_NVRAM */);
        } catch (LibvirtException gone) {
            // never defined
        }
    }

    @Override
    public void close() throws Exception {
        killPrimary();
        if (standby != null) {
            standby.kill9();
        }
        if (System.getProperty("amirror.keep") == null) {
            Exec.run(Duration.ofMinutes(1), "rm", "-rf", work.toString(), sockets.toString());
        }
    }
}
