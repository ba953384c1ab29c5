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
 * and the replica is compared with its disk byte for byte.
 */
public final class ReplicationDemo {

    /** One replicated point. */
    public record Point(int point, String what, long guestWrote, long captured, long delta, long onWire,
                        double secondsToAck, String link) {
    }

    public record Result(List<Point> points, boolean identical) {
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
        Path work = Files.createTempDirectory("amirror-demo-");
        ExecutorService pool = Executors.newFixedThreadPool(2);
        long size = 256L << 20;
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
            String standbyAt = link.standbyAddress() + ":10809";
            try (AmirrorProcess standbyProc = AmirrorProcess.start(link.standbyNamespace(), work.resolve("standby.log"),
                    "standby", "--state", standbyState.toString(), "--listen", standbyAt, "--peer", primary.fingerprint())
                    .awaitLog("standby listening", 60_000)) {
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
                    office.unmount();
                    long wrote = (sectorsWritten(c) - before) * 512;
                    long t0 = System.nanoTime();
                    DomainReplication.Captured cap = repl.capture(new XzBlockCodec.Preset(day == 1 ? 6 : 9, day != 1));
                    CaptureResult r = cap.capture();
                    Spool.Entry delta = cap.deltas().get(0).entry();
                    try (AmirrorProcess ship = AmirrorProcess.start(link.primaryNamespace(),
                            work.resolve("ship-" + day + ".log"), "ship", "--state", primaryState.toString(), "--to",
                            standbyAt, "--peer", standby.fingerprint(), "--rate", rate, delta.file().toString())) {
                        if (ship.waitFor(1800) != 0) {
                            throw new IllegalStateException("shipping point " + r.newPoint() + " failed: " + ship.output());
                        }
                        Matcher m = SHIPPED.matcher(ship.output());
                        long sent = m.find() ? Long.parseLong(m.group(2)) : delta.size();
                        double seconds = (System.nanoTime() - t0) / 1e9;
                        repl.acknowledged(cap);
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
                Result result = new Result(points, same);
                summary(result, out);
                return result;
            }
        } finally {
            pool.shutdownNow();
            FileTrees.deleteQuietly(work);
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
    }
}
