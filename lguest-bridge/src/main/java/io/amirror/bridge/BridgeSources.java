package io.amirror.bridge;

import io.amirror.config.Policy;
import io.amirror.primary.PointSource;
import io.amirror.primary.PointSourceProvider;
import io.amirror.util.PrivateFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Opens the {@link BridgePointSource} of a policy with {@code "source": "bridge"} for the primary
 * daemon and {@code amirror bridge sync} (registered in {@code META-INF/services}).
 *
 * <p>Earlier versions of {@code bridge sync} kept a guest's hash maps in {@code STATE/bridge/maps/};
 * they move to {@code STATE/maps/} here, beside the libvirt domains', the first time the guest is
 * opened, so its next point is incremental, not a repair.
 */
public final class BridgeSources implements PointSourceProvider {
    private static final Logger log = LoggerFactory.getLogger(BridgeSources.class);

    @Override
    public boolean serves(Policy policy) {
        return policy.bridged();
    }

    @Override
    public PointSource open(Policy policy, Path stateDir, Duration ioTimeout) throws IOException {
        BridgePointSource source = new BridgePointSource(policy.bridge().state(), policy.bridge().socket(), ioTimeout);
        Path maps = stateDir.resolve("maps").resolve(source.uuid().toString());
        Path legacy = stateDir.resolve("bridge").resolve("maps").resolve(source.uuid().toString());
        if (!Files.exists(maps) && Files.isDirectory(legacy)) {
            PrivateFiles.createDirectories(maps.getParent());
            Files.move(legacy, maps);
            log.info("{}: hash maps and acknowledged point moved from {} to {}", source.name(), legacy, maps);
        }
        return source;
    }
}
