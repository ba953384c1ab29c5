package io.amirror.transport;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.delta.DeltaFormatException;
import io.amirror.delta.XzBlockCodec;

import java.io.IOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * What the standby needs to define a replica domain, as the primary sends it with a point (the
 * payload of DESCRIBE, so it lives with the wire messages; both sides use it): the
 * primary's inactive domain XML, the policy's map of networks and bridges, and the policy's
 * retention. On the wire and on disk it is JSON; on the wire also xz-compressed (a domain XML of a
 * few KiB becomes about 1 KiB).
 *
 * <p>A guest outside libvirt (replicated through the bridge) has no domain XML: its manifest
 * carries the {@code launcher} command line its admin gave the bridge instead, and the standby
 * defines nothing in libvirt for it.
 *
 * <p>Everything here comes from the network: {@link #fromXz} bounds the decompressed size and
 * {@link #check} refuses what the standby cannot use, before anything is stored.
 */
public record ReplicaManifest(UUID uuid, String name, int point, String domainXml, Map<String, String> networks,
                              Map<String, String> bridges, int keepPoints, long keepSeconds, List<String> launcher,
                              @JsonInclude(JsonInclude.Include.NON_NULL) BootCheck bootCheck) {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** A domain XML is a few KiB; 1 MiB is far beyond any real one. */
    public static final int MAX_JSON = 1 << 20;
    private static final XzBlockCodec.Preset XZ_PRESET = new XzBlockCodec.Preset(6, false);

    /**
     * What the standby checks once the replica runs, run in the replica's own guest through its
     * agent (the tenant's own guest: nothing of the standby's host): {@code command} as argv,
     * passing with exit status 0 within {@code timeoutSeconds} of the start. Absent from the JSON
     * when the policy has none, so a manifest without one reads the same to every amirror.
     */
    public record BootCheck(List<String> command, long timeoutSeconds) {
        public BootCheck {
            command = command == null ? List.of() : List.copyOf(command);
        }
    }

    /** A manifest without a boot check. */
    public ReplicaManifest(UUID uuid, String name, int point, String domainXml, Map<String, String> networks,
                           Map<String, String> bridges, int keepPoints, long keepSeconds, List<String> launcher) {
        this(uuid, name, point, domainXml, networks, bridges, keepPoints, keepSeconds, launcher, null);
    }

    @JsonCreator
    public ReplicaManifest {
        networks = Map.copyOf(networks == null ? Map.of() : networks);
        bridges = Map.copyOf(bridges == null ? Map.of() : bridges);
        launcher = launcher == null ? List.of() : List.copyOf(launcher);
    }

    /** Whether this is a bridge guest's manifest: no domain for libvirt, a launcher instead. */
    public boolean bridged() {
        return domainXml == null;
    }

    /**
     * Identifies the content apart from the point, so a primary sends a manifest again only when
     * something but the point changed.
     */
    public String key() {
        var samePoint = new ReplicaManifest(uuid, name, 1, domainXml, networks, bridges, keepPoints, keepSeconds, launcher,
                bootCheck);
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(samePoint.toJson()));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public byte[] toJson() {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(this);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public byte[] toXz() {
        byte[] json = toJson();
        return XzBlockCodec.compress(json, json.length, XZ_PRESET);
    }

    /** Decodes a manifest from the wire; a bad or oversized one is an {@link IOException} naming why. */
    public static ReplicaManifest fromXz(byte[] xz) throws IOException {
        try {
            return fromJson(XzBlockCodec.decompressAtMost(xz, MAX_JSON));
        } catch (DeltaFormatException e) {
            throw new IOException("the replica manifest is not valid xz: " + e.getMessage());
        }
    }

    public static ReplicaManifest fromJson(byte[] json) throws IOException {
        ReplicaManifest m;
        try {
            m = JSON.readValue(json, ReplicaManifest.class);
        } catch (IOException e) {
            throw new IOException("the replica manifest is not valid JSON: " + e.getMessage());
        }
        m.check();
        return m;
    }

    /**
     * Refuses a manifest whose fields no guest could have. The domain XML itself is the standby's to
     * judge ({@code ReplicaDefinition}), before it stores the manifest.
     */
    public void check() throws IOException {
        if (uuid == null || name == null) {
            throw new IOException("the replica manifest lacks its uuid or name");
        }
        if (launcher.size() > 1000 || launcher.stream().anyMatch(a -> a == null || a.length() > 4096 || a.indexOf('\0') >= 0)) {
            throw new IOException("the replica manifest's launcher command line is not one a guest could have");
        }
        if (name.isEmpty() || name.length() > 255 || name.indexOf('/') >= 0 || name.indexOf('\0') >= 0) {
            throw new IOException("the replica manifest names the domain '" + name + "', which libvirt does not accept");
        }
        if (bootCheck != null && (bootCheck.command().isEmpty() || bootCheck.command().size() > 64
                || bootCheck.command().stream().anyMatch(a -> a == null || a.isEmpty() || a.length() > 4096 || a.indexOf('\0') >= 0)
                || bootCheck.timeoutSeconds() < 1 || bootCheck.timeoutSeconds() > 86_400)) {
            throw new IOException("the replica manifest's boot check is not one a policy could give (1 to 64 arguments "
                    + "of at most 4096 characters, a timeout of 1 s to a day)");
        }
        if (point <= 0 || keepPoints < 1 || keepSeconds < 1) {
            throw new IOException("the replica manifest has point " + point + ", keep " + keepPoints + " points for "
                    + keepSeconds + " s");
        }
    }
}
