package io.amirror.util;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ExecTest {

    @Test
    void capturesOutputAndExitCode() {
        Exec.Result r = Exec.run(Duration.ofSeconds(10), "sh", "-c", "echo out; echo err >&2; exit 7");
        assertEquals(7, r.exitCode());
        assertEquals("out\n", r.stdout());
        assertEquals("err\n", r.stderr());
        Exec.ExecFailedException e = assertThrows(Exec.ExecFailedException.class, r::orThrow);
        assertTrue(e.getMessage().contains("exited with 7: err"), e.getMessage());
    }

    @Test
    void killsACommandPastItsDeadline() {
        long t0 = System.nanoTime();
        Exec.ExecTimeoutException e = assertThrows(Exec.ExecTimeoutException.class,
                () -> Exec.run(Duration.ofMillis(500), "sh", "-c", "sleep 30 & wait"));
        assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(10).toNanos(), "returned promptly");
        assertTrue(e.getMessage().contains("did not finish within"), e.getMessage());
    }

    @Test
    void standardInputIsClosedSoPromptsFail() {
        Exec.Result r = Exec.run(Duration.ofSeconds(10), "sh", "-c", "read x; echo \"got[$x] $?\"");
        assertEquals("got[] 1\n", r.stdout());
    }
}
