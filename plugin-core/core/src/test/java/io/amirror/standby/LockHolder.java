package io.amirror.standby;

import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Another process holding a file lock as a standby's receive does (fcntl), until killed; prints "held". */
public final class LockHolder {
    private LockHolder() {
    }

    public static void main(String[] args) throws Exception {
        try (FileChannel ch = FileChannel.open(Path.of(args[0]), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             var lock = ch.lock()) {
            ch.write(java.nio.ByteBuffer.wrap("pid 1, since then: receiving vda 1->2 from the test".getBytes()), 0);
            System.out.println("held");
            System.out.flush();
            Thread.sleep(60_000);
        }
    }

    /** Starts the holder of {@code file} and returns once it holds the lock. */
    static Process start(Path file) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), LockHolder.class.getName(),
                file.toString()).redirectErrorStream(true).start();
        byte[] line = new byte[5];
        int n = p.getInputStream().readNBytes(line, 0, 5);
        if (n != 5 || !new String(line).equals("held\n")) {
            p.destroyForcibly();
            throw new IllegalStateException("the lock holder did not start: " + new String(line, 0, n));
        }
        return p;
    }
}
