package io.amirror.demo;

import com.fasterxml.jackson.databind.JsonNode;
import io.amirror.cli.Progress;
import io.amirror.lab.AmirrorProcess;
import io.amirror.lab.DiskSpec;
import io.amirror.lab.DomainSpec;
import io.amirror.lab.GuestConsole;
import io.amirror.lab.Lab;
import io.amirror.lab.LabDomain;
import io.amirror.lab.NetnsLink;
import io.amirror.lab.OfficeWorkload;
import io.amirror.transport.Identity;
import io.amirror.util.AtomicFiles;
import io.amirror.util.Exec;
import io.amirror.util.FileTrees;
import io.amirror.util.PrivateFiles;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * amirror end to end on one machine, as an admin would run it. A standby ({@code amirror standby})
 * runs in one network namespace and the primary daemon ({@code amirror primary}) in another, joined
 * by a tbf-shaped link: 10 Mbit/s for the first sync, then the 1 Mbit/s of a small office's uplink.
 * The daemon replicates a lab guest on its policy's schedule (a point every {@link #INTERVAL}), with
 * the libvirt hook installed, while the guest works through office days; the demo shows the
 * daemon's own status live ({@code amirror status --json --watch}): the standby's newest point and
 * its age against the RPO, and each transfer's progress bar, rate and ETA. After the last day the
 * guest shuts down; the hook's event makes the daemon capture the shut-off disk, so nothing is
 * lost. The replica is compared with the disk byte for byte. Then the primary is gone: {@code virsh
 * start} of the replica domain, which the standby defined in libvirt from the daemon's description;
 * the hook promotes the replica, the guest boots from it, and its last log line is compared with
 * what the primary's guest wrote.
 *
 * <p>Everything the demo creates is registered with a {@link Teardown} as soon as it exists, so
 * the end of the run and an interrupted run (Ctrl-C) leave the host as they found it.
 */
public final class ReplicationDemo {
    /** The policy's RPO: short, so the demo shows several scheduled points a minute. */
    static final String INTERVAL = "20s";
    private static final Duration POINT_TIMEOUT = Duration.ofMinutes(15);

    /**
     * One day of the guest's work and the points that replicated it.
     *
     * @param deltaSent   bytes of deltas the daemon sent from the day's start until the standby held it all
     * @param lastPoint   the first point that holds every write of the day
     * @param lagSeconds  that point's time from cut to the standby's ack
     */
    public record Day(int day, String what, String link, long guestWrote, long deltaSent, int lastPoint,
                      double lagSeconds) {
    }

    /**
     * @param worstRpoSeconds the RPO achieved, as the daemon measured it: the oldest the standby's
     *                        newest point got before a newer one was acknowledged
     * @param failover        what the replica guest showed after {@code virsh start} on the standby
     *                        side: the last line of its log (null: no failover ran)
     */
    public record Result(List<Day> days, long rpoTargetSeconds, long worstRpoSeconds, long deltaBytesSent,
                         long points, long scheduledCycles, boolean sawLiveTransfer, boolean identical,
                         String failover, boolean failoverMatches) {
        public long guestWrote() {
            return days.stream().mapToLong(Day::guestWrote).sum();
        }

        public List<Day> officeDays() {
            return days.subList(1, days.size());
        }
    }

    private ReplicationDemo() {
    }

    public static Result run(Lab lab, int officeDays, PrintStream out) throws Exception {
        return run(lab, officeDays, null, out);
    }

    /** {@code continuousTarget}: a continuous schedule with this RPO target instead of a point every {@link #INTERVAL}. */
    public static Result run(Lab lab, int officeDays, String continuousTarget, PrintStream out) throws Exception {
        Schedule schedule = continuousTarget == null ? new Schedule("{\"interval\": \"" + INTERVAL + "\"}",
                "a point every " + INTERVAL)
                : new Schedule("{\"target\": \"" + continuousTarget + "\"}", "continuous, RPO target " + continuousTarget);
        try (Teardown teardown = new Teardown(out)) {
            return run(lab, officeDays, schedule, out, teardown);
        }
    }

    /** The policy's rpo object and how the demo's lines name it. */
    private record Schedule(String rpoJson, String said) {
    }

