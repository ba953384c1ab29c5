package io.amirror.libvirt;

import io.amirror.util.AtomicFiles;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

/**
 * Installs amirror's qemu hook script (from the libvirt-hooks module) into libvirt's hook
 * directory, and its settings file. libvirtd looks for qemu hook scripts when it starts: when there
 * was none before, it must be restarted once to run this one.
 */
public final class LibvirtHook {
    public static final Path HOOKS_DIR = Path.of("/etc/libvirt/hooks");
    public static final Path CONF = Path.of("/etc/amirror/hook.conf");
    private static final String RESOURCE = "/io/amirror/hooks/amirror";
    /** The line every version of amirror's hook script starts with after its shebang: how an installed one is recognised. */
    static final String MARKER = "# amirror's libvirt hook for QEMU domains.";
    private static final Path SYSTEMD_RUNTIME = Path.of("/run/systemd/system");

    /** Where the hook went, and whether libvirtd has to be restarted to see it. */
    public record Installed(Path script, Path conf, boolean restartLibvirtd) {
    }

    private LibvirtHook() {
    }

    public static String script() throws IOException {
        try (InputStream in = LibvirtHook.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IOException("the hook script " + RESOURCE + " is not on the class path");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /**
     * Writes {@code hooksDir/qemu.d/amirror} (mode 0755) and {@code conf}, which tells the hook the
     * primary's state directory and the amirror command. Values are written as data lines; the
     * hook never executes them.
     */
    public static Installed install(Path hooksDir, Path conf, Path primaryState, Path amirror) throws IOException {
        Path dir = hooksDir.resolve("qemu.d");
        Path script = dir.resolve("amirror");
        // libvirtd notes at start whether a qemu hook exists; a first script needs a restart to run
        boolean first = !Files.exists(script) && !hasOtherScripts(dir) && !Files.exists(hooksDir.resolve("qemu"));
        Files.createDirectories(dir);
        writeScript(script);
        writeConf(conf, primaryState, amirror);
        return new Installed(script, conf, first);
    }

    /**
     * Installs the script as the single {@code hooksDir/qemu}, for a libvirt without {@code qemu.d}
     * (before 6.5); refuses to replace another tool's qemu hook.
     */
    public static Installed installSingleFile(Path hooksDir, Path conf, Path primaryState, Path amirror) throws IOException {
        Path script = hooksDir.resolve("qemu");
        boolean first = !Files.exists(script);
        if (!first && !Files.readString(script).equals(script())) {
            throw new IOException(script + " is another qemu hook; merge amirror's ('amirror hook show') into it by hand, "
                    + "or use qemu.d");
        }
        Files.createDirectories(hooksDir);
        writeScript(script);
        writeConf(conf, primaryState, amirror);
        return new Installed(script, conf, first);
    }

    /** What {@link #uninstall} removed, and whether libvirtd must be restarted to stop looking for the hook. */
    public record Removed(List<Path> files, boolean restartLibvirtd) {
    }

    /**
     * Removes amirror's hook ({@code hooksDir/qemu.d/amirror}, or the single {@code hooksDir/qemu}
     * when it is amirror's) and its settings file. A script at amirror's path that is not amirror's
     * (no {@link #MARKER}) is refused before anything is removed; another tool's {@code qemu} hook is
     * left alone. Removing nothing is not an error: the result then lists no file.
     */
    public static Removed uninstall(Path hooksDir, Path conf) throws IOException {
        Path inDir = hooksDir.resolve("qemu.d").resolve("amirror");
        Path single = hooksDir.resolve("qemu");
        if (Files.exists(inDir, java.nio.file.LinkOption.NOFOLLOW_LINKS) && !isOurs(inDir)) {
            throw new IOException(inDir + " is not amirror's hook (no line '" + MARKER + "'); remove it by hand if it "
                    + "should go");
        }
        List<Path> removed = new ArrayList<>();
        boolean restart = false;
        if (Files.deleteIfExists(inDir)) {
            removed.add(inDir);
        }
        if (Files.isRegularFile(single, java.nio.file.LinkOption.NOFOLLOW_LINKS) && isOurs(single)) {
            Files.delete(single);
            removed.add(single);
            restart = true; // libvirtd keeps calling its single hook path until it starts again
        }
        if (Files.deleteIfExists(conf)) {
            removed.add(conf);
        }
        return new Removed(List.copyOf(removed), restart);
    }

    /** How to restart libvirtd on this host: with systemctl where systemd runs, else by hand. */
    public static String restartAdvice() {
        return Files.isDirectory(SYSTEMD_RUNTIME) ? "systemctl restart libvirtd"
                : "this host runs no systemd: stop libvirtd (kill $(pidof libvirtd)) and start it again (libvirtd -d)";
    }

    private static boolean isOurs(Path script) throws IOException {
        if (!Files.isRegularFile(script, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return false;
        }
        try (var lines = Files.lines(script, StandardCharsets.ISO_8859_1)) {
            return lines.limit(3).anyMatch(MARKER::equals);
        }
    }

    private static void writeScript(Path script) throws IOException {
        AtomicFiles.write(script, script().getBytes(StandardCharsets.UTF_8));
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    private static void writeConf(Path conf, Path primaryState, Path amirror) throws IOException {
        for (Path p : new Path[] {primaryState, amirror}) {
            if (p.toString().contains("\n")) {
                throw new IllegalArgumentException("a path with a newline cannot go into " + conf + ": " + p);
            }
        }
        Files.createDirectories(conf.getParent());
        AtomicFiles.write(conf, ("# amirror's libvirt hook: KEY=VALUE lines, read as data\nprimary_state=" + primaryState
                + "\namirror=" + amirror + "\n").getBytes(StandardCharsets.UTF_8));
    }

    private static boolean hasOtherScripts(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        try (var s = Files.list(dir)) {
            return s.anyMatch(Files::isExecutable);
        }
    }
}
