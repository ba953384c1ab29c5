package io.amirror.delta;

import org.tukaani.xz.LZMA2Options;
import org.tukaani.xz.UnsupportedOptionsException;
import org.tukaani.xz.XZ;
import org.tukaani.xz.XZInputStream;
import org.tukaani.xz.XZOutputStream;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * Compresses one delta block into one independent xz stream (LZMA2) and back. Independent streams
 * let blocks compress in parallel and let a receiver verify, resume and re-request them one by one.
 *
 * <p>The dictionary is capped at the block size: a larger one cannot find more matches in a block
 * and only costs memory (preset 9 would otherwise take 64 MiB of dictionary and ~670 MiB of encoder
 * memory per thread).
 */
public final class XzBlockCodec {
    /** Decoder memory limit in KiB: a 64 MiB dictionary plus slack. Streams needing more are refused. */
    static final int DECODER_MEMORY_LIMIT_KIB = 80 * 1024;

    private XzBlockCodec() {
    }

    /** A preset 0..9, optionally "extreme" (xz -e): slower, sometimes a little smaller. */
    public record Preset(int level, boolean extreme) implements Comparable<Preset> {
        public Preset {
            if (level < 0 || level > 9) {
                throw new IllegalArgumentException("xz preset must be 0..9: " + level);
            }
        }

        public static Preset parse(String s) {
            boolean e = s.endsWith("e");
            return new Preset(Integer.parseInt(e ? s.substring(0, s.length() - 1) : s), e);
        }

        @Override
        public int compareTo(Preset o) {
            return Integer.compare(level * 2 + (extreme ? 1 : 0), o.level * 2 + (o.extreme ? 1 : 0));
        }

        @Override
        public String toString() {
            return level + (extreme ? "e" : "");
        }
    }

    public static byte[] compress(byte[] raw, int length, Preset preset) {
        try {
            LZMA2Options o = new LZMA2Options(preset.level());
            if (preset.extreme()) {
                o.setMode(LZMA2Options.MODE_NORMAL);
                o.setNiceLen(273);
                o.setDepthLimit(512);
            }
            o.setDictSize(Math.max(LZMA2Options.DICT_SIZE_MIN, Math.min(o.getDictSize(), Integer.highestOneBit(
                    Math.max(length, 1) * 2 - 1))));
            ByteArrayOutputStream out = new ByteArrayOutputStream(Math.max(64, length / 4));
            try (XZOutputStream xz = new XZOutputStream(out, o, XZ.CHECK_CRC32)) {
                xz.write(raw, 0, length);
            }
            return out.toByteArray();
        } catch (UnsupportedOptionsException e) {
            throw new IllegalArgumentException("xz preset " + preset + ": " + e.getMessage(), e);
        } catch (IOException e) {
            throw new IllegalStateException("compressing into memory failed", e);
        }
    }

    /**
     * Decompresses a whole xz stream of unknown length, refusing more than {@code maxRaw} bytes (a
     * small message from the network), with the same memory limit as the blocks.
     */
    public static byte[] decompressAtMost(byte[] stored, int maxRaw) throws DeltaFormatException {
        try (InputStream in = new XZInputStream(new ByteArrayInputStream(stored), DECODER_MEMORY_LIMIT_KIB)) {
            byte[] raw = in.readNBytes(maxRaw + 1);
            if (raw.length > maxRaw) {
                throw new DeltaFormatException("the xz stream exceeds " + maxRaw + " bytes");
            }
            return raw;
        } catch (DeltaFormatException e) {
            throw e;
        } catch (IOException e) {
            throw new DeltaFormatException("corrupt xz stream: " + e.getMessage());
        }
    }

    /**
     * Decompresses {@code stored} into exactly {@code rawLength} bytes; anything else (a shorter or
     * longer stream, trailing garbage, a corrupt stream, a dictionary beyond the memory limit) is
     * a {@link DeltaFormatException}.
     */
    public static byte[] decompress(byte[] stored, int storedLength, int rawLength) throws DeltaFormatException {
        byte[] raw = new byte[rawLength];
        try (InputStream in = new XZInputStream(new ByteArrayInputStream(stored, 0, storedLength),
                DECODER_MEMORY_LIMIT_KIB)) {
            int n = in.readNBytes(raw, 0, rawLength);
            if (n != rawLength) {
                throw new DeltaFormatException("xz block holds " + n + " bytes, its header says " + rawLength);
            }
            if (in.read() != -1) {
                throw new DeltaFormatException("xz block holds more than the " + rawLength + " bytes its header says");
            }
            return raw;
        } catch (DeltaFormatException e) {
            throw e;
        } catch (IOException e) {
            throw new DeltaFormatException("corrupt xz block: " + e.getMessage());
        }
    }
}