    private static Result run(Lab lab, int officeDays, Schedule schedule, PrintStream out, Teardown teardown)
            throws Exception {
        // QEMU opens the replica at the failover: the work directory lets it pass through (and lists nothing to
        // anyone), as amirror's state directories in it do; what they hold stays theirs (0600 files, 0700 directories)
        Path work = Files.createTempDirectory(lab.options().workDir(), "demo-");
        teardown.add("the work directory " + work, () -> FileTrees.delete(work));
        PrivateFiles.makeTraversable(work);
        Path sockets = Files.createTempDirectory(Path.of("/tmp"), "amdemo"); // unix socket paths are short
        teardown.add("the socket directory " + sockets, () -> FileTrees.delete(sockets));
        out.println("demo: working in " + work);
        Path primaryState = work.resolve("primary");
        Path standbyState = work.resolve("standby");
        PrivateFiles.createDirectories(primaryState.resolve("events")); // the hook queues domain events here
        HookSettings hook = HookSettings.install(lab, primaryState, work);
        teardown.add("the demo's libvirt hook settings", hook::restore);

        LabDomain vm = lab.createDomain(DomainSpec.oneDisk(256L << 20, DiskSpec.Content.EXT4));
        teardown.add("the guest " + vm.name(), vm::close);
        String replicaName = vm.name() + "-replica";
        teardown.add("the replica domain " + replicaName, () -> removeDomain(lab, replicaName));
        NetnsLink link = NetnsLink.create("10mbit");
        teardown.add("the network namespaces", link::close);
        Identity primaryId = Identity.loadOrCreate(primaryState, "primary");
        Identity standbyId = Identity.loadOrCreate(standbyState, "standby");
        String standbyAt = link.standbyAddress() + ":10809";

        Path standbyConfig = work.resolve("standby.json"); // as an admin writes /etc/amirror/standby.json
        AtomicFiles.write(standbyConfig, """
                {
                  "stateDir": "%s",
                  "listen": "%s",
                  "peers": ["%s"],
                  "libvirtUri": "%s",
                  "replicas": {"define": true, "suffix": "-replica", "socketDir": "%s", "kernelDirs": ["%s"]}
                }
                """.formatted(standbyState, standbyAt, primaryId.fingerprint(), lab.options().libvirtUri(), sockets,
                        lab.kit().kernel().getParent())
                .getBytes(StandardCharsets.UTF_8));
        AmirrorProcess standby = AmirrorProcess.start(link.standbyNamespace(), work.resolve("standby.log"), "standby",
                "--config", standbyConfig.toString());
        teardown.add("the standby process", standby::close);
        standby.awaitLog("standby listening", 60_000);
        out.printf("standby: listening on %s in namespace %s%n", standbyAt, link.standbyNamespace());

        vm.start(); // before the daemon: its first cycle then finds the guest running (the hook's event waits for it)
        GuestConsole c = vm.console();
        out.printf("primary: guest %s booted under libvirt%n", vm.name());

        Path policies = Files.createDirectories(work.resolve("policies.d"));
        writePolicy(policies, vm.name(), standbyAt, standbyId.fingerprint(), "10mbit", schedule);
        AmirrorProcess daemon = AmirrorProcess.start(link.primaryNamespace(), work.resolve("primary.log"), "primary",
                "--state", primaryState.toString(), "--policies", policies.toString(), "--control", "127.0.0.1:0",
                "--scratch", lab.options().workDir().resolve("jobs").toString(), "--libvirt", lab.options().libvirtUri());
        teardown.add("the primary daemon", daemon::close);
        daemon.awaitLog("primary running", 60_000);
        out.printf("primary: amirror primary running in namespace %s; policy: %s, link 10 Mbit/s "
                + "for the first sync%n", link.primaryNamespace(), schedule.said());
        AmirrorProcess watcher = AmirrorProcess.start(link.primaryNamespace(), work.resolve("status.jsonl"), "status",
                "--state", primaryState.toString(), "--json", "--watch", "1");
        teardown.add("the status watch", watcher::close);
        DaemonWatch watch = new DaemonWatch(work.resolve("status.jsonl"), vm.name(), out);
        Supplier<String> diagnostics = () -> tail(work.resolve("primary.log")) + tail(work.resolve("standby.log"));

        OfficeWorkload office = new OfficeWorkload(c, "/dev/" + vm.spec().testDataTarget(), 1);
        List<Day> days = new ArrayList<>();
        String lastLine = null;
        for (int day = 1; day <= officeDays + 1; day++) {
            boolean last = day == officeDays + 1;
            if (day == 2) { // the first sync is done: from now on the office's uplink
                link.setRate("1mbit");
                int reloads = daemon.logCount("policies reloaded");
                writePolicy(policies, vm.name(), standbyAt, standbyId.fingerprint(), "1mbit", schedule);
                daemon.awaitLog("policies reloaded", reloads + 1, 60_000);
                watch.println("link: now 1 Mbit/s, and the policy's limit too (the daemon reloaded it)");
            }
            watch.poll(); // a point may have landed since the last day's was awaited: it is not this day's
            long sentBefore = watch.latest() == null ? 0 : watch.latest().path("deltaBytesSent").asLong();
            long before = sectorsWritten(c);
            String what = day == 1 ? "first day: file share, database, log"
                    : last ? "office day, deletes, fstrim; then the guest shuts down" : "office day";
            watch.println("day " + day + ": " + what);
            office.mount();
            if (day == 1) {
                office.setUp();
            } else {
                office.day(day, last);
            }
            if (last) {
                lastLine = c.check("tail -n 1 /mnt/log/app.log").strip(); // what a failover must show
            }
            office.unmount();
            long wrote = (sectorsWritten(c) - before) * 512;
            // the day's writes are done: the point that holds them is cut after this (taken before the shutdown,
            // whose point the daemon may cut before powerOff has seen the guest go)
            Instant done = Instant.now();
            if (last) {
                vm.powerOff(Duration.ofSeconds(60)); // the hook tells the daemon, which captures the shut-off disk
            }
            JsonNode d = watch.awaitPointCutAfter(done, POINT_TIMEOUT, diagnostics);
            if (last) { // the point after the shutdown is the shut-off disk's
                while (!"SHUT_OFF".equals(d.path("consistency").asText())) {
                    d = watch.awaitPointCutAfter(Instant.parse(d.path("lastPointAt").asText()), POINT_TIMEOUT,
                            diagnostics);
                }
            }
            Day result = new Day(day, what, day == 1 ? "10 Mbit/s" : "1 Mbit/s", wrote,
                    d.path("deltaBytesSent").asLong() - sentBefore, d.path("lastPoint").asInt(),
                    d.path("lastPointLagSeconds").asDouble());
            days.add(result);
            watch.println(String.format("day %d replicated: the guest wrote %s; %s of deltas crossed the %s link; "
                    + "the standby holds it all at point %d", day, mb(wrote), mb(result.deltaSent()), result.link(),
                    result.lastPoint()));
        }
        JsonNode end = watch.latest();
        watch.endLive();
        daemon.stop(Duration.ofSeconds(120));
        watcher.close();
        out.println("primary: daemon stopped");
        // the standby's own view, as its admin (or a monitoring check) sees it
        try (AmirrorProcess replicas = AmirrorProcess.start(link.standbyNamespace(), work.resolve("replicas.txt"),
                "replicas", "--state", standbyState.toString(), "--max-age", "5m")) {
            int status = replicas.waitFor(120);
            out.println("standby: amirror replicas --max-age 5m (exit " + status + ")");
            replicas.output().lines().forEach(l -> out.println("  " + l));
        }

        Path replica = standbyState.resolve("replicas").resolve(vm.libvirtDomain().getUUIDString()).resolve("vda")
                .resolve("replica.qcow2");
        boolean same = Exec.run(Duration.ofMinutes(5), lab.host().tool("qemu-img").toString(), "compare", "-q",
                replica.toString(), vm.image("vda").toString()).exitCode() == 0;
        String seen = failover(lab, replicaName, out);
        Result result = new Result(days, end.path("rpoTargetSeconds").asLong(), end.path("worstRpoSeconds").asLong(),
                end.path("deltaBytesSent").asLong(), end.path("pointsAcknowledged").asLong(),
                end.path("cycles").asLong(), watch.sawTransfer(), same, seen, lastLine.equals(seen));
        summary(result, out);
        return result;
    }

