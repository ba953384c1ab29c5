package io.amirror.standby;

import io.amirror.config.StandbyConfig;
import io.amirror.config.StandbyConfig.Tenant;
import io.amirror.delta.ReplicaHashMap;
import io.amirror.spool.Spool;
import io.amirror.transport.Identity;
import io.amirror.transport.ReplicaManifest;
import io.amirror.transport.Sender;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.util.FileDigest;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;

import static io.amirror.standby.LoopbackStandby.DOM;
import static io.amirror.standby.LoopbackStandby.UNLIMITED;
import static io.amirror.standby.LoopbackStandby.entry;
import static io.amirror.standby.LoopbackStandby.local;
import static io.amirror.standby.LoopbackStandby.replicas;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two pinned primaries on one standby, over real TLS: each may change only its own replicas. A
 * tenant's request for the other's replica (a delta, a description, a verify, a seed query) is
 * refused and changes nothing; a UUID the configuration gives one tenant is the other's to touch
 * never; names follow the tenants' patterns and are unique on the standby.
 */
@Tag("real")
class StandbyTenancyTest {
    private static final UUID OTHER = UUID.fromString("0b7d5e2a-9c41-4f7e-8a3d-5c2e1f0a9b77");
    private static LoopbackStandby f;
    private static Identity second;
    private static Path otherDelta;

    @BeforeAll
    static void fixture() throws IOException {
        f = LoopbackStandby.get();
        second = Identity.loadOrCreate(f.shared.resolve("second"), "second");
        otherDelta = f.shared.resolve("other01.amd");
        if (!Files.exists(otherDelta)) {
            f.create(f.v0, f.v1, otherDelta, OTHER, 0, 1);
        }
    }

    private static StandbyConfig config(Path state, List<Tenant> tenants) {
        StandbyConfig c = f.config(state, Set.of(f.primary.fingerprint(), second.fingerprint()), null, 3, 30);
        return new StandbyConfig(c.stateDir(), c.listen(), c.listenText(), c.peers(), c.ca(), c.libvirtUri(), false, "",
                null, 3, 30, null, tenants, 0, StandbyConfig.DEFAULT_MAX_DISK_BYTES);
    }

    private static Sender as(Identity who, StandbyService s) throws IOException {
        return f.sender(who, Set.of(f.standby.fingerprint()), local(s.port()), UNLIMITED);
    }

    private static ReplicaManifest manifest(UUID uuid, String name, int point) {
        return new ReplicaManifest(uuid, name, point, "<domain type='qemu'><name>" + name + "</name></domain>", Map.of(),
                Map.of(), 5, 86400, null);
    }

    private static void refusedAsNotOwner(Executable e) {
        Sender.RefusedException x = assertThrows(Sender.RefusedException.class, e);
        assertEquals(Refuse.NOT_OWNER, x.refusal().code(), x.getMessage());
    }

