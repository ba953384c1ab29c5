package io.amirror.cli;

import io.amirror.util.WeeklyRate;
import io.amirror.delta.DeltaFiles;
import io.amirror.delta.DeltaFormat;
import io.amirror.delta.DeltaFormatException;
import io.amirror.delta.DeltaHeader;
import io.amirror.delta.DeltaReader;
import io.amirror.delta.Frame;
import io.amirror.delta.XzBlockCodec;
import io.amirror.image.DiskImage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.UUID;
import java.util.concurrent.Callable;

/** {@code amirror delta ...}: make, check, read and apply delta files by hand. */
@Command(name = "delta", mixinStandardHelpOptions = true,
        description = "Create, verify, inspect and apply amirror delta files.",
        subcommands = {DeltaCommand.Create.class, DeltaCommand.Apply.class, DeltaCommand.Inspect.class,
            DeltaCommand.Verify.class})
public final class DeltaCommand {

    @Command(name = "create", mixinStandardHelpOptions = true,
            description = "Diff two images (raw or qcow2) of one disk into a delta: 4 KiB blocks of NEW that OLD "
                    + "does not hold, as DATA and ZERO frames in xz blocks.")
    static final class Create implements Callable<Integer> {
        @Option(names = "--from", required = true, paramLabel = "OLD", description = "The image as the standby has it.")
        Path from;
        @Option(names = "--to", required = true, paramLabel = "NEW", description = "The image as it is now.")
        Path to;
        @Parameters(index = "0", paramLabel = "OUT")
        Path out;
        @Option(names = "--link-rate", paramLabel = "RATE",
                description = "Choose the strongest xz preset that keeps up with this link (e.g. 1mbit, 10mbit).")
        String linkRate;
        @Option(names = "--preset", paramLabel = "P", description = "Use this xz preset (0-9, e for extreme, e.g. 9e).")
        String preset;
        @Option(names = "--threads", description = "Compression threads (default: cores = ${DEFAULT-VALUE}).")
        int threads = Runtime.getRuntime().availableProcessors();
        @Option(names = "--block-size", paramLabel = "MIB", description = "Uncompressed MiB per xz block (default 16).")
        int blockMiB = 16;
        @Option(names = "--disk", description = "Disk target recorded in the header (default: vda).")
        String disk = "vda";

        @Override
        public Integer call() throws IOException {
            if (linkRate != null && preset != null) {
                throw new IllegalArgumentException("give --link-rate or --preset, not both");
            }
            XzBlockCodec.Preset p = preset != null ? XzBlockCodec.Preset.parse(preset)
                    : linkRate == null ? new XzBlockCodec.Preset(6, false) : null;
            double rate = linkRate == null ? 0 : WeeklyRate.parseRate(linkRate);
            var o = new DeltaFiles.CreateOptions(UUID.nameUUIDFromBytes(to.toAbsolutePath().toString().getBytes()), disk,
                    1, 2, p, rate, threads, blockMiB << 20);
            DiskImage.Tools tools = DiskImage.Tools.installed();
            try (DiskImage a = DiskImage.open(from, false, tools); DiskImage b = DiskImage.open(to, false, tools)) {
                DeltaFiles.CreateResult r = DeltaFiles.create(a, b, out, o);
                var s = r.summary();
                System.out.printf("delta %s: %d frames in %d blocks, xz preset %s%n", out, s.frames(), s.blocks(), r.preset());
                System.out.printf("  blocks: %d data, %d zero, %d copied from elsewhere on OLD, %d unchanged (skipped)%n",
                        r.refined().dataBlocks(), r.refined().zeroBlocks(), r.refined().copyBlocks(),
                        r.refined().unchangedBlocks());
                System.out.printf("  data %d bytes -> %d bytes on disk (%.1f %%), in %.1f s%n", s.dataBytes(),
                        Files.size(out), 100.0 * Files.size(out) / Math.max(1, s.dataBytes()), r.seconds());
            }
            return 0;
        }
    }