    /** The demo's policy, as an admin would write it; rewriting it makes the daemon reload. */
    private static void writePolicy(Path dir, String domain, String standbyAt, String fingerprint, String limit,
                                    Schedule schedule) throws IOException {
        String json = """
                {
                  "name": "demo",
                  "description": "The demo's office guest: %s over the office's uplink.",
                  "domains": {"names": ["%s"]},
                  "standby": {"address": "%s", "fingerprint": "%s"},
                  "rpo": %s,
                  "bandwidth": {"limit": "%s"},
                  "compression": "auto",
                  "retention": {"keep": 24}
                }
                """.formatted(schedule.said(), domain, standbyAt, fingerprint, schedule.rpoJson(), limit);
        AtomicFiles.write(dir.resolve("demo.json"), json.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * The primary host is gone: {@code virsh start} of the replica on the standby side (the hook
     * promotes it), then the replica guest's last log line.
     */
    private static String failover(Lab lab, String replicaName, PrintStream out) throws Exception {
        Domain replica = null;
        for (int i = 0; i < 300 && replica == null; i++) {
            try {
                replica = lab.libvirt().domainLookupByName(replicaName);
            } catch (LibvirtException notYet) {
                Thread.sleep(100);
            }
        }
        if (replica == null) {
            throw new IllegalStateException("the standby did not define " + replicaName + " within 30 s");
        }
        out.printf("%nfailover: the primary is gone; on the standby: virsh start %s%n", replicaName);
        Exec.run(Duration.ofMinutes(2), "virsh", "-c", lab.options().libvirtUri(), "start", replicaName).orThrow();
        String xml = replica.getXMLDesc(0);
        Path console = Path.of(xml.replaceAll("(?s).*<serial type='unix'>\\s*<source mode='bind' path='([^']+)'.*",
                "$1"));
        try (GuestConsole rc = GuestConsole.connect(replicaName, console, Duration.ofSeconds(60))) {
            rc.awaitReady(Duration.ofSeconds(180));
            String line = rc.check("mount -t ext4 /dev/vda /mnt && tail -n 1 /mnt/log/app.log; umount /mnt").strip();
            out.printf("failover: %s booted from the replica; the last line of its log: %s%n", replicaName, line);
            return line;
        }
    }

    /** Destroys and undefines {@code name} if it exists. */
    private static void removeDomain(Lab lab, String name) throws LibvirtException {
        Domain d;
        try {
            d = lab.libvirt().domainLookupByName(name);
        } catch (LibvirtException absent) {
            return;
        }
        if (d.isActive() == 1) {
            d.destroy();
        }
        d.undefine();
    }

    private static long sectorsWritten(GuestConsole c) {
        String[] f = c.check("cat /sys/block/vda/stat").trim().split("\\s+");
        return Long.parseLong(f[6]);
    }

    private static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log);
            return "\n--- " + log.getFileName() + " (last lines)\n"
                    + String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException e) {
            return "\n--- " + log.getFileName() + ": " + e.getMessage();
        }
    }

    static String mb(long bytes) {
        return String.format("%.2f MB", bytes / 1e6);
    }

    static void summary(Result r, PrintStream out) {
        out.println();
        out.printf("%-4s %-56s %12s %12s %7s %6s %12s%n", "day", "what", "guest wrote", "delta sent", "ratio", "point",
                "cut to ack");
        for (Day d : r.days()) {
            out.printf("%-4d %-56s %12s %12s %6.1f%% %6d %10.1f s%n", d.day(), d.what(), mb(d.guestWrote()),
                    mb(d.deltaSent()), 100.0 * d.deltaSent() / Math.max(1, d.guestWrote()), d.lastPoint(), d.lagSeconds());
        }
        out.println();
        out.printf("guest wrote %s in all; %s of deltas crossed the link: %.1f %% of what the guest wrote%n",
                mb(r.guestWrote()), mb(r.deltaBytesSent()), 100.0 * r.deltaBytesSent() / Math.max(1, r.guestWrote()));
        List<Day> office = r.officeDays();
        if (!office.isEmpty()) {
            long wrote = office.stream().mapToLong(Day::guestWrote).sum();
            long sent = office.stream().mapToLong(Day::deltaSent).sum();
            out.printf("office days alone: guest wrote %s, %s on the 1 Mbit/s link (%.1f %%)%n", mb(wrote), mb(sent),
                    100.0 * sent / Math.max(1, wrote));
        }
        out.printf("RPO: %s by the policy; achieved: %s at worst (the oldest the standby's newest point got "
                + "before the next one landed, first sync included), over %d points from %d cycles%n",
                "target " + Progress.duration(r.rpoTargetSeconds()), Progress.duration(r.worstRpoSeconds()), r.points(),
                r.scheduledCycles());
        out.println("replica identical to the guest's disk at the last point: " + (r.identical() ? "yes" : "NO"));
        if (r.failover() != null) {
            out.println("after virsh start on the standby, the guest's data is there: " + (r.failoverMatches() ? "yes" : "NO"));
        }
    }
}
