package io.amirror.libvirt;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.amirror.util.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * {@link ChainStore} in a state directory: {@code <root>/chains/<uuid>/chain.json} and one
 * {@code amirror.<N>.xml} per checkpoint, each replaced atomically.
 */
public final class FileChainStore implements ChainStore {
    private static final Pattern UUID = Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

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
        Path f = dir(uuid).resolve("chain.json");
        if (!Files.exists(f)) {
            return ChainState.empty(uuid, name);
        }
        try {
            ChainState s = JSON.readValue(f.toFile(), ChainState.class);
            if (!s.domainUuid().equals(uuid)) {
                throw new IOException(f + " belongs to domain " + s.domainUuid());
            }
            return s;
        } catch (com.fasterxml.jackson.core.JacksonException | IllegalArgumentException e) {
            throw new IOException("corrupt chain state " + f + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void save(ChainState state) throws IOException {
        AtomicFiles.write(dir(state.domainUuid()).resolve("chain.json"), JSON.writeValueAsBytes(state));
    }

    @Override
    public void saveCheckpointXml(String uuid, int point, String xml) throws IOException {
        AtomicFiles.write(xmlFile(uuid, point), xml.getBytes(StandardCharsets.UTF_8));
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
