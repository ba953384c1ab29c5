package io.amirror.standby;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.amirror.state.StateFile;
import io.amirror.transport.ReplicaManifest;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Says whether a started replica's guest is up: waits for its guest agent to answer
 * ({@code guest-ping}), then runs the policy's boot check in the guest ({@code guest-exec} with its
 * output captured, then {@code guest-exec-status} until it exits), again every
 * {@link #CHECK_RETRY} while it fails (the agent answers before the services are up), all within
 * the check's timeout from the start. The outcome ({@link Report}) is the replica's {@code boot-check.json}, which
 * {@code amirror replicas} shows; the standby's log has it too.
 *
 * <p>Run by {@code amirror failover} after its start, and by the standby daemon for a replica the
 * hook promoted ({@code virsh start}). The command comes from the primary's policy and runs in the
 * tenant's own guest, never on the standby's host; what it prints is kept clipped.
 */
public final class GuestUp {
    private static final Logger log = LoggerFactory.getLogger(GuestUp.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Without a policy check, how long a start waits for the agent. */
    public static final Duration DEFAULT_WAIT = Duration.ofMinutes(10);
    static final int OUTPUT_KEPT = 4096;
    /** How long a failing boot check waits before it runs again. */
    static final Duration CHECK_RETRY = Duration.ofSeconds(5);

    /**
     * A start's outcome. {@code agentSeconds}: from the start to the agent's first answer (null: it
     * never answered); {@code exitCode}, {@code output}: the check's (null: none ran);
     * {@code passed}: the agent answered and the check, if any, exited 0.
     */
    public record Report(int point, String startedAt, String checkedAt, Double agentSeconds, List<String> command,
                         Integer exitCode, String output, boolean passed, String summary) {
    }

    static final StateFile<Report> FILE = StateFile.of("boot check", Report.class, 1);

    private final Domain domain;
    private final String label;
    private final Consumer<String> say;

    GuestUp(Domain domain, String label, Consumer<String> say) {
        this.domain = domain;
        this.label = label;
        this.say = say;
    }

    /**
     * Checks a domain started at {@code startedAt} (a drill's, which has no replica files of its
     * own): its agent within {@code timeout} of the start, then {@code command} if not empty.
     */
    public static Report check(Domain domain, String label, int point, Instant startedAt, List<String> command,
                               Duration timeout, Consumer<String> say) {
        return new GuestUp(domain, label, say).check(point, startedAt,
                Optional.of(new ReplicaManifest.BootCheck(command, Math.max(1, timeout.toSeconds()))));
    }

    /** Whether {@code domain}'s definition has the guest agent's channel. */
    public static boolean hasAgentChannel(Domain domain) throws LibvirtException {
        return new GuestUp(domain, "", s -> { }).hasAgentChannel();
    }

    /** The last start's outcome of {@code d}, if one was checked. */
    public static Optional<Report> last(ReplicaDomain d) throws IOException {
        return FILE.read(d.files().bootCheck());
    }

    static void record(ReplicaDomain d, Report r) throws IOException {
        FILE.write(d.files().bootCheck(), r);
    }

    /**
     * {@link #check} for replica {@code d}, recorded: first as under way (so the standby daemon does
     * not check the same start again meanwhile), then its outcome.
     */
    Report checkAndRecord(ReplicaDomain d, int point, Instant startedAt) throws IOException {
        Optional<ReplicaManifest.BootCheck> c = d.manifest().map(ReplicaManifest::bootCheck);
        record(d, new Report(point, startedAt.toString(), null, null, c.map(ReplicaManifest.BootCheck::command)
                .orElse(List.of()), null, null, false, "checking: waiting for the guest agent"));
        Report r = check(point, startedAt, c);
        record(d, r);
        return r;
    }

    /**
     * Checks the guest started at {@code startedAt} from point {@code point}, with the manifest's
     * check (or only the agent when there is none), and returns what it found.
     */
    Report check(int point, Instant startedAt, Optional<ReplicaManifest.BootCheck> check) {
        Duration budget = check.map(c -> Duration.ofSeconds(c.timeoutSeconds())).orElse(DEFAULT_WAIT);
        Instant deadline = startedAt.plus(budget);
        List<String> command = check.map(ReplicaManifest.BootCheck::command).orElse(List.of());
        Double agentSeconds = null;
        Integer exit = null;
        String output = null;
        String summary;
        try {
            if (!hasAgentChannel()) {
                // nothing can answer: say so at once instead of waiting out the timeout
                summary = "started; it has no guest agent channel, so nothing says when it is up"
                        + (command.isEmpty() ? "" : ", and the boot check " + command.get(0) + " cannot run");
                say.accept(label + ": " + summary);
                return new Report(point, startedAt.toString(), Instant.now().toString(), null, command, null, null,
                        command.isEmpty(), summary);
            }
            say.accept(label + ": waiting up to " + Duration.between(Instant.now(), deadline).toSeconds()
                    + " s for the guest agent to answer");
            Optional<Instant> answered = waitForAgent(deadline);
            if (answered.isEmpty()) {
                summary = running() ? "the guest agent did not answer within " + budget.toSeconds() + " s of the start"
                        : "the domain stopped before its guest agent answered";
            } else {
                agentSeconds = Math.max(0, Duration.between(startedAt, answered.get()).toMillis() / 1000.0);
                say.accept(label + String.format(": the guest agent answered %.0f s after the start", agentSeconds));
                if (command.isEmpty()) {
                    summary = String.format("up: the guest agent answered %.0f s after the start", agentSeconds);
                } else {
                    // the agent comes up before the services it is asked about (a database still in
                    // crash recovery): a failing check is run again until it passes or time is up
                    int attempts = 0;
                    Exec e;
                    do {
                        e = exec(command, deadline);
                        attempts++;
                    } while (e.exitCode() != null && e.exitCode() != 0 && running()
                            && Instant.now().plus(CHECK_RETRY).isBefore(deadline) && pause(CHECK_RETRY));
                    exit = e.exitCode();
                    output = e.output();
                    String tries = attempts == 1 ? "" : " (attempt " + attempts + ")";
                    summary = e.exitCode() == null ? "the check " + command.get(0) + " did not end within "
                            + budget.toSeconds() + " s of the start"
                            : e.exitCode() == 0 ? String.format("up: the agent answered %.0f s after the start, %s passed%s",
                            agentSeconds, command.get(0), tries)
                            : "the check " + command.get(0) + " still failed with exit status " + e.exitCode()
                            + " after " + attempts + (attempts == 1 ? " attempt" : " attempts") + " within "
                            + budget.toSeconds() + " s of the start";
                }
            }
        } catch (LibvirtException | IOException e) {
            summary = "the check could not run: " + e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            summary = "the check was interrupted";
        }
        boolean passed = agentSeconds != null && (command.isEmpty() || Integer.valueOf(0).equals(exit));
        say.accept(label + ": " + summary);
        if (passed) {
            log.info("{}: {}", label, summary);
        } else {
            log.error("{}: {}", label, summary);
        }
        return new Report(point, startedAt.toString(), Instant.now().toString(), agentSeconds, command, exit, output,
                passed, summary);
    }

    private static boolean pause(Duration d) throws InterruptedException {
        Thread.sleep(d.toMillis());
        return true;
    }

    private boolean hasAgentChannel() throws LibvirtException {
        return domain.getXMLDesc(0).contains(DefinitionBuilder.GUEST_AGENT);
    }

    private boolean running() {
        try {
            return domain.isActive() == 1;
        } catch (LibvirtException e) {
            return false;
        }
    }

    private Optional<Instant> waitForAgent(Instant deadline) throws InterruptedException {
        while (Instant.now().isBefore(deadline)) {
            if (!running()) {
                return Optional.empty();
            }
            try {
                domain.qemuAgentCommand("{\"execute\":\"guest-ping\"}", 5, 0);
                return Optional.of(Instant.now());
            } catch (LibvirtException notYet) {
                Thread.sleep(2000); // the agent is not up yet (or has no channel: the deadline ends the wait)
            }
        }
        return Optional.empty();
    }

    private record Exec(Integer exitCode, String output) {
    }

    private Exec exec(List<String> command, Instant deadline) throws LibvirtException, IOException, InterruptedException {
        ObjectNode req = JSON.createObjectNode().put("execute", "guest-exec");
        ObjectNode args = req.putObject("arguments");
        args.put("path", command.get(0));
        var argv = args.putArray("arg");
        command.subList(1, command.size()).forEach(argv::add);
        args.put("capture-output", true);
        JsonNode started = JSON.readTree(domain.qemuAgentCommand(JSON.writeValueAsString(req), 10, 0));
        long pid = started.path("return").path("pid").asLong(-1);
        if (pid < 0) {
            throw new IOException("the agent started no process: " + clip(started.toString()));
        }
        String status = "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":" + pid + "}}";
        while (Instant.now().isBefore(deadline)) {
            JsonNode r = JSON.readTree(domain.qemuAgentCommand(status, 10, 0)).path("return");
            if (r.path("exited").asBoolean(false)) {
                String out = decode(r.path("out-data").asText("")) + decode(r.path("err-data").asText(""));
                return new Exec(r.path("exitcode").isMissingNode() ? -1 : r.path("exitcode").asInt(), clip(out));
            }
            Thread.sleep(1000);
        }
        return new Exec(null, null);
    }

    private static String decode(String b64) {
        try {
            return new String(Base64.getDecoder().decode(b64), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return "";
        }
    }

    /** What a guest printed, made safe to show: printable, at most {@link #OUTPUT_KEPT} characters. */
    static String clip(String s) {
        String t = s.replaceAll("[^\\x20-\\x7e\\n\\t]", "?");
        return t.length() > OUTPUT_KEPT ? t.substring(0, OUTPUT_KEPT) + "…" : t;
    }
}
