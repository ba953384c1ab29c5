package io.amirror.config;

import com.fasterxml.jackson.core.JsonPointer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.Error;
import com.networknt.schema.InputFormat;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Validates documents against the JSON Schemas of the {@code amirror-schemas} jar
 * ({@code io/amirror/schemas/NAME.schema.json}) and turns each violation into a {@link ConfigError}
 * whose fix is the {@code description} of the schema node that failed, or of the nearest node
 * above it that has one: the schemas are written so that description says what a good value
 * looks like.
 */
public final class SchemaCheck {
    public static final String POLICY = "policy";
    public static final String PRIMARY = "primary";
    public static final String STATUS = "status";
    public static final String STANDBY = "standby";
    public static final String REPLICAS = "replicas";
    public static final String DRILL_REPORT = "drill-report";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, SchemaCheck> LOADED = new ConcurrentHashMap<>();

    private final Schema schema;
    private final JsonNode schemaJson;

    private SchemaCheck(String name) {
        String resource = "/io/amirror/schemas/" + name + ".schema.json";
        try (InputStream in = SchemaCheck.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("schema " + resource + " is not on the class path");
            }
            this.schemaJson = JSON.readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        this.schema = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12).getSchema(schemaJson.toString(),
                InputFormat.JSON);
    }

    public static SchemaCheck named(String name) {
        return LOADED.computeIfAbsent(name, SchemaCheck::new);
    }

    /** The schema document itself (for {@code amirror policy schema}). */
    public JsonNode schemaJson() {
        return schemaJson;
    }

    /** Every violation of the schema by {@code doc}, read from {@code file}; empty when it conforms. */
    public List<ConfigError> check(JsonNode doc, String file) {
        List<ConfigError> out = new ArrayList<>();
        for (Error e : schema.validate(doc)) {
            String field = e.getInstanceLocation().toString().replaceFirst("^\\$", "");
            field = jsonPointer(field);
            if (e.getProperty() != null && ("required".equals(e.getKeyword()) || "additionalProperties".equals(e.getKeyword()))) {
                field = field + "/" + e.getProperty();
            }
            out.add(new ConfigError(file, field, e.getMessage().replaceFirst("^\\$[^:]*: ", ""), fixFor(e)));
        }
        return out;
    }

    /** networknt prints paths as {@code $.a.b[0]}; admins and RFC 6901 say {@code /a/b/0}. */
    static String jsonPointer(String path) {
        if (path.isEmpty() || path.startsWith("/")) {
            return path;
        }
        StringBuilder b = new StringBuilder();
        for (String part : path.replaceAll("^\\.", "").split("\\.|(?=\\[)")) {
            if (part.isEmpty()) {
                continue;
            }
            String p = part.startsWith("[") ? part.substring(1, part.length() - 1) : part;
            if (p.length() > 1 && p.startsWith("'") && p.endsWith("'")) {
                p = p.substring(1, p.length() - 1);
            }
            b.append('/').append(p);
        }
        return b.toString();
    }

    private String fixFor(Error e) {
        String fragment = e.getSchemaLocation() == null ? null : e.getSchemaLocation().getFragment().toString();
        if (fragment == null) {
            return null;
        }
        String pointer = fragment.startsWith("#") ? fragment.substring(1) : fragment;
        if ("additionalProperties".equals(e.getKeyword())) {
            JsonNode props = at(pointer.replaceFirst("/additionalProperties$", "")).get("properties");
            if (props != null) {
                List<String> allowed = new ArrayList<>();
                props.fieldNames().forEachRemaining(n -> {
                    if (!n.startsWith("$")) {
                        allowed.add(n);
                    }
                });
                return "remove it or correct its spelling; allowed here: " + String.join(", ", allowed);
            }
        }
        if ("required".equals(e.getKeyword()) && e.getProperty() != null) {
            // the missing property's own description says what to put there
            JsonNode p = at(pointer.replaceFirst("/required$", "") + "/properties/" + e.getProperty());
            String d = description(p);
            if (d != null) {
                return d;
            }
        }
        while (!pointer.isEmpty()) {
            String d = description(at(pointer));
            if (d != null) {
                return d;
            }
            pointer = pointer.substring(0, pointer.lastIndexOf('/'));
        }
        return null;
    }

    private JsonNode at(String pointer) {
        JsonNode n = schemaJson.at(JsonPointer.compile(pointer));
        JsonNode ref = n.get("$ref");
        if (ref != null && ref.asText().startsWith("#")) {
            JsonNode target = schemaJson.at(JsonPointer.compile(ref.asText().substring(1)));
            return n.has("description") ? n : target;
        }
        return n;
    }

    private static String description(JsonNode n) {
        return n != null && n.isObject() && n.has("description") ? n.get("description").asText() : null;
    }
}
