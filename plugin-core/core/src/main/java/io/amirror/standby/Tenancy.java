package io.amirror.standby;

import io.amirror.config.StandbyConfig.Tenant;
import io.amirror.transport.Peer;
import io.amirror.transport.ReplicaManifest;
import io.amirror.transport.WireMessage.Refuse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * Which replicas a peer may touch. A standby often keeps the replicas of several offices, and any
 * of their primaries may be taken over: each peer is a tenant that may change only its own.
 *
 * <p>The rules, checked under the domain's lock before a request reads or changes anything:
 * <ol>
 *   <li>A peer's tenant is the configured tenant that lists its fingerprint or its certificate's
 *       subject; a pinned peer in no tenant is a tenant of its own, named by its fingerprint, that
 *       may replicate any domain.</li>
 *   <li>A replica belongs to the tenant recorded in its {@code owner.json}. Another tenant's
 *       request is refused (NOT_OWNER) and logged with the peer's fingerprint.</li>
 *   <li>A replica with no owner yet: a UUID some tenant lists is reserved for that tenant; else a
 *       tenant whose domains are only UUIDs may not start it. A request that creates state (an
 *       offer) records the peer's tenant as the owner.</li>
 *   <li>A description must name the domain as the tenant's patterns allow (unless the tenant
 *       lists its UUID), and a name no other replica on this standby has.</li>
 * </ol>
 * An owner recorded by a tenant's name follows the tenant (its keys may change in the
 * configuration); one recorded by a bare fingerprint follows that key.
 */
final class Tenancy {
    private static final Logger log = LoggerFactory.getLogger(Tenancy.class);
    private static final Pattern UUID_TEXT = Pattern.compile("[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}");

    private final List<Tenant> tenants;

    Tenancy(List<Tenant> tenants) {
        this.tenants = List.copyOf(tenants);
    }

    /** A standby without tenants: every pinned peer is its own. */
    static Tenancy none() {
        return new Tenancy(List.of());
    }

    /** The tenant {@code peer} acts for. */
    Tenant tenantOf(Peer peer) {
        for (Tenant t : tenants) {
            if (t.peers().contains(peer.fingerprint()) || t.subjects().contains(peer.subject())) {
                return t;
            }
        }
        return new Tenant(peer.fingerprint(), List.of(peer.fingerprint()), List.of(), List.of("*"));
    }

    private boolean configured(String tenantName) {
        return tenants.stream().anyMatch(t -> t.name().equals(tenantName));
    }

    /** Refuses {@code peer} a request for {@code rd} that is not its tenant's. */
    void check(ReplicaDomain rd, Peer peer, String what) throws IOException {
        Tenant t = tenantOf(peer);
        Optional<ReplicaDomain.Owner> owner = rd.owner();
        if (owner.isPresent()) {
            ReplicaDomain.Owner o = owner.get();
            boolean mine = configured(o.tenant()) ? o.tenant().equals(t.name()) : o.fingerprint().equals(peer.fingerprint());
            if (!mine) {
                throw refuse(peer, rd.uuid(), what, "the replica of " + rd.uuid() + " belongs to tenant '" + o.tenant()
                        + "', not to this primary's");
            }
            return;
        }
        for (Tenant other : tenants) {
            if (other != t && !other.name().equals(t.name()) && listsUuid(other, rd.uuid())) {
                throw refuse(peer, rd.uuid(), what, "domain " + rd.uuid() + " is reserved for tenant '" + other.name()
                        + "' in the standby's configuration");
            }
        }
        if (!listsUuid(t, rd.uuid()) && t.domains().stream().allMatch(d -> UUID_TEXT.matcher(d).matches())) {
            throw refuse(peer, rd.uuid(), what, "tenant '" + t.name() + "' may replicate only the domains its "
                    + "configuration lists, and " + rd.uuid() + " is not one of them");
        }
    }

    /**
     * Records {@code peer}'s tenant as the owner of {@code rd}, which {@link #check} allowed it:
     * once an offer of it is admitted. A replica owned by a bare key moves to the tenant now
     * configured for that key.
     */
    void claim(ReplicaDomain rd, Peer peer) throws IOException {
        Tenant t = tenantOf(peer);
        Optional<ReplicaDomain.Owner> owner = rd.owner();
        if (owner.isEmpty() || !owner.get().tenant().equals(t.name())) {
            rd.recordOwner(owner(t, peer));
            if (t.name().equals(peer.fingerprint())) {
                log.info("the replica of {} belongs to peer {}", rd.uuid(), peer);
            } else {
                log.info("the replica of {} belongs to tenant '{}' (peer {})", rd.uuid(), t.name(), peer);
            }
        }
    }

    /**
     * Refuses a description whose name the peer's tenant may not use, or that another replica on
     * this standby has already.
     */
    void checkName(ReplicaDomain rd, Peer peer, ReplicaManifest m, List<ReplicaDomain> all) throws IOException {
        Tenant t = tenantOf(peer);
        if (!listsUuid(t, rd.uuid()) && t.domains().stream().noneMatch(p -> matches(p, m.name()))) {
            throw refuse(peer, rd.uuid(), "describe", "tenant '" + t.name() + "' may not replicate a domain named '"
                    + m.name() + "' (its patterns: " + t.domains() + ")");
        }
        for (ReplicaDomain other : all) {
            if (other.uuid().equals(rd.uuid())) {
                continue;
            }
            Optional<ReplicaManifest> theirs = other.manifest();
            if (theirs.isPresent() && theirs.get().name().equals(m.name())) {
                throw refuse(peer, rd.uuid(), "describe", "the name '" + m.name() + "' is taken on this standby by the "
                        + "replica of " + other.uuid() + "; replica names are unique");
            }
        }
    }

    private static boolean listsUuid(Tenant t, UUID uuid) {
        return t.domains().stream().anyMatch(d -> d.equalsIgnoreCase(uuid.toString()));
    }

    /** A name pattern: {@code *} any run of characters, {@code ?} one; a UUID never matches a name. */
    static boolean matches(String pattern, String name) {
        if (UUID_TEXT.matcher(pattern).matches()) {
            return false;
        }
        StringBuilder re = new StringBuilder();
        for (char c : pattern.toCharArray()) {
            re.append(c == '*' ? ".*" : c == '?' ? "." : Pattern.quote(String.valueOf(c)));
        }
        return Pattern.matches(re.toString(), name);
    }

    private static ReplicaDomain.Owner owner(Tenant t, Peer peer) {
        return new ReplicaDomain.Owner(t.name(), peer.fingerprint(), peer.subject(), Instant.now().toString());
    }

    private static StandbyRefusal refuse(Peer peer, UUID uuid, String what, String why) {
        log.warn("refused {} of {} to peer {}: {}", what, uuid, peer, why);
        return new StandbyRefusal(Refuse.NOT_OWNER, why);
    }
}
