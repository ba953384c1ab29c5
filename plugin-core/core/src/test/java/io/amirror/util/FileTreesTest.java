package io.amirror.util;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Deleting a tree whose owner may have planted links in it: the links go, what they point to stays. */
class FileTreesTest {
    @TempDir
    Path tmp;

    private Path outside() throws IOException {
        Path o = Files.createDirectories(tmp.resolve("outside"));
        Files.writeString(o.resolve("precious"), "keep me");
        Files.createDirectories(o.resolve("sub"));
        Files.writeString(o.resolve("sub").resolve("also"), "keep me too");
        return o;
    }

    private static void assertIntact(Path o) throws IOException {
        assertEquals("keep me", Files.readString(o.resolve("precious")));
        assertEquals("keep me too", Files.readString(o.resolve("sub").resolve("also")));
    }

    @Test
    void linksPlantedInTheTreeAreRemovedAsLinksAndTheirTargetsStay() throws IOException {
        Path o = outside();
        Path job = Files.createDirectories(tmp.resolve("job").resolve("deeper"));
        Files.writeString(job.resolve("vda.scratch"), "scratch");
        Files.createSymbolicLink(job.resolve("to-dir"), o);
        Files.createSymbolicLink(job.getParent().resolve("to-file"), o.resolve("precious"));
        Files.createSymbolicLink(job.getParent().resolve("dangling"), tmp.resolve("nothing-here"));
        FileTrees.delete(tmp.resolve("job"));
        assertFalse(Files.exists(tmp.resolve("job"), LinkOption.NOFOLLOW_LINKS));
        assertIntact(o);
    }

    @Test
    void aRootThatIsALinkIsRemovedAsALinkNotEntered() throws IOException {
        Path o = outside();
        Path link = Files.createSymbolicLink(tmp.resolve("job"), o);
        FileTrees.delete(link);
        assertFalse(Files.exists(link, LinkOption.NOFOLLOW_LINKS));
        assertIntact(o);
    }

    @Test
    void aDirectorySwappedForALinkWhileTheTreeIsDeletedIsNeverEntered() throws Exception {
        Path o = outside();
        AtomicBoolean stop = new AtomicBoolean();
        for (int round = 0; round < 100; round++) {
            Path job = Files.createDirectories(tmp.resolve("job"));
            Path sub = job.resolve("sub");
            Files.createDirectories(sub);
            for (int i = 0; i < 20; i++) {
                Files.writeString(job.resolve("f" + i), "x");
            }
            // the tree's owner keeps swapping sub between a directory and a link to the outside
            Thread swapper = new Thread(() -> {
                Path staged = tmp.resolve("staged-link");
                while (!stop.get()) {
                    try {
                        Files.deleteIfExists(staged);
                        Files.createSymbolicLink(staged, o);
                        Files.deleteIfExists(sub);
                        Files.move(staged, sub, StandardCopyOption.ATOMIC_MOVE);
                        Files.deleteIfExists(sub);
                        Files.createDirectory(sub);
                    } catch (IOException ignored) {
                        // the deleter removed something first; go on
                    }
                }
            });
            stop.set(false);
            swapper.start();
            try {
                FileTrees.deleteQuietly(job);
            } finally {
                stop.set(true);
                swapper.join();
            }
            assertIntact(o);
            FileTrees.delete(job);
            assertFalse(Files.exists(job, LinkOption.NOFOLLOW_LINKS));
        }
    }

    @Test
    void aMissingTreeIsFine() throws IOException {
        FileTrees.delete(tmp.resolve("never-made"));
        assertTrue(Files.isDirectory(tmp));
    }
}
