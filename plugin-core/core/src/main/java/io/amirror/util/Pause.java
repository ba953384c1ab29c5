package io.amirror.util;

/** Sleeping in poll loops without swallowing interrupts. */
public final class Pause {
    private Pause() {
    }

    /** Sleeps; on interrupt restores the flag and throws, so a poll loop ends instead of spinning. */
    public static void millis(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting", e);
        }
    }
}
