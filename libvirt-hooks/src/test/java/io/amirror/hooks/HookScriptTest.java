package io.amirror.hooks;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The hook script run by /bin/sh as libvirt runs it: arguments, XML on stdin, no environment but a
 * test's configuration file. Domain names are hostile; nothing they contain may run or land outside
 * the event file.
 */
class HookScriptTest {
    static final Path SCRIPT = Path.of("src/main/hook/amirror").toAbsolutePath();
    static final String XML = "<domain type='qemu'>\n  <name>x</name>\n</domain>\n";
    static final List<String> HOSTILE = List.of("plain", "with spaces", "it's \"quoted\"", "$(touch PWNED)",
            "`touch PWNED`", "a;touch PWNED", "new\nline", "-rf", "*", "../../escape", "tab\there", "ünïcödé");

    @TempDir
    Path dir;
    Path state;
    Path conf;
    Path calls;

    @BeforeEach
    void setUp() throws IOException {
        state = dir.resolve("state");
        Files.createDirectories(state.resolve("events"));
        calls = dir.resolve("calls");
        // stands in for the amirror command: records its arguments and stdin, answers as told
        Path fake = dir.resolve("fake-amirror");
        Files.writeString(fake, "#!/bin/sh\nprintf '%s\\n' \"$@\" > '" + calls + ".args'\ncat > '" + calls
                + ".stdin'\necho 'refused: not at a consistent point' >&2\nexit ${FAKE_EXIT:-0}\n");
        Files.setPosixFilePermissions(fake, PosixFilePermissions.fromString("rwxr-xr-x"));
        conf = dir.resolve("hook.conf");
        Files.writeString(conf, "# comment\nprimary_state=" + state + "\namirror=" + fake + "\nunknown=$(touch PWNED)\n");
    }

    record Run(int exit, String stderr, long millis) {
    }

