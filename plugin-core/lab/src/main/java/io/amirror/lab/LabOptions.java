package io.amirror.lab;

import io.amirror.util.Exec;

import java.nio.file.Path;
import java.time.Duration;

/**
 * How the lab finds and prepares the host.
 *
 * @param workDir        where kits, images and sockets live; QEMU (user libvirt-qemu) must reach it
 * @param searchPath     PATH-style list of directories searched for host tools
 * @param installMissing install missing Debian packages with apt-get (needs root)
 * @param bootTimeout    how long a guest may take from start to its console prompt
 * @param libvirtUri     the libvirt connection the lab's domains live on
 */
public record LabOptions(Path workDir, String searchPath, boolean installMissing, Duration bootTimeout,
                         String libvirtUri) {

    public static final Path DEFAULT_WORK_DIR = Path.of("/var/lib/libvirt/images/amirror-lab");
    public static final String DEFAULT_SEARCH_PATH = Exec.SYSTEM_PATH;

    public static LabOptions defaults() {
        return new LabOptions(DEFAULT_WORK_DIR, DEFAULT_SEARCH_PATH, true, Duration.ofSeconds(180), "qemu:///system");
    }

    public LabOptions withSearchPath(String path) {
        return new LabOptions(workDir, path, installMissing, bootTimeout, libvirtUri);
    }

    public LabOptions withInstallMissing(boolean install) {
        return new LabOptions(workDir, searchPath, install, bootTimeout, libvirtUri);
    }

    public LabOptions withWorkDir(Path dir) {
        return new LabOptions(dir, searchPath, installMissing, bootTimeout, libvirtUri);
    }
}
