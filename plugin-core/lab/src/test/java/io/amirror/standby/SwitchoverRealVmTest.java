package io.amirror.standby;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.lab.AmirrorProcess;
import io.amirror.lab.DiskSpec;
import io.amirror.lab.DomainSpec;
import io.amirror.lab.GuestConsole;
import io.amirror.lab.GuestException;
import io.amirror.lab.Lab;
import io.amirror.lab.LabDomain;
import io.amirror.lab.PrivateTree;
import io.amirror.lab.RealVmTest;
import io.amirror.state.SwitchoverLayout;
import io.amirror.util.Pause;
import org.junit.jupiter.api.Test;
import org.libvirt.Domain;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

import static io.amirror.lab.Cli.cli;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A planned switchover and the way back, on the real lab (one libvirtd serves as both hosts, so
 * the replicas carry name suffixes): the primary's guest is shut down by its admin while
 * {@code amirror switchover} waits, its final point is acknowledged, the standby starts the replica
 * with every byte written before the shutdown, and replicates it back to a standby the primary
 * daemon runs, seeded with the domain's own disk, so the way back carries only what changed on the
 * standby. Then the same command on the standby moves the domain back, where it runs with the data
 * of both sides. The bytes each direction carried are printed.
 */
@RealVmTest
class SwitchoverRealVmTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void switchoverWithNoLossAndTheWayBackWithTheSameCommand(Lab lab) throws Exception {
        try (ReplicationRun run = ReplicationRun.open(lab, "switchover-")) {
            run.startStandby("--allow-switchover");
            LabDomain vm = lab.createDomain(DomainSpec.oneDisk(64L << 20, DiskSpec.Content.BLANK)).start();
            String replicaName = vm.name() + "-replica";
            String homeName = replicaName + "-back";
            try {
                Files.writeString(run.policies.resolve("lab.json"), "{\"name\": \"lab\", \"domains\": {\"names\": [\""
                        + vm.name() + "\"]}, " + run.standbyMember() + ", \"rpo\": {\"interval\": \"1h\"}}");
                run.startPrimary();
                GuestConsole c = vm.console();
                int first = run.lastPointAfter(0, "first point", Duration.ofMinutes(3));
                String a = c.writeRandom("vda", 160, 16);
                int second = run.sync(vm.name(), first);
                String b = c.writeRandom("vda", 480, 16); // after the last point: only the final point carries it
                run.awaitDefined(replicaName);

                int backPort = freePort();
                Path backConfig = definitionFile(run, "back-standby.json", "-back");
                String dry = cli(run.work, "switchover-dry", 0, "switchover", "--state", run.primaryState.toString(),
                        vm.name(), "--back-listen", "127.0.0.1:" + backPort, "--back-config", backConfig.toString(),
                        "--dry-run");
                assertTrue(dry.contains("takes " + vm.name() + " over as " + replicaName), dry);
                assertTrue(vm.isRunning(), "a dry run changes nothing");

                // the admin shuts the guest down while the switchover waits for it
                AmirrorProcess sw = AmirrorProcess.start(null, run.work.resolve("switchover.log"), "switchover",
                        "--state", run.primaryState.toString(), vm.name(), "--back-listen", "127.0.0.1:" + backPort,
                        "--back-config", backConfig.toString(), "--back-interval", "1h", "--await-shutdown",
                        "--shutdown-timeout", "3m").awaitLog("waiting for " + vm.name(), 60_000);
                long t0 = System.nanoTime();
                vm.powerOff(Duration.ofMinutes(2));
                assertEquals(0, sw.waitFor(600), sw.output());
                double switchSeconds = (System.nanoTime() - t0) / 1e9;
                String out = sw.output();
                System.out.println(out);
                assertTrue(out.contains(vm.name() + " runs on the standby as " + replicaName), out);
                long finalBytes = bytesOf(out, "final point");

                // the standby runs the replica with everything written before the shutdown
                Domain replica = lab.libvirt().domainLookupByName(replicaName);
                assertEquals(1, replica.isActive(), "the standby started the replica domain");
                String replicaXml = replica.getXMLDesc(0);
                String e;
                try (GuestConsole rc = GuestConsole.connect(replicaName, ReplicationRun.consoleSocket(run.sockets,
                        replicaXml), Duration.ofSeconds(30))) {
                    rc.awaitReady(lab.options().bootTimeout());
                    assertEquals(a, rc.md5("vda", 160, 16), "data of the first point");
                    assertEquals(b, rc.md5("vda", 480, 16), "data written after the last scheduled point, before the shutdown");
                    e = rc.writeRandom("vda", 320, 16); // written on the standby: the way back must carry it
                }
                // the primary leaves the domain alone: no status, a record of where it went
                assertTrue(Files.exists(SwitchoverLayout.of(run.primaryState).switchedAway(
                        java.util.UUID.fromString(vm.libvirtDomain().getUUIDString()))));
                awaitGone(run, vm.name());

                // the way back runs: the standby's reverse primary replicates the domain here, seeded by its own disk
                Path reverse = SwitchoverLayout.of(run.standbyState).reverseState();
                JsonNode back1 = awaitPoint(run, reverse, replicaName, 0, Duration.ofMinutes(3));
                long seededBytes = back1.path("lastCycleDeltaBytes").asLong();
                String synced = cli(run.work, "reverse-sync", 0, "sync", "--state", reverse.toString(), replicaName, "--wait");
                assertTrue(synced.contains("standby holds point"), synced);
                JsonNode back2 = find(status(run, reverse), replicaName);
                long changedBytes = back2.path("lastCycleDeltaBytes").asLong();
                assertTrue(seededBytes < (512 << 10), "the seed leaves only what the guest wrote since its start, not the "
                        + "2 MiB of data on the disk: " + seededBytes);
                assertTrue(changedBytes > (900 << 10) && changedBytes < (2 << 20), "the 1 MiB written on the standby: "
                        + changedBytes);

                // the way back: the same command on the standby's side, the admin shutting the guest down there
                Path homeConfig = definitionFile(run, "home-standby.json", "-home");
                AmirrorProcess home = AmirrorProcess.start(null, run.work.resolve("switchback.log"), "switchover",
                        "--state", reverse.toString(), replicaName, "--back-listen", "127.0.0.1:" + freePort(),
                        "--back-config", homeConfig.toString(), "--await-shutdown", "--shutdown-timeout", "3m")
                        .awaitLog("waiting for " + replicaName, 60_000);
                try (GuestConsole rc = GuestConsole.connect(replicaName, ReplicationRun.consoleSocket(run.sockets,
                        replicaXml), Duration.ofSeconds(30))) {
                    rc.run("sync; echo 3 > /proc/sys/vm/drop_caches; sync", Duration.ofSeconds(60));
                    try {
                        rc.run("poweroff -f", Duration.ofSeconds(2));
                    } catch (GuestException expected) {
                        // gone before it answers
                    }
                }
                assertEquals(0, home.waitFor(600), home.output());
                String homeOut = home.output();
                System.out.println(homeOut);
                assertTrue(homeOut.contains(replicaName + " runs on the standby as " + homeName), homeOut);
                long wayBackFinalBytes = bytesOf(homeOut, "final point");

                Domain back = lab.libvirt().domainLookupByName(homeName);
                assertEquals(1, back.isActive(), "the domain runs at home again");
                try (GuestConsole hc = GuestConsole.connect(homeName, ReplicationRun.consoleSocket(run.sockets,
                        back.getXMLDesc(0)), Duration.ofSeconds(30))) {
                    hc.awaitReady(lab.options().bootTimeout());
                    assertEquals(a, hc.md5("vda", 160, 16), "data from before the switchover");
                    assertEquals(b, hc.md5("vda", 480, 16), "data of the final point");
                    assertEquals(e, hc.md5("vda", 320, 16), "data written while the domain ran on the standby");
                }
                assertTrue(finalBytes > (900 << 10) && finalBytes < (2 << 20), "the final point carries the 1 MiB written "
                        + "after the last point: " + finalBytes);
                System.out.printf("switchover: points %d, %d; final point %d bytes; admin's shutdown to the replica "
                                + "running on the standby %.1f s; way back: first point %d bytes (seeded), 1 MiB written "
                                + "there: %d bytes; switch back: final point %d bytes%n", first, second, finalBytes, switchSeconds,
                        seededBytes, changedBytes, wayBackFinalBytes);

                List<String> exposed = Stream.of(run.primaryState, run.standbyState)
                        .flatMap(s -> PrivateTree.exposed(s).stream()).toList();
                assertEquals(List.of(), exposed, "state readable by other users");
            } finally {
                run.killPrimary();
                vm.close();
                ReplicationRun.undefine(lab, homeName);
                ReplicationRun.undefine(lab, replicaName);
                ReplicationRun.undefine(lab, replicaName + "-home");
                ReplicationRun.undefine(lab, homeName + "-home");
            }
        }
    }

    /** A standby configuration of replica settings for a back standby: this run's sockets and kernels, a suffix. */
    private static Path definitionFile(ReplicationRun run, String name, String suffix) throws Exception {
        Path f = run.work.resolve(name);
        Files.writeString(f, "{\"replicas\": {\"suffix\": \"" + suffix + "\", \"socketDir\": \"" + run.sockets
                + "\", \"kernelDirs\": [\"" + run.lab.kit().kernel().getParent() + "\"]}}");
        return f;
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** The bytes of delta a switchover's line about {@code what} names ("... (N bytes of delta)" or "1.2 MiB"). */
    private static long bytesOf(String out, String what) {
        for (String line : out.split("\n")) {
            if (line.startsWith(what)) {
                String n = line.replaceAll(".*\\(([0-9.,]+ [A-Za-z]+) of delta\\).*", "$1");
                String[] parts = n.split(" ");
                double v = Double.parseDouble(parts[0].replace(",", ""));
                return (long) (v * switch (parts[1]) {
                    case "kB" -> 1e3;
                    case "MB" -> 1e6;
                    case "GB" -> 1e9;
                    default -> 1;
                });
            }
        }
        throw new AssertionError("no line '" + what + "' in: " + out);
    }

    private static JsonNode status(ReplicationRun run, Path state) throws Exception {
        return JSON.readTree(cli(run.work, "status-" + System.nanoTime(), -1, "status", "--json", "--state",
                state.toString()));
    }

    private static JsonNode find(JsonNode status, String domain) {
        for (JsonNode d : status.path("domains")) {
            if (domain.equals(d.path("domain").asText())) {
                return d;
            }
        }
        return null;
    }

    /** Waits for the primary of {@code state} (a control API there) to hold a point of {@code domain} newer than {@code after}. */
    private static JsonNode awaitPoint(ReplicationRun run, Path state, String domain, int after, Duration timeout)
            throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (Files.exists(state.resolve("control"))) {
                try {
                    JsonNode d = find(status(run, state), domain);
                    if (d != null && d.path("lastPoint").asInt() > after) {
                        return d;
                    }
                } catch (RuntimeException | AssertionError notYet) {
                    // the reverse primary is starting
                }
            }
            Thread.sleep(2_000);
        }
        throw new AssertionError("no point of " + domain + " from " + state + " within " + timeout.toSeconds() + " s");
    }

    private static void awaitGone(ReplicationRun run, String domain) throws Exception {
        for (int i = 0; i < 30; i++) {
            if (find(status(run, run.primaryState), domain) == null) {
                return;
            }
            Pause.millis(1_000);
        }
        throw new AssertionError(domain + " is still replicated by the primary after its switchover");
    }

}
