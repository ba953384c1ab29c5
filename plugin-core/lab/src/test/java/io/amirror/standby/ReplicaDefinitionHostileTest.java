package io.amirror.standby;

import io.amirror.lab.HostileDomains;
import io.amirror.lab.HostileDomains.Case;

import io.amirror.transport.ReplicaManifest;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.w3c.dom.Element;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A hostile primary's domain XMLs ({@link HostileDomains}): each is refused, or built into a
 * replica that holds no host path but the standby's own, no element the standby does not make, and
 * replicated disks that point only at their replica images; the same description always builds the
 * same XML.
 */
class ReplicaDefinitionHostileTest {
    static final UUID UUID_1 = UUID.fromString("6f0c2a52-1f7a-4b1e-9d55-0c4f7d2b9a11");
    static final Path STATE = Path.of("/var/lib/amirror");
    static final Path SOCKETS = Path.of("/run/amirror");
    static final Path KIT = Path.of("/lab/kit");
    static final Path VDA = STATE.resolve("replicas/" + UUID_1 + "/vda/replica.qcow2");
    static final Path VDB = STATE.resolve("replicas/" + UUID_1 + "/vdb/replica.qcow2");
    static final Map<String, Path> IMAGES = Map.of("vda", VDA, "vdb", VDB);
    static final ReplicaDefinition.Options OPTIONS = new ReplicaDefinition.Options("", SOCKETS, STATE,
            new ReplicaDefinition.Allowlist(Set.of("office-lan"), Set.of("br-sb"), List.of(KIT), null,
                    ReplicaDefinition.OVMF_DIR));
    /** What the standby's disk holds: the kit, OVMF, and files an attacker would like (with a symlink out of the kit). */
    static final Map<Path, Path> FILES = Map.of(
            KIT.resolve("vmlinuz"), KIT.resolve("vmlinuz"),
            KIT.resolve("initramfs.gz"), KIT.resolve("initramfs.gz"),
            KIT.resolve("evil"), Path.of("/etc/shadow"),
            Path.of("/lab/kit/../../etc/shadow"), Path.of("/etc/shadow"),
            Path.of("/etc/shadow"), Path.of("/etc/shadow"),
            Path.of("/usr/share/OVMF/OVMF_CODE_4M.fd"), Path.of("/usr/share/OVMF/OVMF_CODE_4M.fd"),
            Path.of("/usr/share/OVMF/OVMF_VARS_4M.fd"), Path.of("/usr/share/OVMF/OVMF_VARS_4M.fd"),
            Path.of("/var/lib/amirror/replicas/0d0c2a52-1f7a-4b1e-9d55-0c4f7d2b9a99/vda/replica.qcow2"),
            Path.of("/var/lib/amirror/replicas/0d0c2a52-1f7a-4b1e-9d55-0c4f7d2b9a99/vda/replica.qcow2"));
    static final HostFiles HOST = p -> Optional.ofNullable(FILES.get(p));

    /** Paths a replica may name: its images, its own directory, its sockets, the kit, OVMF, the RNG. */
    static final List<String> ALLOWED_PREFIXES = List.of(VDA.toString(), VDB.toString(),
            STATE.resolve("replicas/" + UUID_1) + "/", SOCKETS + "/", KIT + "/", "/usr/share/OVMF/", "/dev/urandom");
    /** Cases the standby neutralises as it does every replica (sockets moved, comments gone): nothing to note. */
    static final Set<String> QUIETLY_SAFE = Set.of("the lab's own guest", "guest agent on a host path",
            "processing instruction and comment", "a CDATA kernel path");

    static final HostileDomains.Standby RULES = new HostileDomains.Standby(List.of(VDA.toString(), VDB.toString()),
            ALLOWED_PREFIXES, Set.of("office-lan"), Set.of("br-sb"), ReplicaDefinition.NS);

    static List<Case> corpus() {
        return HostileDomains.corpus(KIT.toString(), STATE.toString());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("corpus")
    void eachHostileDomainIsRefusedOrNeutralised(Case c) throws Exception {
        ReplicaManifest m = new ReplicaManifest(UUID_1, "files", 3, c.xml(), Map.of("default", "office-lan"),
                Map.of(), 24, 86400, null);
        ReplicaDefinition.Result r;
        try {
            r = ReplicaDefinition.build(m, IMAGES, OPTIONS, HOST);
        } catch (DefinitionRefused e) {
            assertTrue(c.refused(), c.name() + " was refused: " + e.getMessage());
            assertTrue(e.getMessage().contains("refused") || e.getMessage().contains("replicates"), e.getMessage());
            assertTrue(e.getMessage().length() < 1000, "the reason is short: " + e.getMessage().length());
            return;
        }
        assertFalse(c.refused(), c.name() + " should have been refused, was built:\n" + r.xml());
        String x = r.xml();
        HostileDomains.assertSafe(x, RULES);
        Element root = ReplicaDefinition.parse(x).getDocumentElement();
        assertEquals(1, root.getElementsByTagName("name").getLength(), x);
        assertEquals("files", root.getElementsByTagName("name").item(0).getTextContent());
        assertEquals(1, root.getElementsByTagName("os").getLength(), x);
        assertEquals(new ReplicaDefinition.Marker(UUID_1, STATE), ReplicaDefinition.marker(x).orElseThrow());
        if (!QUIETLY_SAFE.contains(c.name())) {
            assertFalse(r.changes().isEmpty(), "what was dropped is noted");
        }
        r.changes().forEach(ch -> assertTrue(ch.toString().length() < 400, "notes are short: " + ch));
        // the same description gives the same XML: no needless redefinition
        assertEquals(x, ReplicaDefinition.build(m, IMAGES, OPTIONS, HOST).xml());
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "<?xml version='1.0'?><!DOCTYPE domain [<!ENTITY e SYSTEM 'file:///etc/shadow'>]><domain type='qemu'><name>&e;</name></domain>",
            "<!DOCTYPE domain [<!ENTITY % p SYSTEM 'http://10.0.0.1/x.dtd'> %p;]><domain/>",
            "<!DOCTYPE domain SYSTEM 'file:///etc/shadow'><domain/>",
            "<!DOCTYPE domain [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>]><domain>&b;</domain>",
            "<domain><name>&amirror;</name></domain>",
            "<x:domain xmlns:x='urn:evil'><name>x</name></x:domain>",
            "<domain xmlns='urn:evil'><name>x</name></domain>",
            "<domain><name>x</name></domain><domain/>",
            "<domain",
            ""})
    void entitiesDoctypesAndWhatIsNotADomainAreRefusedAtParse(String xml) {
        assertThrows(IOException.class, () -> ReplicaDefinition.parse(xml));
        ReplicaManifest m = new ReplicaManifest(UUID_1, "files", 3, xml, Map.of(), Map.of(), 24, 86400, null);
        assertThrows(IOException.class, () -> ReplicaDefinition.build(m, IMAGES, OPTIONS, HOST));
    }
}