    @Command(name = "apply", mixinStandardHelpOptions = true,
            description = "Verify DELTA completely, then apply it to IMAGE in place. On any defect IMAGE is not touched.")
    static final class Apply implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "DELTA")
        Path delta;
        @Parameters(index = "1", paramLabel = "IMAGE")
        Path image;

        @Override
        public Integer call() throws IOException {
            try {
                DeltaFiles.verify(delta);
            } catch (DeltaFormatException e) {
                System.err.println("amirror: " + delta + ": " + e.getMessage() + "; " + image + " not touched");
                return 1;
            }
            try (DiskImage img = DiskImage.open(image, true, DiskImage.Tools.installed())) {
                DeltaReader.Result r = DeltaFiles.apply(delta, img);
                System.out.printf("applied %s to %s: %d frames, %d data bytes, %d zero bytes%n", delta, image,
                        r.trailer().frameCount(), r.trailer().dataBytes(), r.trailer().zeroBytes());
                return 0;
            } catch (DeltaFormatException e) {
                System.err.println("amirror: " + delta + ": " + e.getMessage());
                return 1;
            }
        }
    }

    @Command(name = "verify", mixinStandardHelpOptions = true,
            description = "Check every checksum, length and frame of a delta; exit 1 with the first defect.")
    static final class Verify implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "FILE")
        Path file;

        @Override
        public Integer call() throws IOException {
            try {
                DeltaReader.Result r = DeltaFiles.verify(file);
                System.out.printf("%s: OK (%s %s, point %d -> %d, %d frames)%n", file, r.header().domain(),
                        r.header().disk(), r.header().basePoint(), r.header().newPoint(), r.trailer().frameCount());
                return 0;
            } catch (DeltaFormatException e) {
                System.err.println("amirror: " + file + ": " + e.getMessage());
                return 1;
            }
        }
    }

    @Command(name = "inspect", mixinStandardHelpOptions = true,
            description = "Print a delta's header, frames, sizes, compression ratio and verification result.")
    static final class Inspect implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "FILE")
        Path file;
        @Option(names = "--frames", description = "List every frame.")
        boolean frames;

        @Override
        public Integer call() throws IOException {
            long fileSize = Files.size(file);
            try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 20)) {
                DeltaHeader h = DeltaReader.readHeader(in);
                System.out.printf("header: format version %d, domain %s, disk %s, %d bytes, point %d -> %d, block %d, "
                                + "codec %s, blocks <= %d MiB%n", h.version(), h.domain(), h.disk(), h.virtualSize(),
                        h.basePoint(), h.newPoint(), h.blockSize(), h.codec() == DeltaFormat.CODEC_XZ ? "xz" : "none",
                        h.maxBlockRaw() >> 20);
                System.out.println("cut: " + h.cutTime().map(Object::toString).orElse("unknown (format version "
                        + h.version() + ")"));
            } catch (DeltaFormatException e) {
                System.out.println("verification: FAILED: " + e.getMessage());
                return 1;
            }
            try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 20)) {
                DeltaReader.Result r = DeltaReader.read(in, f -> {
                    if (frames) {
                        System.out.printf("  %-4s %14d %12d%n", f instanceof Frame.Data ? "DATA" : f instanceof Frame.Copy ? "COPY" : "ZERO", f.offset(),
                                f.length());
                    }
                });
                var t = r.trailer();
                System.out.printf("frames: %d (%d data bytes, %d zero bytes) in %d blocks%n", t.frameCount(),
                        t.dataBytes(), t.zeroBytes(), t.blockCount());
                System.out.printf("size: %d bytes in the file, %.2f %% of the data bytes%n", fileSize,
                        100.0 * fileSize / Math.max(1, t.dataBytes()));
                System.out.println("result sha256: " + HexFormat.of().formatHex(t.resultSha256()));
                System.out.println("verification: OK");
                return 0;
            } catch (DeltaFormatException e) {
                System.out.println("verification: FAILED: " + e.getMessage());
                return 1;
            }
        }
    }
}
