package io.amirror.drill;

import io.amirror.image.DeviceState;
import io.amirror.image.DiskImage;
import io.amirror.image.StateArchive;
import io.amirror.nbd.NbdAddress;
import io.amirror.nbd.QemuNbd;
import io.amirror.standby.DrillReport;
import io.amirror.standby.GuestUp;
import io.amirror.standby.ReplicaDisk;
import io.amirror.standby.ReplicaDomain;
import io.amirror.standby.StandbyLayout;
import io.amirror.transport.ReplicaManifest;
import io.amirror.util.Exec;
import io.amirror.util.PrivateFiles;
import io.amirror.util.ShellText;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;
import org.libvirt.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Map.Entry;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;

/**
 * {@code amirror drill}: boots a replica's recovery point aside, checks it, and leaves nothing behind.
 *
 * <p>Algorithm:
 * <ol>
 *   <li>sweep what killed drills left ({@link DrillWorkspace#sweep});</li>
 *   <li>under the replica's lock, briefly: choose the point (the newest, or the admin's), pin it
 *       ({@link ReplicaDomain#pinForDrill}: no pruning drops it while the drill runs), make the
 *       drill's directory and undo record, and copy the point's NVRAM and TPM state out of its
 *       pseudo-disks (to the drill's directory and to the swtpm directory of the drill's UUID);</li>
 *   <li>without the lock, so the standby goes on applying points: export each disk's snapshot of
 *       the point read-only with {@code qemu-nbd} ({@link QemuNbd.Options#snapshotBesideWriters}:
 *       a writer of the image's current state never changes a snapshot's clusters) and lay a
 *       thin qcow2 overlay over each export, which takes every write the drill's guest makes;</li>
 *   <li>make an isolated network if asked, start a transient domain built by
 *       {@link DrillDefinition} from the standby's own definition of the replica;</li>
 *   <li>wait for its agent and run the checks ({@link GuestUp}); a guest without an agent gets a
 *       screenshot (or its serial log's tail) as evidence after a settling time;</li>
 *   <li>keep it running if asked, then undo everything ({@link DrillWorkspace#undo}) and record
 *       the report in the replica's directory.</li>
 * </ol>
 *
 * <p>Callers: one drill per replica at a time (the pin says which); {@link #abort} from another
 * thread (a shutdown hook) ends a drill under way and removes what it made.
 */
public final class ReplicaDrill {
    private static final Logger log = LoggerFactory.getLogger(ReplicaDrill.class);
    /** How long a drill waits for the replica's lock, which a transfer holds while it runs. */
    static final Duration LOCK_WAIT = Duration.ofMinutes(30);
    static final int SERIAL_TAIL = 2048;

    /**
     * What to drill and how: the point (null: the newest every disk keeps), the network
     * ({@code isolated}, {@code none} or a libvirt network's name), the checks (empty: the policy's
     * boot check), the time the guest has to come up, how long to keep it running afterwards, how
     * long a guest without an agent must run, and whether its QEMU runs at the lowest CPU and I/O
     * priority (a scheduled drill: the standby's own work comes first).
     */
    public record Request(Integer point, String network, List<List<String>> checks, Duration timeout, Duration keep,
                          Duration settle, boolean lowPriority) {
        public Request {
            checks = checks.stream().map(List::copyOf).toList();
            if (checks.stream().anyMatch(List::isEmpty)) {
                throw new IllegalArgumentException("an empty check");
            }
            if (!network.equals("isolated") && !network.equals("none") && !network.matches("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")) {
                throw new IllegalArgumentException("not a network name: " + ShellText.printable(network));
            }
        }
    }

    private final ReplicaDomain replica;
    private final StandbyLayout layout;
    private final String libvirtUri;
    private final Path socketDir;
    private final DiskImage.Tools tools;
    private final Consumer<String> say;
    private final Path swtpmRoot;
    private final List<QemuNbd> exports = new ArrayList<>();
    private volatile DrillWorkspace workspace;
    private volatile boolean aborted;