    /** Everything the standby holds of {@code uuid}, file by file, to show a refused request changed nothing. */
    private static Map<String, String> snapshot(Path state, UUID uuid) throws IOException {
        Map<String, String> out = new TreeMap<>();
        Path dir = replicas(state).resolve(uuid.toString());
        if (!Files.exists(dir)) {
            return out;
        }
        try (var files = Files.walk(dir)) {
            for (Path p : files.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().equals("lock")).toList()) {
                out.put(dir.relativize(p).toString(), HexFormat.of().formatHex(FileDigest.sha256(p)));
            }
        }
        return out;
    }

    @Test
    void aSecondPrimaryCannotTouchTheReplicasTheFirstOwns(@TempDir Path state) throws Exception {
        try (StandbyService r = f.start(config(state, List.of()))) {
            Sender a = as(f.primary, r);
            Sender b = as(second, r);
            a.ship(entry(f.d01, 0, 1));
            a.describe(DOM, 1, manifest(DOM, "files", 1).toXz());
            Map<String, String> before = snapshot(state, DOM);
            refusedAsNotOwner(() -> b.ship(entry(f.d12, 1, 2)));
            refusedAsNotOwner(() -> b.ship(entry(f.d01, 0, 1)));
            refusedAsNotOwner(() -> b.describe(DOM, 1, manifest(DOM, "evil", 1).toXz()));
            refusedAsNotOwner(() -> b.verify(DOM, "vda", 1, 256, done -> {
            }));
            refusedAsNotOwner(() -> {
                try (ReplicaHashMap m = ReplicaHashMap.open(state.resolve("stolen.map"), 64 << 20)) {
                    b.seed(DOM, "vda", m);
                }
            });
            assertEquals(before, snapshot(state, DOM), "nothing of the first primary's replica changed");
            // the owner goes on as before, and the second primary has replicas of its own
            assertEquals(2, a.ship(entry(f.d12, 1, 2)).ack().point());
            assertEquals(1, b.ship(new Spool.Entry(OTHER, "vda", 0, 1, otherDelta, Files.size(otherDelta))).ack().point());
        }
        var report = ReplicaReport.of(replicas(state), f.tools, Instant.now(), null);
        assertEquals(f.primary.fingerprint(), report.stream().filter(e -> e.uuid().equals(DOM.toString())).findFirst()
                .orElseThrow().owner().fingerprint());
        assertEquals(second.fingerprint(), report.stream().filter(e -> e.uuid().equals(OTHER.toString())).findFirst()
                .orElseThrow().owner().tenant());
    }

    @Test
    void configuredTenantsHaveTheirDomainsReservedAndTheirNamesChecked(@TempDir Path state) throws Exception {
        List<Tenant> tenants = List.of(
                new Tenant("office-a", List.of(f.primary.fingerprint()), List.of(), List.of(DOM.toString())),
                new Tenant("office-b", List.of(second.fingerprint()), List.of(), List.of("web-*")));
        try (StandbyService r = f.start(config(state, tenants))) {
            Sender a = as(f.primary, r);
            Sender b = as(second, r);
            // DOM is office-a's by configuration: office-b cannot take it first
            refusedAsNotOwner(() -> b.ship(entry(f.d01, 0, 1)));
            assertEquals(Map.of(), snapshot(state, DOM), "a refused first offer leaves nothing, not even an owner");
            // office-a may replicate only the UUIDs it lists
            refusedAsNotOwner(() -> a.ship(new Spool.Entry(OTHER, "vda", 0, 1, otherDelta, Files.size(otherDelta))));
            a.ship(entry(f.d01, 0, 1));
            b.ship(new Spool.Entry(OTHER, "vda", 0, 1, otherDelta, Files.size(otherDelta)));
            // office-b's names must match web-*; and no two replicas share a name
            refusedAsNotOwner(() -> b.describe(OTHER, 1, manifest(OTHER, "files", 1).toXz()));
            b.describe(OTHER, 1, manifest(OTHER, "web-1", 1).toXz());
            Sender.RefusedException taken = assertThrows(Sender.RefusedException.class,
                    () -> a.describe(DOM, 1, manifest(DOM, "web-1", 1).toXz()));
            assertTrue(taken.getMessage().contains("taken"), taken.getMessage());
            a.describe(DOM, 1, manifest(DOM, "files", 1).toXz());
        }
        ReplicaDomain dom = new ReplicaDomain(replicas(state), DOM, f.tools);
        assertEquals("office-a", dom.owner().orElseThrow().tenant());
        assertEquals("files", dom.manifest().orElseThrow().name());
        assertEquals("office-b", new ReplicaDomain(replicas(state), OTHER, f.tools).owner().orElseThrow().tenant());
    }

    @Test
    void aReplicaOwnedByABareKeyFollowsItIntoATenantLaterConfigured(@TempDir Path state) throws Exception {
        try (StandbyService r = f.start(config(state, List.of()))) {
            as(f.primary, r).ship(entry(f.d01, 0, 1));
        }
        byte[] image = FileDigest.sha256(f.disk(state).image());
        List<Tenant> tenants = List.of(new Tenant("office-a", List.of(f.primary.fingerprint()), List.of(), List.of("*")));
        try (StandbyService r = f.start(config(state, tenants))) {
            refusedAsNotOwner(() -> as(second, r).ship(entry(f.d12, 1, 2)));
            assertArrayEquals(image, FileDigest.sha256(f.disk(state).image()));
            assertEquals(2, as(f.primary, r).ship(entry(f.d12, 1, 2)).ack().point());
        }
        assertEquals("office-a", new ReplicaDomain(replicas(state), DOM, f.tools).owner().orElseThrow().tenant());
        assertFalse(Tenancy.matches(DOM.toString(), "anything"));
        assertTrue(Tenancy.matches("web-?", "web-1"));
        assertFalse(Tenancy.matches("web-?", "web-10"));
        assertTrue(Tenancy.matches("a.b*", "a.b-c"));
        assertFalse(Tenancy.matches("a.b*", "axb"), "a dot is a dot, not any character");
    }
}
