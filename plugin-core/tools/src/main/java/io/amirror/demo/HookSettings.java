package io.amirror.demo;

import io.amirror.lab.AmirrorProcess;
import io.amirror.lab.Lab;
import io.amirror.libvirt.LibvirtHook;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The host's libvirt hook settings as the demo found them. The demo installs amirror's hook for
 * its own primary state directory (so domain events reach its daemon and the replica's
 * {@code virsh start} is promoted), and {@link #restore()} puts the host's settings back.
 */
record HookSettings(Optional<byte[]> conf, boolean hadScript) {

    private static Path script() {
        return LibvirtHook.HOOKS_DIR.resolve("qemu.d").resolve("amirror");
    }

    /** Saves the host's settings, then installs the hook for {@code primaryState}; restarts libvirtd if it must. */
    static HookSettings install(Lab lab, Path primaryState, Path launcherDir) throws IOException {
        HookSettings saved = new HookSettings(Files.exists(LibvirtHook.CONF)
                ? Optional.of(Files.readAllBytes(LibvirtHook.CONF)) : Optional.empty(), Files.exists(script()));
        var installed = LibvirtHook.install(LibvirtHook.HOOKS_DIR, LibvirtHook.CONF, primaryState,
                AmirrorProcess.launcher(launcherDir.resolve("amirror")));
        if (installed.restartLibvirtd()) {
            lab.restartLibvirtd(); // libvirtd looks for hooks when it starts
        }
        return saved;
    }

    void restore() throws IOException {
        if (!hadScript) {
            Files.deleteIfExists(script());
        }
        if (conf.isPresent()) {
            Files.write(LibvirtHook.CONF, conf.get());
        } else {
            Files.deleteIfExists(LibvirtHook.CONF);
        }
    }
}