    public ReplicaDrill(ReplicaDomain replica, StandbyLayout layout, String libvirtUri, Path socketDir,
                        DiskImage.Tools tools, Consumer<String> say) {
        this(replica, layout, libvirtUri, socketDir, tools, say, DeviceState.SWTPM_ROOT);
    }

    ReplicaDrill(ReplicaDomain replica, StandbyLayout layout, String libvirtUri, Path socketDir, DiskImage.Tools tools,
                 Consumer<String> say, Path swtpmRoot) {
        this.replica = replica;
        this.layout = layout;
        this.libvirtUri = libvirtUri;
        this.socketDir = socketDir;
        this.tools = tools;
        this.say = say;
        this.swtpmRoot = swtpmRoot;
    }

    /** Removes what drills that were killed left behind; the ids swept. */
    public static List<String> sweep(StandbyLayout layout, String libvirtUri) throws IOException {
        return DrillWorkspace.sweep(layout, libvirtUri, DeviceState.SWTPM_ROOT);
    }

    /** Runs the drill to its end (or its abort); the report is also the replica's last drill. */
    public DrillReport run(Request r) throws IOException, LibvirtException {
        sweep(layout, libvirtUri);
        String replicaName = replica.definedName().orElseThrow(() -> new IllegalStateException("the replica of "
                + replica.uuid() + " was never defined in libvirt: a drill boots the replica domain's definition"));
        String replicaXml = replica.definedXml().orElseThrow();
        if (replica.promoted().isPresent()) {
            throw new IllegalStateException(replicaName + " was started as the domain at point "
                    + replica.promoted().get().point() + ": there is no replica left to drill");
        }
        String id = HexFormat.of().formatHex(randomBytes(4));
        String name = replicaName + "-drill";
        UUID uuid = UUID.randomUUID();
        String network = r.network().equals("isolated") ? "amirror-drill-" + id : null;
        refuseTakenName(name);
        int point;
        String cutAt;
        Map<String, ReplicaDisk.Point> disks = new LinkedHashMap<>();
        Path nvram = null;
        Instant startedAt = null;
        Double bootSeconds = null;
        List<DrillReport.Check> checks = new ArrayList<>();
        String evidence = null;
        String summary;
        boolean passed = false;
        try (ReplicaDomain.Lock lock = replica.tryLock("drill " + id, LOCK_WAIT).orElseThrow(() -> new IOException(
                "the replica's lock was held for " + LOCK_WAIT.toMinutes() + " minutes (" + replica.lockHolder() + ")"))) {
            point = r.point() != null ? r.point() : newestPoint();
            replica.pinForDrill(id, point);
            workspace = DrillWorkspace.create(layout, new DrillWorkspace.Undo(id, replica.uuid(), name, uuid, network, List.of()));
            cutAt = null;
            for (String disk : replica.diskNames()) {
                ReplicaDisk.Point p = replica.disk(disk).points().stream().filter(x -> x.point() == point).findFirst()
                        .orElseThrow();
                cutAt = cutAt != null ? cutAt : p.cutAt();
                if (disk.equals(DeviceState.NVRAM)) {
                    nvram = workspace.dir().resolve("nvram.fd");
                    Files.write(PrivateFiles.createEmpty(nvram), contents(disk, p));
                } else if (disk.equals(DeviceState.TPM)) {
                    Files.createDirectories(swtpmRoot);
                    StateArchive.writeTree(StateArchive.decode(contents(disk, p)), swtpmRoot.resolve(uuid.toString()),
                            "rwx--x--x");
                } else {
                    disks.put(disk, p);
                }
            }
        } catch (RuntimeException | IOException e) {
            if (workspace == null) {
                replica.unpinDrill(id);
            }
            throw cleanedUp(e);
        }
        say.accept(name + ": drilling " + replicaName + " at point " + point + (cutAt == null ? "" : " (cut " + cutAt + ")")
                + "; replication goes on meanwhile");
        List<String> leftovers;
        try {
            Map<String, Path> overlays = new LinkedHashMap<>();
            for (Entry<String, ReplicaDisk.Point> d : disks.entrySet()) {
                overlays.put(d.getKey(), overlay(d.getKey(), replica.disk(d.getKey()).image(), d.getValue().snapshot()));
            }
            DrillDefinition.Network net = network != null ? new DrillDefinition.Isolated(network)
                    : r.network().equals("none") ? new DrillDefinition.NoNetwork() : new DrillDefinition.Named(r.network());
            String xml = DrillDefinition.of(replicaXml, new DrillDefinition.Plan(name, uuid, overlays, nvram, net, socketDir,
                    workspace.dir()));
            Connect c = new Connect(libvirtUri);
            try {
                if (network != null) {
                    c.networkCreateXML(isolatedNetwork(network, id));
                }
                checkNotAborted();
                Domain dom = c.domainCreateXML(xml, 0);
                startedAt = Instant.now();
                if (r.lowPriority()) {
                    lowerPriority(name);
                }
                say.accept(name + ": started on " + describe(net));
                List<List<String>> wanted = r.checks().isEmpty()
                        ? replica.manifest().map(ReplicaManifest::bootCheck).map(ReplicaManifest.BootCheck::command)
                        .filter(cmd -> !cmd.isEmpty()).map(List::of).orElse(List.of())
                        : r.checks();
                if (GuestUp.hasAgentChannel(dom)) {
                    Instant deadline = startedAt.plus(r.timeout());
                    GuestUp.Report up = GuestUp.check(dom, name, point, startedAt, wanted.isEmpty() ? List.of() : wanted.get(0),
                            r.timeout(), say);
                    bootSeconds = up.agentSeconds();
                    if (!wanted.isEmpty() && up.agentSeconds() != null) {
                        checks.add(check(up));
                        for (List<String> cmd : wanted.subList(1, wanted.size())) {
                            Duration left = Duration.between(Instant.now(), deadline);
                            checks.add(check(GuestUp.check(dom, name, point, Instant.now(), cmd,
                                    left.isNegative() ? Duration.ofSeconds(1) : left, say)));
                        }
                    }
                    passed = up.agentSeconds() != null && checks.stream().allMatch(DrillReport.Check::passed);
                    summary = up.agentSeconds() == null ? up.summary()
                            : String.format("up: the guest agent answered %.0f s after the start", up.agentSeconds())
                            + (checks.isEmpty() ? "" : checks.stream().allMatch(DrillReport.Check::passed)
                            ? ", " + checks.size() + (checks.size() == 1 ? " check" : " checks") + " passed"
                            : ", failed: " + checks.stream().filter(x -> !x.passed()).findFirst().orElseThrow().summary());
                } else {
                    say.accept(name + ": no guest agent channel; watching it run for " + r.settle().toSeconds() + " s");
                    boolean running = runsFor(dom, r.settle());
                    evidence = evidence(c, dom, name);
                    passed = running && wanted.isEmpty();
                    summary = !running ? "the guest stopped within " + r.settle().toSeconds() + " s of its start"
                            : wanted.isEmpty() ? "running after " + r.settle().toSeconds() + " s; no agent, so the evidence is "
                            + (evidence.startsWith("screenshot ") ? "a screenshot" : "its serial log")
                            : "the checks cannot run: the guest has no agent channel";
                }
                say.accept(name + ": " + summary);
                if (!r.keep().isZero() && !aborted) {
                    say.accept(name + ": kept running for " + r.keep().toSeconds() + " s (virsh console " + name
                            + "; Ctrl-C ends the drill now)");
                    sleepUnlessAborted(r.keep());
                }
            } finally {
                c.close();
            }
        } catch (RuntimeException | IOException | LibvirtException e) {
            summary = "the drill failed: " + e.getMessage();
            log.error("{}: {}", name, summary);
            passed = false;
        } finally {
            leftovers = undo();
        }
        if (aborted) {
            summary = "interrupted; " + summary;
            passed = false;
        }
        DrillReport report = new DrillReport(id, replicaName, replica.uuid().toString(), point, cutAt, name,
                network != null ? "isolated " + network : r.network().equals("none") ? "none" : "network " + r.network(),
                startedAt == null ? null : startedAt.toString(), Instant.now().toString(), bootSeconds, checks, evidence,
                passed && leftovers.isEmpty(), summary + (leftovers.isEmpty() ? "" : "; left behind: "
                + String.join("; ", leftovers)), leftovers);
        replica.recordDrill(report);
        say.accept(name + ": " + (leftovers.isEmpty() ? "removed: domain, overlays, state copies"
                + (network != null ? ", network" : "") : "NOT all removed: " + String.join("; ", leftovers)));
        return report;
    }

