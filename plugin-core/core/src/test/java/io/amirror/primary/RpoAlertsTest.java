package io.amirror.primary;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The alert watch with a real alert command (a shell script that appends its environment to a
 * file): a target the link cannot hold alerts once, before the RPO is missed; a miss before the
 * first point says how far the first copy is.
 */
class RpoAlertsTest {

    @Test
    void aTargetTheLinkCannotHoldAndAMissBeforeTheFirstPointRunTheCommandOnceEach(@TempDir Path dir) throws Exception {
        Path got = dir.resolve("alerts.txt");
        Path policies = Files.createDirectories(dir.resolve("policies.d"));
        Files.writeString(policies.resolve("p.json"), "{\"name\": \"p\", \"domains\": {\"names\": [\"web\", \"db\"]}, "
                + "\"standby\": {\"address\": \"10.0.0.2:10809\", \"fingerprint\": \"sha256:" + "ab".repeat(32) + "\"}, "
                + "\"rpo\": {\"target\": \"1m\"}, \"alerts\": {\"command\": [\"/bin/sh\", \"-c\", "
                + "\"echo \\\"$AMIRROR_EVENT|$AMIRROR_DOMAIN|$AMIRROR_MESSAGE\\\" >> " + got + "\"]}}");
        PolicySet set = new PolicySet(policies);
        assertEquals(List.of(), set.reload());
        DomainStatus web = new DomainStatus("web");
        web.assign("p", "10.0.0.2:10809", Duration.ofMinutes(1), Duration.ofMinutes(1), Duration.ofSeconds(10));
        Instant now = Instant.now();
        web.acknowledged(1, now.minusSeconds(45), now.minusSeconds(5), "CRASH", 1000); // 40 s cut to ack: 80 s exposed
        DomainStatus db = new DomainStatus("db");
        db.assign("p", "10.0.0.2:10809", Duration.ofMinutes(1), Duration.ofMinutes(1), Duration.ofSeconds(10));
        // an interval schedule's point is always exposed for its interval plus its cycle: within twice the
        // interval (its alert threshold) that is no alert
        DomainStatus files = new DomainStatus("files");
        files.assign("p", "10.0.0.2:10809", Duration.ofMinutes(1), Duration.ofMinutes(2), Duration.ofMinutes(1));
        files.acknowledged(1, now.minusSeconds(20), now.minusSeconds(10), "CRASH", 1000);
        // a point known from the state directory without its cut time: its age is unknown, never a crash
        DomainStatus old = new DomainStatus("old");
        old.assign("p", "10.0.0.2:10809", Duration.ofMinutes(1), Duration.ofMinutes(1), Duration.ofSeconds(10));
        old.known("5eed0000-0000-4000-8000-000000000009", 7, null);
        RpoAlerts alerts = new RpoAlerts(() -> List.of(web, db, files, old), set, now.minusSeconds(120)); // db: no point in 2 min
        try {
            alerts.check();
            alerts.check(); // once per transition
            String lines = awaitLines(got, 3);
            assertTrue(lines.contains("rpo-unsustainable|web|RPO target of web cannot be held now: about 80 s of writes "
                    + "could be lost (the last points took up to 40 s from cut to acknowledgement), beyond the alert "
                    + "threshold of 60 s"), lines);
            assertTrue(lines.contains("rpo-missed|db|RPO missed for db: the standby has no point yet: the first copy has "
                    + "not started yet; alert threshold 60 s"), lines);
            assertTrue(lines.contains("rpo-missed|old|RPO missed for old: newest point on the standby is of unknown age"),
                    lines);
            assertEquals(3, lines.strip().lines().count(), "nothing for files: " + lines);
        } finally {
            alerts.shutdown();
        }
    }

    private static String awaitLines(Path file, int n) throws Exception {
        for (int i = 0; i < 100; i++) {
            if (Files.exists(file) && Files.readString(file).strip().lines().count() >= n) {
                Thread.sleep(300); // a third line, if one were coming
                return Files.readString(file);
            }
            Thread.sleep(100);
        }
        return Files.exists(file) ? Files.readString(file) : "";
    }
}
