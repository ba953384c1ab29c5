package io.amirror.standby;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.amirror.config.ConfigException;
import io.amirror.config.PolicyLoader;
import io.amirror.state.SwitchoverLayout;
import io.amirror.transport.Identity;
import io.amirror.transport.Peer;
import io.amirror.transport.ReplicaManifest;
import io.amirror.transport.WireMessage;
import io.amirror.transport.WireMessage.Refuse;
import io.amirror.transport.WireMessage.Switched;
import io.amirror.transport.WireMessage.Switchover;
import io.amirror.util.AtomicFiles;
import io.amirror.util.HostPort;
import io.amirror.util.PrivateFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Answers a SWITCHOVER: the planned move of a domain from its primary to this standby, with no
 * loss, and the way back set up.
 *
 * <p>Only a standby whose configuration allows it takes one, only from the replica's owner
 * ({@link Replicas#locked}, which also refuses a promoted replica), and only when every disk of
 * the replica is at exactly the point the primary names (the point of its shut-off disks, which it
 * holds acknowledged) with nothing pending: anything else would lose or invent data. A dry run
 * stops there and changes nothing. Otherwise the replica is promoted and its domain started as a
 * failover does ({@link ReplicaFailover}, without waiting for the guest: the primary waits on the
 * answer), and the way back is written: a policy under {@link SwitchoverLayout} that replicates the
 * started domain to the primary's back standby, pinned to the key of the primary that asked, run
 * with this standby's own key (which that primary pins already), by the standby daemon.
 *
 * <p>What a hostile primary can do with this: start its own replica here (as a failover would) and
 * have it replicated to an address it names, over amirror's TLS pinned to its own key, which sends
 * it the data of its own domain. Nothing of another tenant, and no history, is touched.
 */
public final class SwitchoverAnswer {
    private static final Logger log = LoggerFactory.getLogger(SwitchoverAnswer.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern UUID_ELEMENT = Pattern.compile("<uuid>\\s*([0-9a-fA-F-]{36})\\s*</uuid>");

    /**
     * What a switchover needs of the standby: whether it takes them at all, its libvirt, how it
     * defines replicas, and its state directory (where the way back is written).
     */
    public record Settings(boolean allowed, String libvirtUri, ReplicaDefinition.Options definition, Path stateDir) {
        public static final Settings REFUSED = new Settings(false, null, null, null);
    }

    private SwitchoverAnswer() {
    }

    static WireMessage of(Replicas replicas, Peer peer, Switchover s, Settings settings) {
        if (!settings.allowed()) {
            return new Refuse(Refuse.NO_SWITCHOVER, "this standby takes no switchover: its configuration does not say "
                    + "\"switchover\": {\"allow\": true}; fail over on the standby instead (amirror failover)");
        }
        String[] label = new String[1];
        WireMessage checked = replicas.locked(peer, s.domain(), "switchover", rd -> {
            label[0] = rd.definedName().orElse(rd.uuid().toString());
            return check(rd, s, !s.dryRun(), peer);
        });
        if (!(checked instanceof Switched ready) || s.dryRun()) {
            return checked;
        }
        ReplicaDomain rd = replicas.domain(s.domain());
        try {
            // no lock held here: the start runs libvirt's hook, which takes the replica's lock itself
            new ReplicaFailover(rd, label[0], settings.libvirtUri(), settings.definition(),
                    line -> log.info("switchover: {}", line)).checkingGuest(false).run(true);
        } catch (Exception e) {
            log.error("switchover of {} failed", label[0], e);
            return new Refuse(Refuse.INTERNAL, "the switchover of " + label[0] + " failed: " + e.getMessage());
        }
        try {
            Path policy = writeWayBack(SwitchoverLayout.of(settings.stateDir()), ready, peer, s);
            log.info("switchover: {} runs here from point {}; it replicates back to {} ({})", ready.name(), s.point(),
                    backAddress(s.backAddress(), peer), policy);
        } catch (IOException | RuntimeException e) {
            log.error("switchover of {}: the domain runs here, but its way back was not set up", ready.name(), e);
            return new Refuse(Refuse.INTERNAL, ready.name() + " runs on the standby from point " + s.point()
                    + ", but replicating it back was not set up: " + e.getMessage());
        }
        return ready;
    }

    /**
     * Under the replica's locks: whether it can become the domain, and with {@code atPoint} whether
     * exactly at the point named (a dry run comes before the final point exists).
     */
    private static WireMessage check(ReplicaDomain rd, Switchover s, boolean atPoint, Peer peer) throws IOException {
        try {
            HostPort.parse(backAddress(s.backAddress(), peer));
        } catch (IllegalArgumentException e) {
            return refuse("the back address '" + s.backAddress() + "' is not HOST:PORT: " + e.getMessage());
        }
        if (rd.starting().isPresent()) {
            return refuse("the replica of " + rd.uuid() + " is being started already");
        }
        if (rd.failoverPoint().isPresent() && rd.failoverPoint().get() != s.point()) {
            return refuse("a failover to point " + rd.failoverPoint().get() + " was chosen on this standby ('amirror "
                    + "failover --point'): a switchover moves the domain at its last point only; remove that choice first ("
                    + rd.directory().resolve("failover.json") + ")");
        }
        Optional<ReplicaManifest> m = rd.manifest();
        if (m.isEmpty()) {
            return refuse(rd.uuid() + " has no description on this standby yet (it follows a point)");
        }
        if (m.get().bridged()) {
            return refuse(rd.uuid() + " is a bridge guest: it has no libvirt domain here to start");
        }
        Optional<String> name = rd.definedName();
        Optional<String> xml = rd.definedXml();
        if (name.isEmpty() || xml.isEmpty()) {
            return refuse("the replica of " + rd.uuid() + " is not defined in this standby's libvirt");
        }
        Matcher u = UUID_ELEMENT.matcher(xml.get());
        if (!u.find()) {
            return refuse("the replica domain " + name.get() + " has no UUID in its definition");
        }
        for (String disk : rd.diskNames()) {
            ReplicaDisk.State st = rd.disk(disk).state();
            if (atPoint && (st.point() != s.point() || st.pending() != 0)) {
                return refuse("the replica's " + disk + " is at point " + st.point()
                        + (st.pending() != 0 ? " with point " + st.pending() + " pending" : "")
                        + ", not at point " + s.point() + ": a switchover moves the domain only at its last point");
            }
        }
        if (rd.drillPin().isPresent()) {
            log.info("switchover of {}: a drill of point {} runs; it goes on aside", name.get(), rd.drillPin().get().point());
        }
        return new Switched(rd.uuid(), s.point(), name.get(), UUID.fromString(u.group(1)));
    }

    private static Refuse refuse(String why) {
        return new Refuse(Refuse.NO_SWITCHOVER, why);
    }

    /**
     * The back standby's address: as the primary sent it, or with the address this connection
     * came from when it sent none.
     */
    static String backAddress(String sent, Peer peer) {
        if (!sent.startsWith(":")) {
            return sent;
        }
        String from = peer.address(); // "host/1.2.3.4:port" or "/1.2.3.4:port"
        String hostPort = from.substring(from.lastIndexOf('/') + 1);
        if (hostPort.lastIndexOf(':') <= 0) {
            throw new IllegalArgumentException("the connection's address " + from + " names no host");
        }
        String host = hostPort.substring(0, hostPort.lastIndexOf(':'));
        return (host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host) + sent;
    }

    /**
     * Writes the way back: this standby's key where the reverse primary looks for it, then the
     * policy; the standby daemon starts that primary when it sees the policy. Returns its path.
     */
    private static Path writeWayBack(SwitchoverLayout layout, Switched ready, Peer peer, Switchover s) throws IOException {
        String address = backAddress(s.backAddress(), peer);
        HostPort.parse(address); // a malformed one is refused here, not by a primary that never starts
        PrivateFiles.createTraversable(layout.reverseState()); // the reverse primary's scratch files are QEMU's
        PrivateFiles.createDirectories(layout.reversePolicies());
        Identity.copy(layout.stateDir(), layout.reverseState(), false); // the key its peer already pins: this standby's
        ObjectNode p = JSON.createObjectNode();
        p.put("name", "switchover-" + ready.uuid()); // the whole UUID: no other replica's way back takes the name
        p.putObject("domains").putArray("names").add(ready.name());
        ObjectNode standby = p.putObject("standby");
        standby.put("address", address);
        standby.put("fingerprint", peer.fingerprint());
        p.putObject("rpo").put("interval", s.backIntervalSeconds() + "s");
        Path file = layout.reversePolicy(ready.uuid());
        byte[] bytes = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(p);
        try {
            PolicyLoader.parse(bytes, file.toString()); // what the reverse primary will load, checked before it is there
        } catch (ConfigException e) {
            throw new IOException("the way back's policy is refused: " + e.getMessage(), e);
        }
        AtomicFiles.writePrivate(file, bytes);
        return file;
    }

}
