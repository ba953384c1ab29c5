package io.amirror.state;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.amirror.util.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.function.UnaryOperator;

/**
 * One kind of JSON state file: its record type, its format version and how older versions are
 * brought up to date. Every state file amirror writes carries its format as a top-level
 * {@code "format"} field; a file without one is format 0 (written before formats existed).
 *
 * <p>Reading migrates step by step (0 → 1 → … → current) in memory; the file itself is rewritten
 * in the current format only by its owner's next {@link #write}. A file from a newer amirror (a
 * format above {@link #version()}) is refused rather than misread, so a downgrade never silently
 * drops fields. Writes are atomic and private (mode 0600, fsynced, see {@link AtomicFiles}).
 *
 * <p>The caller owns the file: one class per file writes it (the layout in
 * {@code schemas/state-layout.md} names each owner); others read through that owner.
 *
 * @param <T> the record the file holds (Jackson-mapped; unknown fields are ignored)
 */
public final class StateFile<T> {
    /** The one JSON mapper of state files: unknown fields ignored, so a newer minor field never breaks a read. */
    public static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    static final String FORMAT_FIELD = "format";

    private final String name;
    private final Class<T> type;
    private final int version;
    private final Map<Integer, UnaryOperator<ObjectNode>> migrations;
    private final Function<JsonNode, ObjectNode> bareFormat0;

    private StateFile(String name, Class<T> type, int version, Map<Integer, UnaryOperator<ObjectNode>> migrations,
                      Function<JsonNode, ObjectNode> bareFormat0) {
        this.name = name;
        this.type = type;
        this.version = version;
        this.migrations = migrations;
        this.bareFormat0 = bareFormat0;
    }

    /** A state file kind at format {@code version} (1 or more), with no migrations yet. */
    public static <T> StateFile<T> of(String name, Class<T> type, int version) {
        if (version < 1) {
            throw new IllegalArgumentException("a state format starts at 1");
        }
        return new StateFile<>(name, type, version, Map.of(), null);
    }

    /**
     * The same kind, able to read format {@code from} by turning its JSON into format
     * {@code from + 1}. Format 0 (no {@code "format"} field) with the identity is the usual first step.
     */
    public StateFile<T> migrating(int from, UnaryOperator<ObjectNode> step) {
        if (from < 0 || from >= version) {
            throw new IllegalArgumentException("a migration goes from an older format to the next one");
        }
        Map<Integer, UnaryOperator<ObjectNode>> m = new TreeMap<>(migrations);
        m.put(from, step);
        return new StateFile<>(name, type, version, Map.copyOf(m), bareFormat0);
    }

    /**
     * The same kind, able to read format 0 files whose top level is not a JSON object (a bare
     * array, say): {@code wrap} turns such a value into the format 0 object the migrations start
     * from. Only format 0 can be bare, since every later format has its {@code "format"} field.
     */
    public StateFile<T> wrappingBareFormat0(Function<JsonNode, ObjectNode> wrap) {
        return new StateFile<>(name, type, version, migrations, wrap);
    }

    public String name() {
        return name;
    }

    public int version() {
        return version;
    }

    /** The file's content in the current format, or empty when there is no file. */
    public Optional<T> read(Path file) throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
        return Optional.of(decode(bytes, file.toString()));
    }

    /** Decodes bytes read from {@code where} (named in errors), migrating older formats. */
    public T decode(byte[] bytes, String where) throws IOException {
        JsonNode tree;
        try {
            tree = JSON.readTree(bytes);
        } catch (IOException e) {
            throw new StateFormatException(where + ": not a " + name + " file (" + e.getMessage() + ")");
        }
        ObjectNode node;
        if (tree instanceof ObjectNode obj) {
            node = obj;
        } else if (bareFormat0 != null && tree != null && !tree.isMissingNode() && !tree.isNull()) {
            try {
                node = bareFormat0.apply(tree);
            } catch (RuntimeException e) {
                throw new StateFormatException(where + ": not a " + name + " file (" + e.getMessage() + ")");
            }
        } else {
            throw new StateFormatException(where + ": not a " + name + " file (no JSON object)");
        }
        JsonNode f = node.get(FORMAT_FIELD);
        int format = f == null ? 0 : f.canConvertToExactIntegral() ? f.asInt() : -1;
        if (format < 0) {
            throw new StateFormatException(where + ": " + name + " has an unreadable format field " + f);
        }
        if (format > version) {
            throw new StateFormatException(where + ": " + name + " is format " + format
                    + ", newer than this amirror reads (" + version + "); run the amirror that wrote it");
        }
        for (int v = format; v < version; v++) {
            UnaryOperator<ObjectNode> step = migrations.get(v);
            if (step == null) {
                throw new StateFormatException(where + ": " + name + " format " + v + " cannot be read by this amirror");
            }
            node = step.apply(node);
        }
        node.remove(FORMAT_FIELD);
        try {
            return JSON.treeToValue(node, type);
        } catch (IOException e) {
            throw new StateFormatException(where + ": " + name + " does not hold what its format says (" + e.getMessage() + ")");
        }
    }

    /** The bytes {@link #write} stores: the value's JSON with the current format first. */
    public byte[] encode(T value) throws IOException {
        ObjectNode node = JSON.createObjectNode();
        node.put(FORMAT_FIELD, version);
        JsonNode body = JSON.valueToTree(value);
        if (!(body instanceof ObjectNode obj)) {
            throw new IllegalArgumentException(name + " must be a JSON object");
        }
        node.setAll(obj);
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(node);
    }

    /** Replaces the file atomically with {@code value} in the current format, readable by its owner only. */
    public void write(Path file, T value) throws IOException {
        AtomicFiles.writePrivate(file, encode(value));
    }
}
