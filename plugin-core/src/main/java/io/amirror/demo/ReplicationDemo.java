package io.amirror.demo;

import io.amirror.capture.CaptureResult;
import io.amirror.capture.DomainCapture;
import io.amirror.delta.XzBlockCodec;
import io.amirror.lab.AmirrorProcess;
import io.amirror.lab.DiskSpec;
import io.amirror.lab.DomainSpec;
import io.amirror.lab.GuestConsole;
import io.amirror.lab.Lab;
import io.amirror.lab.LabDomain;
import io.amirror.lab.NetnsLink;
import io.amirror.lab.OfficeWorkload;
import io.amirror.primary.DomainReplication;
import io.amirror.spool.Spool;
import io.amirror.transport.Identity;
import io.amirror.util.Exec;
import io.amirror.util.FileTrees;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * amirror end to end on one machine: a lab guest works through office days on the "primary"; each
 * day is captured, refined, encoded into the spool and shipped by an {@code amirror ship} process
 * in one network namespace to an {@code amirror standby} process in another, over a tbf-shaped link
 * (10 Mbit/s for the first sync, then the 1 Mbit/s of a small office's uplink); the standby verifies,
 * applies and acknowledges, and the primary retires its checkpoint. At the end the guest shuts down
 * and the replica is compared with its disk byte for byte. Then the primary is gone: the replica
 * domain, which the standby defined in libvirt from the primary's description, is started with
 * {@code virsh start}; the libvirt hook promotes the replica, the guest boots from it, and its last
 * log line is compared with what the primary's guest wrote.
 */
public final class ReplicationDemo {

    /** One replicated point. */
    public record Point(int point, String what, long guestWrote, long captured, long delta, long onWire,
                        double secondsToAck, String link) {
    }

    /**
     * @param failover what the replica guest showed after {@code virsh start} on the standby side:
     *                 the last log line, as the primary's guest had written it (null: no failover ran)
     */
    public record Result(List<Point> points, boolean identical, String failover, boolean failoverMatches) {
        public long guestWrote() {
            return points.stream().mapToLong(Point::guestWrote).sum();
        }

        public long wire() {
            return points.stream().mapToLong(Point::onWire).sum();
        }
    }

    private static final Pattern SHIPPED = Pattern.compile("resumed at byte (\\d+), sent (\\d+)");

    private ReplicationDemo() {
    }

    public static Result run(Lab lab, int officeDays, PrintStream out) throws Exception {
        // QEMU opens the replica at the failover: the work directory is where it can
        Path work = Files.createTempDirectory(lab.options().workDir(), "demo-");
        Files.setPosixFilePermissions(work, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        Path sockets = Files.createTempDirectory(Path.of("/tmp"), "amdemo"); // unix socket paths are short
        ExecutorService pool = Executors.newFixedThreadPool(2);
        long size = 256L << 20;
        HookSettings hook = HookSettings.install(lab, work);
        try (LabDomain vm = lab.createDomain(DomainSpec.oneDisk(size, DiskSpec.Content.EXT4)).start();
             NetnsLink link = NetnsLink.create("10mbit")) {
            out.printf("primary: guest %s booted; standby and primary in namespaces %s, %s%n", vm.name(),
                    link.standbyNamespace(), link.primaryNamespace());
            Path primaryState = work.resolve("primary");
            Path standbyState = work.resolve("standby");
            Identity primary = Identity.loadOrCreate(primaryState, "primary");
            Identity standby = Identity.loadOrCreate(standbyState, "standby");
            DomainCapture capture = new DomainCapture(new DomainCapture.Options(lab.host().tool("qemu-nbd"),
                    lab.host().tool("qemu-img"), lab.options().workDir().resolve("jobs"), Duration.ofSeconds(120)));
            DomainReplication repl = new DomainReplication(vm.libvirtDomain(), primaryState, capture,
                    new Spool(primaryState.resolve("spool"), 4L << 30), pool, 2);
            UUID uuid = repl.uuid();
            GuestConsole c = vm.console();
            OfficeWorkload office = new OfficeWorkload(c, "/dev/" + vm.spec().testDataTarget(), 1);
            List<Point> points = new ArrayList<>();
            String lastLine = null;
            String standbyAt = link.standbyAddress() + ":10809";
            try (AmirrorProcess standbyProc = AmirrorProcess.start(link.standbyNamespace(), work.resolve("standby.log"),
                    "standby", "--state", standbyState.toString(), "--listen", standbyAt, "--peer", primary.fingerprint(),
                    "--libvirt", lab.options().libvirtUri(), "--replica-suffix", "-replica", "--socket-dir",
                    sockets.toString()).awaitLog("standby listening", 60_000)) {
                for (int day = 1; day <= officeDays + 1; day++) {
                    String rate = day == 1 ? "10mbit" : "1mbit";
                    link.setRate(rate);
                    long before = sectorsWritten(c);
                    office.mount();
                    String what;
                    if (day == 1) {
                        office.setUp();
                        what = "first sync: file share, database, log";
                    } else {
                        office.day(day, day == officeDays + 1);
                        what = day == officeDays + 1 ? "office day, deletes, fstrim" : "office day";
                    }
                    if (day == officeDays + 1) {
                        lastLine = c.check("tail -n 1 /mnt/log/app.log").strip(); // what a failover must show
                    }
                    office.unmount();
                    long wrote = (sectorsWritten(c) - before) * 512;
                    long t0 = System.nanoTime();
                    DomainReplication.Captured cap = repl.capture(new XzBlockCodec.Preset(day == 1 ? 6 : 9, day != 1));
                    CaptureResult r = cap.capture();
                    Spool.Entry delta = cap.deltas().get(0).entry();
                    try (AmirrorProcess ship = AmirrorProcess.start(link.primaryNamespace(),
                            work.resolve("ship-" + day + ".log"), "ship", "--state", primaryState.toString(), "--to",
                            standbyAt, "--peer", standby.fingerprint(), "--rate", rate, "--progress",
                            delta.file().toString())) {
                        showProgress(ship, out);
                        if (ship.waitFor(1800) != 0) {
                            throw new IllegalStateException("shipping point " + r.newPoint() + " failed: " + ship.output());
                        }
                        Matcher m = SHIPPED.matcher(ship.output());
                        long sent = m.find() ? Long.parseLong(m.group(2)) : delta.size();
                        double seconds = (System.nanoTime() - t0) / 1e9;
                        repl.acknowledged(cap);
                        if (day == officeDays + 1) { // the standby defines the replica domain from this description
                            describe(repl, vm, r.newPoint(), work, primaryState, standbyAt, standby, link);
                        }
                        Point p = new Point(r.newPoint(), what, wrote, r.dataBytes(), delta.size(), sent, seconds, rate);
                        points.add(p);
                        out.printf("point %d (%s): guest wrote %s, capture read %s, delta %s, %s sent on a %s link, "
                                        + "%.1f s from capture to the standby's ack%n", p.point(), what, mb(wrote),
                                mb(r.dataBytes()), mb(delta.size()), mb(sent), rate, seconds);
                    }
                }
                vm.powerOff(Duration.ofSeconds(60));
                Path replica = standbyState.resolve("replicas").resolve(uuid.toString()).resolve("vda")
                        .resolve("replica.qcow2");
                boolean same = Exec.run(Duration.ofMinutes(5), lab.host().tool("qemu-img").toString(), "compare", "-q",
                        replica.toString(), vm.image("vda").toString()).exitCode() == 0;
                String seen = failover(lab, vm.name() + "-replica", out);
                Result result = new Result(points, same, seen, lastLine.equals(seen));
                summary(result, out);
                return result;
            }
        } finally {
            pool.shutdownNow();
            hook.restore();
            FileTrees.deleteQuietly(work);
            FileTrees.deleteQuietly(sockets);
        }
    }

    /** Relays the shipper's progress line (bar, bytes, rate, ETA) while it runs. */
    private static void showProgress(AmirrorProcess ship, PrintStream out) throws Exception {
        String last = "";
        long deadline = System.currentTimeMillis() + 1_800_000;
        while (ship.alive() && System.currentTimeMillis() < deadline) {
            String log = ship.output();
            int at = log.lastIndexOf("\rshipping ");
            if (at >= 0) {
                String line = log.substring(at + 1).lines().findFirst().orElse("").strip();
                if (!line.equals(last)) {
                    out.print("\r  " + line + "    ");
                    out.flush();
                    last = line;
                }
            }
            Thread.sleep(500);
        }
        if (!last.isEmpty()) {
            out.println();
        }
    }

    /** Sends the primary's description of the domain, so the standby defines the replica in libvirt. */
    private static void describe(DomainReplication repl, LabDomain vm, int point, Path work, Path primaryState,
                                 String standbyAt, Identity standby, NetnsLink link) throws Exception {
        var m = new io.amirror.standby.ReplicaManifest(repl.uuid(), vm.name(), point, vm.libvirtDomain().getXMLDesc(3),
                java.util.Map.of(), java.util.Map.of(), 24, Duration.ofDays(30).toSeconds(), null);
        Path file = work.resolve("manifest.json");
        Files.write(file, m.toJson());
        try (AmirrorProcess p = AmirrorProcess.start(link.primaryNamespace(), work.resolve("describe.log"), "ship",
                "--state", primaryState.toString(), "--to", standbyAt, "--peer", standby.fingerprint(), "--manifest",
                file.toString())) {
            if (p.waitFor(120) != 0) {
                throw new IllegalStateException("describing the domain failed: " + p.output());
            }
        }
    }

    /**
     * The primary host is gone: {@code virsh start} of the replica on the standby side (the hook
     * promotes it), then the replica guest's last log line. The replica domain is removed after.
     */
    private static String failover(Lab lab, String replicaName, PrintStream out) throws Exception {
        org.libvirt.Domain replica = null;
        for (int i = 0; i < 300 && replica == null; i++) {
            try {
                replica = lab.libvirt().domainLookupByName(replicaName);
            } catch (org.libvirt.LibvirtException notYet) {
                Thread.sleep(100);
            }
        }
        if (replica == null) {
            throw new IllegalStateException("the standby did not define " + replicaName + " within 30 s");
        }
        out.printf("%nfailover: the primary is gone; on the standby: virsh start %s%n", replicaName);
        try {
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
        } finally {
            try {
                if (replica.isActive() == 1) {
                    replica.destroy();
                }
                replica.undefine();
            } catch (org.libvirt.LibvirtException e) {
                out.println("demo: could not remove " + replicaName + ": " + e.getMessage());
            }
        }
    }

    /** The host's libvirt hook settings while the demo runs, put back afterwards. */
    private record HookSettings(java.util.Optional<byte[]> conf, boolean hadScript) {
        static HookSettings install(Lab lab, Path work) throws Exception {
            Path script = io.amirror.libvirt.LibvirtHook.HOOKS_DIR.resolve("qemu.d").resolve("amirror");
            HookSettings saved = new HookSettings(Files.exists(io.amirror.libvirt.LibvirtHook.CONF)
                    ? java.util.Optional.of(Files.readAllBytes(io.amirror.libvirt.LibvirtHook.CONF))
                    : java.util.Optional.empty(), Files.exists(script));
            var installed = io.amirror.libvirt.LibvirtHook.install(io.amirror.libvirt.LibvirtHook.HOOKS_DIR,
                    io.amirror.libvirt.LibvirtHook.CONF, work.resolve("primary"), AmirrorProcess.launcher(work.resolve("amirror")));
            if (installed.restartLibvirtd()) {
                lab.restartLibvirtd(); // libvirtd looks for hooks when it starts
            }
            return saved;
        }

        void restore() throws java.io.IOException {
            if (!hadScript) {
                Files.deleteIfExists(io.amirror.libvirt.LibvirtHook.HOOKS_DIR.resolve("qemu.d").resolve("amirror"));
            }
            if (conf.isPresent()) {
                Files.write(io.amirror.libvirt.LibvirtHook.CONF, conf.get());
            } else {
                Files.deleteIfExists(io.amirror.libvirt.LibvirtHook.CONF);
            }
        }
    }

    private static long sectorsWritten(GuestConsole c) {
        String[] f = c.check("cat /sys/block/vda/stat").trim().split("\\s+");
        return Long.parseLong(f[6]);
    }

    static String mb(long bytes) {
        return String.format("%.2f MB", bytes / 1e6);
    }

    static void summary(Result r, PrintStream out) {
        out.println();
        out.printf("guest wrote %s in all; %s of deltas crossed the link: %.1f %% of what the guest wrote%n", mb(r.guestWrote()),
                mb(r.wire()), 100.0 * r.wire() / Math.max(1, r.guestWrote()));
        List<Point> office = r.points().subList(1, r.points().size());
        if (!office.isEmpty()) {
            out.printf("office days alone: guest wrote %s, %s on the 1 Mbit/s link (%.1f %%); worst capture-to-ack %.1f s%n",
                    mb(office.stream().mapToLong(Point::guestWrote).sum()), mb(office.stream().mapToLong(Point::onWire).sum()),
                    100.0 * office.stream().mapToLong(Point::onWire).sum()
                            / Math.max(1, office.stream().mapToLong(Point::guestWrote).sum()),
                    office.stream().mapToDouble(Point::secondsToAck).max().orElse(0));
        }
        out.println("replica identical to the guest's disk at the last point: " + (r.identical() ? "yes" : "NO"));
        if (r.failover() != null) {
            out.println("after virsh start on the standby, the guest's data is there: " + (r.failoverMatches() ? "yes" : "NO"));
        }
    }
}