    Run hook(String stdin, String fakeExit, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("/bin/sh", SCRIPT.toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile());
        pb.environment().clear();
        pb.environment().put("PATH", "/usr/bin:/bin");
        pb.environment().put("AMIRROR_HOOK_CONF", conf.toString());
        if (fakeExit != null) {
            pb.environment().put("FAKE_EXIT", fakeExit);
        }
        long t0 = System.nanoTime();
        Process p = pb.start();
        try (var in = p.getOutputStream()) {
            in.write(stdin.getBytes(StandardCharsets.UTF_8));
        } catch (IOException hookDidNotRead) {
            // a hook with nothing to do may exit before reading its stdin, as it may under libvirt
        }
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the hook must never hang libvirtd");
        return new Run(p.exitValue(), new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8),
                (System.nanoTime() - t0) / 1_000_000);
    }

    List<Path> events() throws IOException {
        try (Stream<Path> s = Files.list(state.resolve("events"))) {
            return s.sorted().toList();
        }
    }

    @Test
    void eventsAreQueuedExactlyWhateverTheNameHolds() throws Exception {
        long slowest = 0;
        for (String name : HOSTILE) {
            Run r = hook(XML, null, name, "release", "end", "-");
            assertEquals(0, r.exit(), r.stderr());
            slowest = Math.max(slowest, r.millis());
            List<Path> ev = events();
            assertEquals(1, ev.size(), name + ": " + ev);
            assertTrue(ev.get(0).getFileName().toString().matches("[0-9]+-[0-9]+\\.event"), ev.toString());
            assertArrayEquals(("release\0end\0" + name + "\0" + XML).getBytes(StandardCharsets.UTF_8),
                    Files.readAllBytes(ev.get(0)), name);
            Files.delete(ev.get(0));
        }
        assertFalse(Files.exists(dir.resolve("PWNED")), "a domain name ran a command");
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of("fake-amirror", "hook.conf", "state"),
                    s.map(p -> p.getFileName().toString()).sorted().toList(), "nothing but the event was written");
        }
        System.out.println("hook: slowest event queued in " + slowest + " ms (including /bin/sh start)");
    }

    @Test
    void everyDomainEventIsQueuedInOrderAndOthersAreIgnored() throws Exception {
        for (String[] ev : new String[][] {{"started", "begin"}, {"migrate", "begin"}, {"restore", "begin"},
                {"reconnect", "begin"}, {"stopped", "end"}, {"release", "end"}}) {
            assertEquals(0, hook(XML, null, "vm", ev[0], ev[1], "-").exit());
        }
        assertEquals(0, hook(XML, null, "vm", "start", "begin", "-").exit());
        assertEquals(0, hook(XML, null, "vm", "attach", "begin", "-").exit());
        assertEquals(0, hook("", null).exit(), "no arguments at all");
        List<String> ops = new ArrayList<>();
        for (Path p : events()) {
            ops.add(Files.readString(p).split("\0")[0]);
        }
        assertEquals(List.of("started", "migrate", "restore", "reconnect", "stopped", "release"), ops);
    }

    @Test
    void withTheDaemonDownTheEventWaitsOnDiskAndWithoutAPrimaryNothingHappens() throws Exception {
        // nobody reads the queue: the hook still returns at once, and the event is there for later
        Run r = hook(XML, null, "vm", "started", "begin", "-");
        assertEquals(0, r.exit());
        assertTrue(r.millis() < 5_000, r.millis() + " ms");
        assertEquals(1, events().size());
        // a host with no primary state directory: nothing queued, libvirt goes on
        Files.writeString(conf, "primary_state=" + dir.resolve("nowhere") + "\n");
        assertEquals(0, hook(XML, null, "vm", "started", "begin", "-").exit());
        assertFalse(Files.exists(dir.resolve("nowhere")));
    }

    @Test
    void prepareRunsAmirrorOnlyForReplicasAndPassesItsAnswerToLibvirt() throws Exception {
        // an ordinary domain starts without amirror being asked
        assertEquals(0, hook(XML, "1", "vm", "prepare", "begin", "-").exit());
        assertFalse(Files.exists(Path.of(calls + ".args")));
        String replica = "<domain><name>it's $(x)</name><metadata><amirror:replica "
                + "xmlns:amirror=\"https://amirror.io/libvirt/replica/1\" source=\"u\" state=\"/s\"/></metadata></domain>";
        Run ok = hook(replica, "0", "it's $(x)", "prepare", "begin", "-");
        assertEquals(0, ok.exit(), ok.stderr());
        assertEquals("replica\nprepare\n--wait\n150\n", Files.readString(Path.of(calls + ".args")),
                "the name is not an argument");
        assertEquals(replica + "\n", Files.readString(Path.of(calls + ".stdin")));
        Run refused = hook(replica, "6", "vm", "prepare", "begin", "-");
        assertEquals(6, refused.exit(), "a refusal stops the start");
        assertTrue(refused.stderr().contains("not at a consistent point"), refused.stderr());
        // other phases of a replica's start do not ask again
        Files.delete(Path.of(calls + ".args"));
        assertEquals(0, hook(replica, "1", "vm", "prepare", "end", "-").exit());
        assertFalse(Files.exists(Path.of(calls + ".args")));
        // no amirror to ask: a replica must not start unprepared
        Files.writeString(conf, "amirror=" + dir.resolve("missing") + "\n");
        Run missing = hook(replica, null, "vm", "prepare", "begin", "-");
        assertEquals(1, missing.exit());
        assertTrue(missing.stderr().contains("missing"), missing.stderr());
        assertTrue(events().isEmpty(), "prepare is not queued");
    }

    @Test
    void aDomainSwitchedOverToItsStandbyDoesNotStartHereToo() throws Exception {
        String domain = "<domain><name>files</name>\n  <uuid>5eed0000-0000-4000-8000-000000000001</uuid>\n</domain>";
        assertEquals(0, hook(domain, null, "files", "prepare", "begin", "-").exit(), "not switched over: it starts");
        Files.createDirectories(state.resolve("switched"));
        Files.writeString(state.resolve("switched").resolve("5eed0000-0000-4000-8000-000000000001.json"), "{}");
        Run refused = hook(domain, null, "files", "prepare", "begin", "-");
        assertEquals(1, refused.exit(), "libvirt refuses the start");
        assertTrue(refused.stderr().contains("switched over to its standby"), refused.stderr());
        assertEquals(0, hook(domain.replace("000000000001", "000000000002"), null, "other", "prepare", "begin", "-").exit(),
                "another domain starts");
        // the way back starts the domain here as the back standby's replica: that start is the replica's
        String back = "<domain><name>files</name><uuid>5eed0000-0000-4000-8000-000000000001</uuid><metadata><amirror:replica "
                + "xmlns:amirror=\"https://amirror.io/libvirt/replica/1\" source=\"u\" state=\"/s\"/></metadata></domain>";
        assertEquals(0, hook(back, "0", "files", "prepare", "begin", "-").exit());
    }

    static final String REPLICA = "<domain><name>r</name><metadata><amirror:replica "
            + "xmlns:amirror=\"https://amirror.io/libvirt/replica/1\" source=\"u\" state=\"/s\"/></metadata></domain>";

    @Test
    void aReplicaSeenRunningIsRecordedAndAFailedStartReleasedWithoutEverFailingLibvirt() throws Exception {
        // started begin: recorded with amirror, and queued for a primary like any domain's
        Run started = hook(REPLICA, "5", "r", "started", "begin", "-");
        assertEquals(0, started.exit(), "a failure to record must not stop a guest that runs");
        assertTrue(started.stderr().contains("finds it later"), started.stderr());
        assertEquals("replica\nstarted\n--wait\n150\n", Files.readString(Path.of(calls + ".args")));
        assertEquals(REPLICA + "\n", Files.readString(Path.of(calls + ".stdin")));
        assertEquals(1, events().size(), "the event is queued as well");
        // release end: a start that failed is a replica again
        Files.delete(Path.of(calls + ".args"));
        assertEquals(0, hook(REPLICA, "0", "r", "release", "end", "-").exit());
        assertEquals("replica\nreleased\n--wait\n150\n", Files.readString(Path.of(calls + ".args")));
        // no other phase asks, and an ordinary domain never does
        Files.delete(Path.of(calls + ".args"));
        assertEquals(0, hook(REPLICA, "0", "r", "stopped", "end", "-").exit());
        assertEquals(0, hook(XML, "0", "vm", "started", "begin", "-").exit());
        assertEquals(0, hook(XML, "0", "vm", "release", "end", "-").exit());
        assertFalse(Files.exists(Path.of(calls + ".args")));
    }

    @Test
    void theWaitComesFromTheConfigurationAndOnlyDigitsReachTheCommand() throws Exception {
        Files.writeString(conf, Files.readString(conf) + "replica_wait=30\n");
        assertEquals(0, hook(REPLICA, "0", "r", "prepare", "begin", "-").exit());
        assertEquals("replica\nprepare\n--wait\n30\n", Files.readString(Path.of(calls + ".args")));
        Files.writeString(conf, Files.readString(conf) + "replica_wait=1;touch PWNED\n");
        assertEquals(0, hook(REPLICA, "0", "r", "prepare", "begin", "-").exit());
        assertEquals("replica\nprepare\n--wait\n150\n", Files.readString(Path.of(calls + ".args")));
        assertFalse(Files.exists(dir.resolve("PWNED")));
    }
}
