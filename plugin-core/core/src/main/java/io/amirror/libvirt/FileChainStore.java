package io.amirror.libvirt;

import io.amirror.state.StateFile;
import io.amirror.state.StateFormatException;
import io.amirror.util.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * {@link ChainStore} in a state directory: {@code <root>/chains/<uuid>/chain.json} and one
 * {@code amirror.<N>.xml} per checkpoint, each replaced atomically. The only writer of
 * {@code chains/}.
 *
 * <p>{@code chain.json} is the {@link #CHAIN} kind of state file; format 0 (before formats) held
 * the same fields. The checkpoint XMLs are libvirt's {@code domaincheckpoint} documents exactly as
 * libvirt gave them, for a REDEFINE; their format is libvirt's, so they carry none of ours.
 */
public final class FileChainStore implements ChainStore {
    private static final Pattern UUID = Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");

    /** {@code chains/<uuid>/chain.json}: format 1 is format 0 with its format field. */
    static final StateFile<ChainState> CHAIN = StateFile.of("chain state", ChainState.class, 1)
            .migrating(0, legacy -> legacy);

    private final Path root;

    public FileChainStore(Path stateDir) {
        this.root = stateDir.resolve("chains");
    }

    private Path dir(String uuid) {
        if (!UUID.matcher(uuid).matches()) {
            throw new IllegalArgumentException("not a domain UUID: " + uuid);
        }
        return root.resolve(uuid);
    }

    @Override
    public ChainState load(String uuid, String name) throws IOException {
        Path f = chainFile(uuid);
        Optional<ChainState> s = CHAIN.read(f);
        if (s.isEmpty()) {
            return ChainState.empty(uuid, name);
        }
        if (!uuid.equals(s.get().domainUuid())) {
            throw new StateFormatException(f + ": chain state of domain " + s.get().domainUuid() + ", not " + uuid);
        }
        return s.get();
    }

    @Override
    public void save(ChainState state) throws IOException {
        CHAIN.write(chainFile(state.domainUuid()), state);
    }

    private Path chainFile(String uuid) {
        return dir(uuid).resolve("chain.json");
    }

    @Override
    public void saveCheckpointXml(String uuid, int point, String xml) throws IOException {
        AtomicFiles.writePrivate(xmlFile(uuid, point), xml.getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public Optional<String> checkpointXml(String uuid, int point) throws IOException {
        Path f = xmlFile(uuid, point);
        return Files.exists(f) ? Optional.of(Files.readString(f)) : Optional.empty();
    }

    @Override
    public void deleteCheckpointXml(String uuid, int point) throws IOException {
        AtomicFiles.delete(xmlFile(uuid, point));
    }

    private Path xmlFile(String uuid, int point) {
        return dir(uuid).resolve(CheckpointChain.name(point) + ".xml");
    }
}
