package io.amirror.standby;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The one question the replica's definition asks the standby's file system: is this path a regular
 * file, and where does it really live (symlinks resolved)? Behind an interface so the definition
 * stays pure in its tests.
 */
@FunctionalInterface
public interface HostFiles {
    /** The standby's own file system. */
    HostFiles REAL = p -> {
        try {
            Path real = p.toRealPath();
            return Files.isRegularFile(real, LinkOption.NOFOLLOW_LINKS) ? Optional.of(real) : Optional.empty();
        } catch (IOException | SecurityException e) {
            return Optional.empty();
        }
    };

    /** The real path of {@code p} if it names a regular file (after symlinks), else empty. */
    Optional<Path> regularFile(Path p);

}
