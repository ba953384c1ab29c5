package io.amirror.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.util.WeekWindow;
import io.amirror.util.WeeklyRate;
import org.quartz.CronExpression;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.ParseException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Reads policy files: JSON syntax first, then the schema ({@code policy.schema.json}), then what a
 * schema cannot say (a cron expression that Quartz accepts, windows that end after they start,
 * names unique across the directory). Every error found is reported, each with its file, field and
 * fix; a file with any error yields no policy, so a half-understood policy never runs.
 */
public final class PolicyLoader {
    public static final int DEFAULT_KEEP = 24;
    public static final int DEFAULT_KEEP_DAYS = 30;
    /** A guest under TCG or on a slow host can take minutes to boot; its check gets ten. */
    static final Duration DEFAULT_BOOT_CHECK_TIMEOUT = Duration.ofMinutes(10);

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY);

    /** The policies of a directory that loaded, and the errors of those that did not. */
    public record Loaded(List<Policy> policies, List<ConfigError> errors) {
    }

    private PolicyLoader() {
    }

    /** Loads every {@code *.json} file of {@code dir}, in name order. */
    public static Loaded loadDir(Path dir) throws IOException {
        List<Policy> ok = new ArrayList<>();
        List<ConfigError> errors = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            errors.add(new ConfigError(dir.toString(), "", "the policy directory does not exist",
                    "create it and put one NAME.json per policy in it (examples: /usr/share/doc/amirror/examples)"));
            return new Loaded(ok, errors);
        }
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(p -> p.getFileName().toString().endsWith(".json") && Files.isRegularFile(p)).sorted().toList();
        }
        Map<String, String> names = new HashMap<>();
        for (Path f : files) {
            try {
                Policy p = load(f);
                String earlier = names.putIfAbsent(p.name(), f.toString());
                if (earlier != null) {
                    errors.add(new ConfigError(f.toString(), "/name", "the name '" + p.name() + "' is taken by " + earlier,
                            "give each policy its own name"));
                } else {
                    ok.add(p);
                }
            } catch (ConfigException e) {
                errors.addAll(e.errors());
            }
        }
        return new Loaded(ok, errors);
    }

    public static Policy load(Path file) throws ConfigException {
        return parse(readFile(file), file.toString());
    }

    /** A configuration file's bytes, or a {@link ConfigException} that names it. */
    static byte[] readFile(Path file) throws ConfigException {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new ConfigException(new ConfigError(file.toString(), "", "cannot read: " + e.getMessage(),
                    "check the path and its permissions"));
        }
    }

    /** Parses and checks one policy document; {@code file} names it in errors. */
    public static Policy parse(byte[] json, String file) throws ConfigException {
        JsonNode doc = readJson(json, file);
        List<ConfigError> errors = SchemaCheck.named(SchemaCheck.POLICY).check(doc, file);
        if (!errors.isEmpty()) {
            throw new ConfigException(errors);
        }
        return build(doc, file);
    }

    static JsonNode readJson(byte[] json, String file) throws ConfigException {
        try {
            JsonNode doc = JSON.readTree(json);
            if (doc == null || doc.isMissingNode()) {
                throw new ConfigException(new ConfigError(file, "", "the file is empty", "write a JSON object"));
            }
            return doc;
        } catch (JsonProcessingException e) {
            var loc = e.getLocation();
            throw new ConfigException(new ConfigError(file, "",
                    "not valid JSON" + (loc == null ? "" : " at line " + loc.getLineNr() + ", column " + loc.getColumnNr())
                            + ": " + e.getOriginalMessage(), "correct the JSON syntax (a missing comma or quote, a "
                    + "trailing comma, or a comment, which JSON does not allow)"));
        } catch (IOException e) {
            throw new ConfigException(new ConfigError(file, "", "cannot read: " + e.getMessage(), null));
        }
    }

    private static Policy build(JsonNode d, String file) throws ConfigException {
        List<ConfigError> errors = new ArrayList<>();
        JsonNode dom = d.path("domains");
        List<String> globs = strings(dom.path("globs"));
        for (int i = 0; i < globs.size(); i++) {
            try {
                globToRegex(globs.get(i));
            } catch (IllegalArgumentException e) {
                errors.add(new ConfigError(file, "/domains/globs/" + i, e.getMessage(), "use '*' and '?' only"));
            }
        }
        Policy.Rpo rpo = null;
        JsonNode r = d.path("rpo");
        if (r.has("interval")) {
            Duration every = Durations.parse(r.get("interval").asText());
            if (every.toSeconds() < 10) {
                errors.add(new ConfigError(file, "/rpo/interval", "an RPO under 10 s cannot be met: a cycle alone takes "
                        + "seconds", "use 10s or more"));
            }
            rpo = new Policy.Rpo(every, null, every);
        } else if (r.has("target")) {
            Duration target = Durations.parse(r.get("target").asText());
            Duration spacing = r.has("minSpacing") ? Durations.parse(r.get("minSpacing").asText())
                    : Policy.Rpo.defaultSpacing(target);
            if (target.toSeconds() < 20) {
                errors.add(new ConfigError(file, "/rpo/target", "an RPO target under 20 s cannot be held: a cycle alone "
                        + "takes seconds, and the next one's cut waits for its acknowledgement", "use 20s or more"));
            } else if (spacing.toSeconds() < 10) {
                errors.add(new ConfigError(file, "/rpo/minSpacing", "cuts less than 10 s apart cost a checkpoint and a "
                        + "backup job each for almost nothing", "use 10s or more"));
            } else if (spacing.compareTo(target.dividedBy(2)) > 0) {
                errors.add(new ConfigError(file, "/rpo/minSpacing", "a spacing of " + Durations.format(spacing)
                        + " leaves less than itself for the point's own transfer within the target "
                        + Durations.format(target), "use at most half the target, e.g. " + Durations.format(
                        Policy.Rpo.defaultSpacing(target))));
            }
            rpo = Policy.Rpo.continuous(target, spacing);
        } else {
            String cron = r.path("cron").asText();
            try {
                CronExpression c = new CronExpression(cron);
                rpo = new Policy.Rpo(null, cron, widestGap(c));
            } catch (ParseException e) {
                errors.add(new ConfigError(file, "/rpo/cron", "Quartz cannot read the cron expression '" + cron + "': "
                        + e.getMessage(), "write six or seven fields, seconds first, with '?' in day-of-month or "
                        + "day-of-week, e.g. \"0 0/15 * * * ?\""));
            } catch (IllegalArgumentException e) {
                errors.add(new ConfigError(file, "/rpo/cron", e.getMessage(), "make it fire at least once a week"));
            }
        }
        WeeklyRate bandwidth = null;
        String bandwidthText = null;
        JsonNode bw = d.path("bandwidth");
        if (bw.isObject()) {
            StringBuilder text = new StringBuilder();
            JsonNode ws = bw.path("windows");
            for (int i = 0; i < ws.size(); i++) {
                JsonNode w = ws.get(i);
                try {
                    WeekWindow.parse(w.get("days").asText(), w.get("from").asText(), w.get("to").asText());
                    text.append(w.get("days").asText()).append(' ').append(w.get("from").asText()).append('-')
                            .append(w.get("to").asText()).append(": ").append(w.get("limit").asText()).append("; ");
                } catch (IllegalArgumentException e) {
                    errors.add(new ConfigError(file, "/bandwidth/windows/" + i, e.getMessage(),
                            "give a window that ends after it starts, e.g. from 08:00 to 18:00"));
                }
            }
            text.append("otherwise ").append(bw.get("limit").asText());
            bandwidthText = text.toString();
            try {
                bandwidth = WeeklyRate.parse(bandwidthText);
            } catch (IllegalArgumentException e) {
                if (errors.isEmpty()) {
                    errors.add(new ConfigError(file, "/bandwidth", e.getMessage(), "write rates like 256kbit or 1mbit"));
                }
            }
        }
        List<WeekWindow> blackouts = new ArrayList<>();
        JsonNode bo = d.path("blackouts");
        for (int i = 0; i < bo.size(); i++) {
            JsonNode w = bo.get(i);
            try {
                blackouts.add(WeekWindow.parse(w.get("days").asText(), w.get("from").asText(), w.get("to").asText()));
            } catch (IllegalArgumentException e) {
                errors.add(new ConfigError(file, "/blackouts/" + i, e.getMessage(),
                        "give a window that ends after it starts; split one that crosses midnight in two"));
            }
        }
        String c = d.path("compression").asText("auto");
        String compression = c.equals("auto") ? null : c; // the schema admits a digit and an optional e
        JsonNode ret = d.path("retention");
        // a continuous target is what the admin holds us to; an interval's point may be up to one more interval late
        Duration alertAfter = rpo == null ? null : rpo.continuous() ? rpo.target() : rpo.target().multipliedBy(2);
        JsonNode al = d.path("alerts");
        if (al.has("rpoMissedAfter")) {
            alertAfter = Durations.parse(al.get("rpoMissedAfter").asText());
            if (rpo != null && alertAfter.compareTo(rpo.target()) < 0) {
                errors.add(new ConfigError(file, "/alerts/rpoMissedAfter", "the alert would fire before a point is even due "
                        + "(RPO " + Durations.format(rpo.target()) + ")", "give at least the RPO, e.g. twice it"));
            }
        }
        Duration verifyEvery = null;
        if (d.path("verify").has("every")) {
            verifyEvery = Durations.parse(d.get("verify").get("every").asText());
            if (verifyEvery.compareTo(Duration.ofSeconds(10)) < 0) {
                errors.add(new ConfigError(file, "/verify/every", "a verify reads the whole replica on the standby; "
                        + Durations.format(verifyEvery) + " is too often", "give at least 10s; a day or a week is usual"));
            }
        }
        Policy.BridgeSource bridge = null;
        if (d.path("source").asText("libvirt").equals("bridge")) {
            JsonNode b = d.get("bridge");
            if (dom.path("names").size() != 1 || dom.has("globs") || dom.has("tag")) {
                errors.add(new ConfigError(file, "/domains", "a bridge policy covers exactly one guest",
                        "give {\"names\": [\"GUEST\"]} and nothing else"));
            }
            Path image = Path.of(b.get("image").asText());
            bridge = new Policy.BridgeSource(image, Path.of(b.get("socket").asText()),
                    b.has("state") ? Path.of(b.get("state").asText())
                            : image.resolveSibling(image.getFileName() + ".amirror"));
        }
        if (!errors.isEmpty()) {
            throw new ConfigException(errors);
        }
        JsonNode sb = d.get("standby");
        return new Policy(d.get("name").asText(), file,
                new Policy.DomainSelector(strings(dom.path("names")), globs, dom.has("tag") ? dom.get("tag").asText() : null),
                new Policy.StandbyTarget(sb.get("address").asText(), sb.get("fingerprint").asText()), rpo, bandwidth,
                bandwidthText, List.copyOf(blackouts), compression, ret.path("keep").asInt(DEFAULT_KEEP),
                Duration.ofDays(ret.path("maxAgeDays").asInt(DEFAULT_KEEP_DAYS)), d.path("quiesce").asBoolean(false),
                alertAfter, strings(al.path("command")), new Policy.ReplicaMapping(stringMap(d.path("replica").path("networks")),
                        stringMap(d.path("replica").path("bridges")), bootCheck(d.path("replica").path("bootCheck"))),
                bridge, verifyEvery, fullReadRate(d.path("fullReadRate").asText("")));
    }

    private static Policy.BootCheck bootCheck(JsonNode n) {
        if (n.isMissingNode()) {
            return null;
        }
        return new Policy.BootCheck(strings(n.path("command")),
                n.has("timeout") ? Durations.parse(n.get("timeout").asText()) : DEFAULT_BOOT_CHECK_TIMEOUT);
    }

    /** {@code "50MiB/s"} in bytes per second, {@code "unlimited"} as 0, absent as the default. The schema checked the form. */
    static long fullReadRate(String text) {
        if (text.isEmpty()) {
            return Policy.DEFAULT_FULL_READ_RATE;
        }
        if (text.equals("unlimited")) {
            return 0;
        }
        var m = Pattern.compile("([0-9]+)(KiB|MiB|GiB)/s").matcher(text);
        if (!m.matches()) {
            throw new IllegalArgumentException("not a read rate: " + text);
        }
        int shift = switch (m.group(2)) {
            case "KiB" -> 10;
            case "MiB" -> 20;
            default -> 30;
        };
        return Long.parseLong(m.group(1)) << shift;
    }

    private static Map<String, String> stringMap(JsonNode n) {
        Map<String, String> m = new TreeMap<>();
        n.fields().forEachRemaining(e -> m.put(e.getKey(), e.getValue().asText()));
        return Map.copyOf(m);
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return List.copyOf(out);
    }

    /** A shell glob ({@code *}, {@code ?}) as an anchored regex; everything else is literal. */
    public static Pattern globToRegex(String glob) {
        if (glob.contains("[") || glob.contains("{")) {
            throw new IllegalArgumentException("'" + glob + "': character classes and braces are not supported");
        }
        StringBuilder b = new StringBuilder();
        for (String part : glob.split("(?=[*?])|(?<=[*?])")) {
            switch (part) {
                case "*" -> b.append(".*");
                case "?" -> b.append('.');
                default -> b.append(Pattern.quote(part));
            }
        }
        return Pattern.compile(b.toString(), Pattern.DOTALL);
    }

    /** The longest time between two consecutive fire times over the next eight days. */
    static Duration widestGap(CronExpression c) {
        Date t = c.getNextValidTimeAfter(new Date());
        if (t == null) {
            throw new IllegalArgumentException("the cron expression '" + c.getCronExpression() + "' never fires again");
        }
        long end = t.getTime() + Duration.ofDays(8).toMillis();
        long widest = 0;
        for (int i = 0; i < 100_000 && t.getTime() < end; i++) {
            Date next = c.getNextValidTimeAfter(t);
            if (next == null) {
                throw new IllegalArgumentException("the cron expression '" + c.getCronExpression() + "' stops firing");
            }
            widest = Math.max(widest, next.getTime() - t.getTime());
            t = next;
        }
        if (widest > Duration.ofDays(7).toMillis()) {
            throw new IllegalArgumentException("the cron expression '" + c.getCronExpression()
                    + "' leaves more than a week between points");
        }
        return Duration.ofMillis(widest);
    }
}
