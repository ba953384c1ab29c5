package io.amirror.libvirt;

import java.io.IOException;
import java.util.Optional;

/**
 * Where checkpoint chains persist, apart from libvirt: libvirt's own checkpoint metadata is lost
 * when a domain is undefined or libvirtd's state goes, while the bitmaps stay in the images. The
 * full XML of every checkpoint kept here lets the chain be redefined after that.
 *
 * <p>Implementations make each call durable before it returns.
 */
public interface ChainStore {

    /** The chain of the domain with this UUID, or an empty one. */
    ChainState load(String domainUuid, String domainName) throws IOException;

    void save(ChainState state) throws IOException;

    void saveCheckpointXml(String domainUuid, int point, String xml) throws IOException;

    Optional<String> checkpointXml(String domainUuid, int point) throws IOException;

    void deleteCheckpointXml(String domainUuid, int point) throws IOException;
}