    /** Ends a drill under way from another thread and removes what it made; the drill's run then returns. */
    public void abort() {
        aborted = true;
        undo();
    }

    private synchronized List<String> undo() {
        for (QemuNbd q : exports) {
            q.close();
        }
        exports.clear();
        DrillWorkspace w = workspace;
        if (w == null) {
            return List.of();
        }
        List<String> left = w.undo(libvirtUri, layout.replicas(), swtpmRoot);
        try {
            w.close();
        } catch (IOException e) {
            // the lock goes with the process anyway
        }
        return left;
    }

    private RuntimeException cleanedUp(Exception e) {
        undo();
        return e instanceof RuntimeException re ? re : new IllegalStateException(e.getMessage(), e);
    }

    private void checkNotAborted() {
        if (aborted) {
            throw new IllegalStateException("interrupted");
        }
    }

    /** The newest point every disk keeps. */
    private int newestPoint() throws IOException {
        Integer best = null;
        for (String disk : replica.diskNames()) {
            int newest = replica.disk(disk).points().stream().mapToInt(ReplicaDisk.Point::point).max()
                    .orElseThrow(() -> new IllegalStateException("disk " + disk + " keeps no point yet"));
            best = best == null ? newest : Math.min(best, newest);
        }
        if (best == null) {
            throw new IllegalStateException("the replica holds no disk yet");
        }
        return best;
    }

