package io.amirror.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.amirror.util.HostPort;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * How {@code amirror standby} runs ({@code standby.schema.json}): the file, with the command line's
 * options over it. The command line is turned into the same JSON fields and checked by the same
 * schema, so a bad {@code --peer} gets the same error and fix as a bad entry in the file.
 *
 * <p>Beyond the schema, a standby must listen somewhere and trust at least one primary; a file may
 * leave either to the command line, so that is checked on the merged result.
 */
public record StandbyConfig(Path stateDir, InetSocketAddress listen, String listenText, List<String> peers, Path ca,
                            String libvirtUri, boolean defineReplicas, String replicaSuffix, Path socketDir, int keep,
                            int keepDays, ReplicaLimits replicaLimits, List<Tenant> tenants, int immutableDays,
                            long maxDiskBytes, DrillPlan drills, boolean switchoverAllowed,
                            InetSocketAddress metricsListen) {

    /** The largest disk a replica may have unless the configuration says otherwise: 16 TiB. */
    public static final long DEFAULT_MAX_DISK_BYTES = 16L << 40;

    /**
     * A primary (or several, sharing a key or a CA subject) and the replicas it may change: by
     * domain UUID, or by a name pattern ({@code *} and {@code ?}) that the domain's description must
     * match. A UUID a tenant lists is reserved for it; any other UUID belongs to the peer that
     * first sends for it.
     */
    public record Tenant(String name, List<String> peers, List<String> subjects, List<String> domains) {
        public Tenant {
            peers = List.copyOf(peers);
            subjects = List.copyOf(subjects);
            domains = List.copyOf(domains);
        }

        static Tenant of(JsonNode t) {
            List<String> peers = new ArrayList<>();
            t.path("peers").forEach(p -> peers.add(p.asText()));
            List<String> subjects = new ArrayList<>();
            t.path("subjects").forEach(p -> subjects.add(p.asText()));
            List<String> domains = new ArrayList<>();
            t.path("domains").forEach(p -> domains.add(p.asText()));
            return new Tenant(t.path("name").asText(), peers, subjects, domains);
        }
    }

    /**
     * What a replica domain's definition may use beyond what the standby always makes safe (the
     * {@code replicas} section): the standby's libvirt networks and bridges a replica's NIC may
     * join, the directories a direct-boot kernel or initrd may come from (none by default), the
     * emulator (null: libvirt's default) and the OVMF directory. A primary's XML never widens these.
     */
    public record ReplicaLimits(List<String> networks, List<String> bridges, List<Path> kernelDirs, Path emulator,
                                Path firmwareDir) {
        public static final ReplicaLimits NONE = new ReplicaLimits(List.of(), List.of(), List.of(), null,
                Path.of("/usr/share/OVMF"));

        public ReplicaLimits {
            networks = List.copyOf(networks);
            bridges = List.copyOf(bridges);
            kernelDirs = List.copyOf(kernelDirs);
        }

        static ReplicaLimits of(JsonNode replicas) {
            List<String> networks = new ArrayList<>();
            replicas.path("networks").forEach(n -> networks.add(n.asText()));
            List<String> bridges = new ArrayList<>();
            replicas.path("bridges").forEach(n -> bridges.add(n.asText()));
            List<Path> kernels = new ArrayList<>();
            replicas.path("kernelDirs").forEach(n -> kernels.add(Path.of(n.asText())));
            return new ReplicaLimits(networks, bridges, kernels,
                    replicas.has("emulator") ? Path.of(replicas.get("emulator").asText()) : null,
                    Path.of(replicas.path("firmwareDir").asText(NONE.firmwareDir().toString())));
        }
    }

    public StandbyConfig {
        drills = drills == null ? DrillPlan.NONE : drills;
        replicaLimits = replicaLimits == null ? ReplicaLimits.NONE : replicaLimits;
        tenants = tenants == null ? List.of() : List.copyOf(tenants);
        maxDiskBytes = maxDiskBytes <= 0 ? DEFAULT_MAX_DISK_BYTES : maxDiskBytes;
    }

    /** A configuration that takes no switchover. */
    public StandbyConfig(Path stateDir, InetSocketAddress listen, String listenText, List<String> peers, Path ca,
                         String libvirtUri, boolean defineReplicas, String replicaSuffix, Path socketDir, int keep,
                         int keepDays, ReplicaLimits replicaLimits, List<Tenant> tenants, int immutableDays,
                         long maxDiskBytes, DrillPlan drills) {
        this(stateDir, listen, listenText, peers, ca, libvirtUri, defineReplicas, replicaSuffix, socketDir, keep, keepDays,
                replicaLimits, tenants, immutableDays, maxDiskBytes, drills, false, null);
    }

    /** A configuration without scheduled drills. */
    public StandbyConfig(Path stateDir, InetSocketAddress listen, String listenText, List<String> peers, Path ca,
                         String libvirtUri, boolean defineReplicas, String replicaSuffix, Path socketDir, int keep,
                         int keepDays, ReplicaLimits replicaLimits, List<Tenant> tenants, int immutableDays,
                         long maxDiskBytes) {
        this(stateDir, listen, listenText, peers, ca, libvirtUri, defineReplicas, replicaSuffix, socketDir, keep, keepDays,
                replicaLimits, tenants, immutableDays, maxDiskBytes, DrillPlan.NONE);
    }

    /** A configuration without tenants, immutable points or a disk size limit of its own. */
    public StandbyConfig(Path stateDir, InetSocketAddress listen, String listenText, List<String> peers, Path ca,
                         String libvirtUri, boolean defineReplicas, String replicaSuffix, Path socketDir, int keep,
                         int keepDays, ReplicaLimits replicaLimits) {
        this(stateDir, listen, listenText, peers, ca, libvirtUri, defineReplicas, replicaSuffix, socketDir, keep, keepDays,
                replicaLimits, List.of(), 0, DEFAULT_MAX_DISK_BYTES);
    }

    /** Every pinned fingerprint: the {@code peers}, and the tenants' own. */
    public List<String> trustedPeers() {
        List<String> all = new ArrayList<>(peers);
        for (Tenant t : tenants) {
            t.peers().stream().filter(p -> !all.contains(p)).forEach(all::add);
        }
        return List.copyOf(all);
    }

    /** A configuration whose replicas may use nothing beyond what is always safe ({@link ReplicaLimits#NONE}). */
    public StandbyConfig(Path stateDir, InetSocketAddress listen, String listenText, List<String> peers, Path ca,
                         String libvirtUri, boolean defineReplicas, String replicaSuffix, Path socketDir, int keep,
                         int keepDays) {
        this(stateDir, listen, listenText, peers, ca, libvirtUri, defineReplicas, replicaSuffix, socketDir, keep, keepDays,
                ReplicaLimits.NONE, List.of(), 0, DEFAULT_MAX_DISK_BYTES);
    }

    public static final Path DEFAULT_FILE = Path.of("/etc/amirror/standby.json");
    static final String COMMAND_LINE = "the command line";

    public Duration keepAge() {
        return Duration.ofDays(keepDays);
    }

    /** The replica sockets' directory: the configured one, or STATE/sockets. */
    public Path socketDirOrDefault() {
        return socketDir != null ? socketDir : stateDir.resolve("sockets");
    }

    /** A fresh object for command-line overrides, in the file's field names. */
    public static ObjectNode overrides() {
        return JsonNodeFactory.instance.objectNode();
    }

    /**
     * Reads {@code file} (a missing default file is empty, a missing named file is an error), lays
     * {@code overrides} over it ({@code peers} are added, objects merged, the rest replaced), and
     * checks the result.
     */
    public static StandbyConfig load(Path file, boolean mustExist, ObjectNode overrides) throws ConfigException {
        JsonNode fromFile = !Files.exists(file) && !mustExist ? overrides()
                : PolicyLoader.readJson(PolicyLoader.readFile(file), file.toString());
        SchemaCheck schema = SchemaCheck.named(SchemaCheck.STANDBY);
        List<ConfigError> errors = schema.check(fromFile, file.toString());
        if (!errors.isEmpty()) {
            throw new ConfigException(errors);
        }
        ObjectNode merged = ((ObjectNode) fromFile).deepCopy();
        merge(merged, overrides);
        errors = schema.check(merged, COMMAND_LINE + " (over " + file + ")");
        if (!errors.isEmpty()) {
            throw new ConfigException(errors);
        }
        String where = overrides.isEmpty() ? file.toString() : file + " with " + COMMAND_LINE;
        if (!merged.has("listen")) {
            errors.add(new ConfigError(where, "/listen", "no address to listen on",
                    "add \"listen\": \"0.0.0.0:10809\" to the file, or give --listen HOST:PORT"));
        }
        List<String> peers = new ArrayList<>();
        merged.path("peers").forEach(p -> peers.add(p.asText()));
        List<Tenant> tenants = new ArrayList<>();
        merged.path("tenants").forEach(t -> tenants.add(Tenant.of(t)));
        checkTenants(tenants, where, errors);
        if (peers.isEmpty() && tenants.stream().allMatch(t -> t.peers().isEmpty()) && !merged.has("ca")) {
            errors.add(new ConfigError(where, "/peers", "no primary is trusted",
                    "add the fingerprint that 'amirror init' printed on the primary to \"peers\" (or give --peer), "
                            + "or name a CA in \"ca\""));
        }
        InetSocketAddress listen = null;
        if (merged.has("listen")) {
            try {
                listen = HostPort.parse(merged.get("listen").asText());
            } catch (IllegalArgumentException e) {
                errors.add(new ConfigError(where, "/listen", e.getMessage(), "use HOST:PORT, e.g. 0.0.0.0:10809"));
            }
        }
        InetSocketAddress metrics = null;
        if (merged.path("metrics").has("listen")) {
            try {
                metrics = HostPort.parse(merged.path("metrics").get("listen").asText());
            } catch (IllegalArgumentException e) {
                errors.add(new ConfigError(where, "/metrics/listen", e.getMessage(), "use HOST:PORT, e.g. 127.0.0.1:9751"));
            }
        }
        if (!errors.isEmpty()) {
            throw new ConfigException(errors);
        }
        JsonNode replicas = merged.path("replicas");
        JsonNode retention = merged.path("retention");
        return new StandbyConfig(Path.of(merged.path("stateDir").asText("/var/lib/amirror")), listen,
                merged.get("listen").asText(), List.copyOf(peers), merged.has("ca") ? Path.of(merged.get("ca").asText()) : null,
                merged.path("libvirtUri").asText("qemu:///system"), replicas.path("define").asBoolean(true),
                replicas.path("suffix").asText(""),
                replicas.has("socketDir") ? Path.of(replicas.get("socketDir").asText()) : null,
                retention.path("keep").asInt(24), retention.path("maxAgeDays").asInt(30), ReplicaLimits.of(replicas),
                tenants, retention.path("immutableDays").asInt(0),
                merged.path("limits").path("maxDiskBytes").asLong(DEFAULT_MAX_DISK_BYTES), DrillPlan.of(merged.path("drills")),
                merged.path("switchover").path("allow").asBoolean(false), metrics);
    }

    /** A key or subject bound to two tenants, or a tenant no peer can be, is a mistake to name now. */
    private static void checkTenants(List<Tenant> tenants, String where, List<ConfigError> errors) {
        Map<String, String> boundTo = new HashMap<>();
        for (int i = 0; i < tenants.size(); i++) {
            Tenant t = tenants.get(i);
            for (String who : concat(t.peers(), t.subjects())) {
                String other = boundTo.putIfAbsent(who, t.name());
                if (other != null) {
                    errors.add(new ConfigError(where, "/tenants/" + i, who + " is bound to tenants '" + other + "' and '"
                            + t.name() + "'", "a primary's key or subject belongs to one tenant: remove it from one"));
                }
            }
            if (tenants.stream().filter(o -> o.name().equals(t.name())).count() > 1) {
                errors.add(new ConfigError(where, "/tenants/" + i, "two tenants are named '" + t.name() + "'",
                        "give each tenant its own name"));
            }
        }
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    /**
     * Only the {@code replicas} limits of {@code file} (a missing file allows nothing beyond the
     * defaults), for the commands that define a replica outside the standby daemon.
     */
    public static ReplicaLimits replicaLimits(Path file) throws ConfigException {
        if (!Files.exists(file)) {
            return ReplicaLimits.NONE;
        }
        JsonNode fromFile = PolicyLoader.readJson(PolicyLoader.readFile(file), file.toString());
        List<ConfigError> errors = SchemaCheck.named(SchemaCheck.STANDBY).check(fromFile, file.toString());
        if (!errors.isEmpty()) {
            throw new ConfigException(errors);
        }
        return ReplicaLimits.of(fromFile.path("replicas"));
    }

    /**
     * Only {@code limits.maxDiskBytes} of {@code file} (a missing file: {@link #DEFAULT_MAX_DISK_BYTES}),
     * for the commands that fill a replica outside the standby daemon ({@code seed adopt}, {@code seed import}).
     */
    public static long maxDiskBytes(Path file) throws ConfigException {
        if (!Files.exists(file)) {
            return DEFAULT_MAX_DISK_BYTES;
        }
        JsonNode fromFile = PolicyLoader.readJson(PolicyLoader.readFile(file), file.toString());
        List<ConfigError> errors = SchemaCheck.named(SchemaCheck.STANDBY).check(fromFile, file.toString());
        if (!errors.isEmpty()) {
            throw new ConfigException(errors);
        }
        long max = fromFile.path("limits").path("maxDiskBytes").asLong(DEFAULT_MAX_DISK_BYTES);
        return max <= 0 ? DEFAULT_MAX_DISK_BYTES : max;
    }

    private static void merge(ObjectNode into, ObjectNode over) {
        Iterator<Map.Entry<String, JsonNode>> it = over.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode mine = into.get(e.getKey());
            if (e.getKey().equals("peers") && mine instanceof ArrayNode a && e.getValue() instanceof ArrayNode more) {
                more.forEach(p -> {
                    if (!contains(a, p)) {
                        a.add(p);
                    }
                });
            } else if (mine instanceof ObjectNode o && e.getValue() instanceof ObjectNode more) {
                merge(o, more);
            } else {
                into.set(e.getKey(), e.getValue().deepCopy());
            }
        }
    }

    private static boolean contains(ArrayNode a, JsonNode v) {
        for (JsonNode x : a) {
            if (x.equals(v)) {
                return true;
            }
        }
        return false;
    }

    /** One paragraph for {@code amirror standby --check} and the start-up log. */
    public String describe() {
        return "listen " + listenText + "; " + peers.size() + " pinned primar" + (peers.size() == 1 ? "y" : "ies")
                + (ca == null ? "" : " and CA " + ca) + "; state " + stateDir + "; replica domains "
                + (defineReplicas ? "defined in " + libvirtUri + (replicaSuffix.isEmpty() ? "" : " with suffix '"
                + replicaSuffix + "'") + ", NICs on " + (replicaLimits.networks().size() + replicaLimits.bridges().size())
                + " allowed networks and bridges, " + replicaLimits.kernelDirs().size() + " kernel director"
                + (replicaLimits.kernelDirs().size() == 1 ? "y" : "ies") : "not defined") + "; keep at least " + keep + " points, "
                + keepDays + " days" + (immutableDays > 0 ? ", none younger than " + immutableDays + " days deleted" : "")
                + (tenants.isEmpty() ? "" : "; " + tenants.size() + " tenant" + (tenants.size() == 1 ? "" : "s"))
                + (drills.schedules().isEmpty() ? "" : "; " + drills.schedules().size() + " drill schedule"
                + (drills.schedules().size() == 1 ? "" : "s") + ", at most " + drills.maxAtOnce() + " at once")
                + (switchoverAllowed ? "; switchovers allowed" : "")
                + (metricsListen == null ? "" : "; metrics on " + metricsListen.getHostString() + ":" + metricsListen.getPort());
    }
}
