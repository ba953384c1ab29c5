package io.amirror.primary;

import io.amirror.config.Policy;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Point sources that live outside the core, found through {@link java.util.ServiceLoader}: the
 * bridge module registers the one for policies with {@code "source": "bridge"} in
 * {@code META-INF/services/io.amirror.primary.PointSourceProvider}, as it registers its commands.
 * The core never depends on such a module; without it, a bridge policy's cycles fail and say so.
 */
public interface PointSourceProvider {

    /** Whether this provider opens the guests of {@code policy}. */
    boolean serves(Policy policy);

    /**
     * The point source of the guest {@code policy} covers.
     *
     * @param stateDir  the primary's state directory (a provider may migrate its own older state from there)
     * @param ioTimeout how long one read of the guest's disk may stall
     */
    PointSource open(Policy policy, Path stateDir, Duration ioTimeout) throws IOException;
}
