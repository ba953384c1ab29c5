package io.amirror.drill;

import io.amirror.config.DrillPlan;
import io.amirror.image.DiskImage;
import io.amirror.standby.DrillReport;
import io.amirror.standby.ReplicaDefinition;
import io.amirror.standby.ReplicaDomain;
import io.amirror.standby.StandbyLayout;
import io.amirror.transport.ReplicaManifest;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.w3c.dom.Element;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The standby's scheduled drills ({@link DrillPlan}, its configuration's {@code drills} section).
 * Once a minute it looks at every replica: one that is defined, not promoted, has a point, is not
 * being drilled, and whose schedule's interval has passed since its last drill ended (or that was
 * never drilled) is due ({@link #due}). Due replicas start, oldest last drill first, while fewer
 * than {@code maxAtOnce} drills run and the host's available memory leaves the reserve beyond the
 * drill domain's memory; the others wait for a later look. Each drill is an ordinary
 * {@link ReplicaDrill} of the newest point at the lowest priority; a drill that could not even
 * start is tried again after its interval, not every minute.
 *
 * <p>Run beside the standby daemon by {@code amirror standby}; {@link #close} ends running drills
 * (they remove what they made).
 */
public final class DrillScheduler implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DrillScheduler.class);
    static final Duration LOOK = Duration.ofMinutes(1);
    static final Duration FIRST_LOOK = Duration.ofSeconds(20);

    /** A replica as the schedule sees it: when its last drill ended (null: never), whether one runs, its memory. */
    record Candidate(UUID uuid, String replica, String primary, Instant lastEnded, boolean drilling, long memoryMiB) {
    }

    private final DrillPlan plan;
    private final StandbyLayout layout;
    private final String libvirtUri;
    private final Path socketDir;
    private final DiskImage.Tools tools;
    private final ScheduledExecutorService clock = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "drill-schedule"));
    private final ExecutorService drills;
    private final Map<UUID, ReplicaDrill> running = new ConcurrentHashMap<>();
    private final Map<UUID, Instant> notBefore = new ConcurrentHashMap<>();
    private final Set<String> saidWaiting = ConcurrentHashMap.newKeySet();

    private DrillScheduler(DrillPlan plan, StandbyLayout layout, String libvirtUri, Path socketDir, DiskImage.Tools tools) {
        this.plan = plan;
        this.layout = layout;
        this.libvirtUri = libvirtUri;
        this.socketDir = socketDir;
        this.tools = tools;
        this.drills = Executors.newFixedThreadPool(plan.maxAtOnce(), r -> daemon(r, "drill"));
    }

    /** Starts looking once a minute; with no schedule, does nothing at all. */
    public static DrillScheduler start(DrillPlan plan, StandbyLayout layout, String libvirtUri, Path socketDir,
                                       DiskImage.Tools tools) {
        DrillScheduler s = new DrillScheduler(plan, layout, libvirtUri, socketDir, tools);
        if (!plan.schedules().isEmpty()) {
            s.clock.scheduleWithFixedDelay(s::look, FIRST_LOOK.toSeconds(), LOOK.toSeconds(), TimeUnit.SECONDS);
            log.info("scheduled drills: {} schedule(s), at most {} at once", plan.schedules().size(), plan.maxAtOnce());
        }
        return s;
    }

    /**
     * Which candidates to start now, in order: those due by their schedule (never-drilled first,
     * then the oldest last drill), at most {@code maxAtOnce} minus the drills running. Pure.
     */
    static List<Candidate> due(List<Candidate> all, DrillPlan plan, Instant now, int runningNow) {
        List<Candidate> due = new ArrayList<>();
        for (Candidate c : all) {
            Optional<DrillPlan.Schedule> s = schedule(plan, c);
            if (s.isEmpty() || c.drilling()) {
                continue;
            }
            if (c.lastEnded() == null || !c.lastEnded().plus(s.get().every()).isAfter(now)) {
                due.add(c);
            }
        }
        due.sort((a, b) -> a.lastEnded() == null ? (b.lastEnded() == null ? 0 : -1)
                : b.lastEnded() == null ? 1 : a.lastEnded().compareTo(b.lastEnded()));
        return due.subList(0, Math.max(0, Math.min(due.size(), plan.maxAtOnce() - runningNow)));
    }

    static Optional<DrillPlan.Schedule> schedule(DrillPlan plan, Candidate c) {
        return plan.schedules().stream().filter(s -> s.names(c.replica(), c.primary())).findFirst();
    }

    /** Whether the host can give a drill of {@code memoryMiB} while keeping the reserve ({@code available}: MemAvailable). */
    static boolean memoryAllows(long availableMiB, long memoryMiB, long reserveMiB) {
        return availableMiB - memoryMiB >= reserveMiB;
    }

    private void look() {
        try {
            Instant now = Instant.now();
            List<Candidate> all = new ArrayList<>();
            for (ReplicaDomain d : ReplicaDomain.all(layout.replicas(), tools)) {
                Optional<Candidate> c = candidate(d, now);
                c.ifPresent(all::add);
            }
            for (Candidate c : due(all, plan, now, running.size())) {
                long available = availableMiB();
                if (!memoryAllows(available, c.memoryMiB(), plan.memoryReserveMiB())) {
                    if (saidWaiting.add(c.replica())) {
                        log.info("drill of {} waits: {} MiB available, its domain needs {} MiB and {} MiB stay free",
                                c.replica(), available, c.memoryMiB(), plan.memoryReserveMiB());
                    }
                    continue;
                }
                saidWaiting.remove(c.replica());
                start(c);
            }
        } catch (IOException | RuntimeException e) {
            log.error("scheduled drills: {}", e.getMessage());
        }
    }

    private Optional<Candidate> candidate(ReplicaDomain d, Instant now) throws IOException {
        Optional<String> name = d.definedName();
        Optional<String> xml = d.definedXml();
        if (name.isEmpty() || xml.isEmpty() || d.promoted().isPresent() || d.starting().isPresent()
                || notBefore.getOrDefault(d.uuid(), Instant.MIN).isAfter(now)) {
            return Optional.empty();
        }
        for (String disk : d.diskNames()) {
            if (d.disk(disk).points().isEmpty()) {
                return Optional.empty();
            }
        }
        Instant last = d.lastDrill().map(DrillReport::endedAt).map(Instant::parse).orElse(null);
        return Optional.of(new Candidate(d.uuid(), name.get(), d.manifest().map(ReplicaManifest::name).orElse(null), last,
                running.containsKey(d.uuid()) || d.drillPin().isPresent(), memoryMiB(xml.get())));
    }

    private void start(Candidate c) throws IOException {
        DrillPlan.Schedule s = schedule(plan, c).orElseThrow();
        ReplicaDomain d = new ReplicaDomain(layout.replicas(), c.uuid(), tools);
        ReplicaDrill drill = new ReplicaDrill(d, layout, libvirtUri, socketDir, tools, line -> log.info("{}", line));
        running.put(c.uuid(), drill);
        log.info("scheduled drill of {} (every {}; last {})", c.replica(), s.every(),
                c.lastEnded() == null ? "never" : c.lastEnded());
        drills.submit(() -> {
            try {
                DrillReport r = drill.run(new ReplicaDrill.Request(null, s.network(), s.checks(), s.timeout(), Duration.ZERO,
                        s.settle(), true));
                log.info("scheduled drill of {} at point {}: {}: {}", c.replica(), r.point(), r.passed() ? "passed" : "FAILED",
                        r.summary());
            } catch (Exception e) {
                notBefore.put(c.uuid(), Instant.now().plus(s.every()));
                log.error("scheduled drill of {} did not run: {}; next try in {}", c.replica(), e.getMessage(), s.every());
            } finally {
                running.remove(c.uuid());
            }
        });
    }

    /** The domain's memory in MiB from its {@code <memory>} (KiB unless a unit says otherwise). */
    static long memoryMiB(String domainXml) {
        try {
            Element m = ReplicaDefinition.child(ReplicaDefinition.parse(domainXml).getDocumentElement(), "memory");
            if (m == null) {
                return 0;
            }
            long n = Long.parseLong(m.getTextContent().strip());
            String unit = m.getAttribute("unit").isEmpty() ? "KiB" : m.getAttribute("unit");
            return switch (unit) {
                case "b", "bytes" -> n >> 20;
                case "k", "KiB" -> n >> 10;
                case "KB" -> n * 1000 >> 20;
                case "M", "MiB" -> n;
                case "MB" -> n * 1_000_000 >> 20;
                case "G", "GiB" -> n << 10;
                case "GB" -> n * 1_000_000_000L >> 20;
                default -> n >> 10;
            };
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
    }

    private static long availableMiB() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
            if (line.startsWith("MemAvailable:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) >> 10;
            }
        }
        return Long.MAX_VALUE >> 1;
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    @Override
    public void close() {
        clock.shutdownNow();
        running.values().forEach(ReplicaDrill::abort);
        drills.shutdown();
        try {
            drills.awaitTermination(2, TimeUnit.MINUTES);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
