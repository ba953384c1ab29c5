package io.amirror.demo;

import java.io.PrintStream;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * What the demo set up, undone in reverse order exactly once: at the end of the run, or from a JVM
 * shutdown hook when the run is interrupted (Ctrl-C, SIGTERM). A Java {@code finally} does not run
 * when the JVM exits on a signal, so everything the demo creates outside its own memory (processes,
 * network namespaces, libvirt domains, the host's hook settings, directories) is registered here as
 * soon as it exists.
 */
final class Teardown implements AutoCloseable {

    /** One step of the teardown; it may throw, and the others still run. */
    interface Step {
        void run() throws Exception;
    }

    private record Named(String what, Step step) {
    }

    private final Deque<Named> steps = new ArrayDeque<>();
    private final PrintStream out;
    private final Thread hook;
    private boolean done;

    Teardown(PrintStream out) {
        this.out = out;
        this.hook = new Thread(this::interrupted, "demo-teardown");
        Runtime.getRuntime().addShutdownHook(hook);
    }

    /** Registers {@code step}, to run before every step registered earlier. */
    synchronized void add(String what, Step step) {
        if (done) {
            throw new IllegalStateException("the demo is being torn down");
        }
        steps.push(new Named(what, step));
    }

    private void interrupted() {
        synchronized (this) {
            if (done) {
                return;
            }
        }
        out.println();
        out.println("demo: interrupted; cleaning up");
        runAll();
    }

    private synchronized void runAll() {
        if (done) {
            return;
        }
        done = true;
        while (!steps.isEmpty()) {
            Named n = steps.pop();
            try {
                n.step().run();
            } catch (Exception | Error e) {
                out.println("demo: could not remove " + n.what() + ": " + e);
            }
        }
    }

    @Override
    public void close() {
        runAll();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook is running or has run: nothing left to remove
        }
    }
}