    private void refuseTakenName(String name) throws LibvirtException {
        Connect c = new Connect(libvirtUri);
        try {
            c.domainLookupByName(name);
            throw new IllegalStateException("a domain named " + name + " exists already in " + libvirtUri
                    + ": a drill under way, or someone else's; a drill does not touch it");
        } catch (LibvirtException free) {
            // as it should be
        } finally {
            c.close();
        }
    }

    /** Pseudo-disk {@code disk}'s bytes at point {@code p} (under the replica's lock: no writer meanwhile). */
    private byte[] contents(String disk, ReplicaDisk.Point p) throws IOException {
        try (DiskImage img = DiskImage.openSnapshot(replica.disk(disk).image(), p.snapshot(), tools);
             InputStream in = img.stream()) {
            if (img.size() > 64L * StateArchive.UNIT) {
                throw new IOException("the " + disk + " replica is " + img.size() + " bytes, beyond what device state may be");
            }
            return in.readAllBytes();
        }
    }

    /** Exports {@code snapshot} of {@code image} and lays the drill's overlay over it. */
    private Path overlay(String disk, Path image, String snapshot) throws IOException {
        Path sock = workspace.dir().resolve(disk + ".sock");
        QemuNbd nbd = QemuNbd.start(tools.qemuNbd(), image, NbdAddress.unix(sock, ""),
                QemuNbd.Options.snapshotBesideWriters("qcow2", snapshot), Duration.ofSeconds(30));
        exports.add(nbd);
        workspace.recordNbd(nbd.pid());
        // QEMU, as its own user, connects to the socket
        PrivateFiles.qemuGroup(sock.getFileSystem()).ifPresent(g -> {
            try {
                Files.getFileAttributeView(sock, java.nio.file.attribute.PosixFileAttributeView.class).setGroup(g);
            } catch (IOException e) {
                throw new IllegalStateException("cannot give " + sock + " to QEMU's group: " + e.getMessage(), e);
            }
        });
        Files.setPosixFilePermissions(sock, PosixFilePermissions.fromString(
                PrivateFiles.qemuGroup(sock.getFileSystem()).isPresent() ? "rw-rw----" : "rw-rw-rw-"));
        Path overlay = PrivateFiles.createEmpty(workspace.dir().resolve(disk + ".qcow2"));
        Exec.run(List.of(tools.qemuImg().toString(), "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                nbd.address().toString(), overlay.toString()), null, Map.of(), Duration.ofMinutes(1)).orThrow();
        return overlay;
    }

    /** An isolated network: a bridge of its own, no forward (no uplink), no address, no DHCP. */
    static String isolatedNetwork(String name, String id) {
        return "<network><name>" + name + "</name><bridge name='amd" + id + "' stp='on' delay='0'/></network>";
    }

    private static String describe(DrillDefinition.Network n) {
        if (n instanceof DrillDefinition.Isolated i) {
            return "its own isolated network " + i.name();
        }
        return n instanceof DrillDefinition.Named m ? "network " + m.name() : "no network";
    }

    /** The drill's QEMU at nice 19 and the idle I/O class, so that a scheduled drill yields to the standby's work. */
    private static void lowerPriority(String domain) {
        try {
            String pid = Files.readString(Path.of("/run/libvirt/qemu", domain + ".pid")).strip();
            if (!pid.matches("[0-9]{1,10}")) {
                return;
            }
            Exec.run(Duration.ofSeconds(10), "renice", "-n", "19", "-p", pid);
            Exec.run(Duration.ofSeconds(10), "ionice", "-c", "3", "-p", pid);
        } catch (IOException | RuntimeException e) {
            log.warn("{}: its priority was not lowered: {}", domain, e.getMessage());
        }
    }

    private static DrillReport.Check check(GuestUp.Report r) {
        return new DrillReport.Check(r.command(), r.exitCode(), r.output(), r.passed(), r.summary());
    }

    private boolean runsFor(Domain dom, Duration d) throws LibvirtException {
        Instant end = Instant.now().plus(d);
        while (Instant.now().isBefore(end) && !aborted) {
            if (dom.isActive() != 1) {
                return false;
            }
            sleepUnlessAborted(Duration.ofSeconds(1));
        }
        return dom.isActive() == 1;
    }

    /** A screenshot in the replica's directory, or the drill's serial log's tail when the guest has no display. */
    private String evidence(Connect c, Domain dom, String name) throws IOException {
        Path shot = replica.directory().resolve("drill-screenshot.ppm");
        try {
            Stream st = c.streamNew(0);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            dom.screenshot(st, 0);
            byte[] buf = new byte[64 * 1024];
            int n;
            while ((n = st.receive(buf)) > 0) {
                out.write(buf, 0, n);
            }
            st.finish();
            Files.write(PrivateFiles.createEmpty(shot), out.toByteArray());
            return "screenshot " + shot;
        } catch (LibvirtException noDisplay) {
            log.info("{}: no screenshot ({}); the serial log is the evidence", name, noDisplay.getMessage());
        }
        Path serial = workspace.dir().resolve("serial0.log");
        if (!Files.isRegularFile(serial)) {
            return "no screenshot and no serial log";
        }
        byte[] b = Files.readAllBytes(serial);
        String tail = new String(b, Math.max(0, b.length - SERIAL_TAIL), Math.min(b.length, SERIAL_TAIL),
                StandardCharsets.UTF_8).replaceAll("[^\\x20-\\x7e\\n\\t]", "?");
        return "serial log tail:\n" + tail;
    }

    private void sleepUnlessAborted(Duration d) {
        Instant end = Instant.now().plus(d);
        while (!aborted && Instant.now().isBefore(end)) {
            try {
                Thread.sleep(Math.min(500, Math.max(1, Duration.between(Instant.now(), end).toMillis())));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                aborted = true;
            }
        }
    }

    private static byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        ThreadLocalRandom.current().nextBytes(b);
        return b;
    }
}
