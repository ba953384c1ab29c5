package io.amirror.lab;

import io.amirror.config.StandbyConfig;
import io.amirror.image.DiskImage;
import io.amirror.standby.StandbyService;
import io.amirror.transport.Identity;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;

/** A real standby daemon on a loopback port, trusting one primary, for tests that need a standby to ship to. */
public final class LoopbackStandby {
    private LoopbackStandby() {
    }

    /**
     * Starts {@link StandbyService} with its state in {@code stateDir}, identity {@code standby}, trusting
     * the primary of fingerprint {@code primaryFingerprint}, keeping 3 points, defining no domains.
     */
    public static StandbyService start(Path stateDir, Identity standby, String primaryFingerprint, DiskImage.Tools tools)
            throws IOException {
        StandbyConfig config = new StandbyConfig(stateDir, new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                "127.0.0.1:0", List.of(primaryFingerprint), null, "qemu:///system", false, "", null, 3, 36500);
        return StandbyService.start(config, standby, tools);
    }
}
