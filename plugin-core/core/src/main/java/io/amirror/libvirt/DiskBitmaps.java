package io.amirror.libvirt;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.util.Exec;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The persistent dirty bitmaps inside a domain's qcow2 images, seen directly rather than through
 * libvirt's checkpoint metadata (which can be lost while the bitmaps stay). Of a running domain they
 * are read from QEMU ({@code query-block} over the monitor), of a shut-off one from the image
 * ({@code qemu-img info}).
 *
 * <p>An inconsistent bitmap is one QEMU could not save: it flags it {@code inconsistent} when
 * running, and a closed image shows it {@code in-use} (QEMU died with the image open).
 */
public final class DiskBitmaps {

    /** One bitmap of one disk. */
    public record Bitmap(String name, boolean inconsistent) {
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path qemuImg;

    public DiskBitmaps(Path qemuImg) {
        this.qemuImg = qemuImg;
    }

    /** The bitmaps of each disk (by target), for the disks given. */
    public Map<String, List<Bitmap>> list(Domain domain, List<DiskInfo> disks) {
        try {
            if (domain.isActive() == 1) {
                Map<String, List<Bitmap>> out = new LinkedHashMap<>();
                Map<String, JsonNode> inserted = insertedByFile(domain);
                for (DiskInfo d : disks) {
                    JsonNode node = inserted.get(d.source().toString());
                    out.put(d.target(), node == null ? List.of() : parseRunning(node));
                }
                return out;
            }
            Map<String, List<Bitmap>> out = new LinkedHashMap<>();
            for (DiskInfo d : disks) {
                String info = Exec.run(List.of(qemuImg.toString(), "info", "--output=json", "-U", d.source().toString()),
                        null, Map.of(), Duration.ofMinutes(1)).orThrow().stdout();
                out.put(d.target(), parseImageInfo(info));
            }
            return out;
        } catch (LibvirtException e) {
            throw new ChainException("cannot inspect the bitmaps of the domain: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new ChainException("cannot parse bitmap information: " + e.getMessage(), e);
        }
    }

    /** Removes one bitmap from a disk, through QEMU when running, with qemu-img when shut off. */
    public void remove(Domain domain, DiskInfo disk, String bitmap) {
        try {
            if (domain.isActive() == 1) {
                JsonNode node = insertedByFile(domain).get(disk.source().toString());
                if (node == null) {
                    throw new ChainException("QEMU does not report disk " + disk.target() + " (" + disk.source() + ")");
                }
                String cmd = JSON.writeValueAsString(Map.of("execute", "block-dirty-bitmap-remove",
                        "arguments", Map.of("node", node.path("node-name").asText(), "name", bitmap)));
                String reply = domain.qemuMonitorCommand(cmd, 0);
                if (JSON.readTree(reply).has("error")) {
                    throw new ChainException("QEMU refused to remove bitmap " + bitmap + " of " + disk.target() + ": " + reply);
                }
            } else {
                Exec.run(List.of(qemuImg.toString(), "bitmap", "--remove", disk.source().toString(), bitmap), null,
                        Map.of(), Duration.ofMinutes(1)).orThrow();
            }
        } catch (LibvirtException e) {
            throw new ChainException("cannot remove bitmap " + bitmap + " of " + disk.target() + ": " + e.getMessage(), e);
        } catch (IOException e) {
            throw new ChainException("cannot remove bitmap " + bitmap + ": " + e.getMessage(), e);
        }
    }

    private static Map<String, JsonNode> insertedByFile(Domain domain) throws LibvirtException, IOException {
        JsonNode reply = JSON.readTree(domain.qemuMonitorCommand("{\"execute\":\"query-block\"}", 0));
        Map<String, JsonNode> byFile = new HashMap<>();
        for (JsonNode dev : reply.path("return")) {
            JsonNode ins = dev.path("inserted");
            if (!ins.isMissingNode()) {
                byFile.put(ins.path("file").asText(), ins);
            }
        }
        return byFile;
    }

    static List<Bitmap> parseRunning(JsonNode inserted) {
        List<Bitmap> out = new ArrayList<>();
        for (JsonNode b : inserted.path("dirty-bitmaps")) {
            if (b.path("persistent").asBoolean(false)) {
                out.add(new Bitmap(b.path("name").asText(), b.path("inconsistent").asBoolean(false)));
            }
        }
        return out;
    }

    static List<Bitmap> parseImageInfo(String qemuImgInfoJson) throws IOException {
        List<Bitmap> out = new ArrayList<>();
        for (JsonNode b : JSON.readTree(qemuImgInfoJson).path("format-specific").path("data").path("bitmaps")) {
            boolean inUse = false;
            for (JsonNode f : b.path("flags")) {
                inUse |= f.asText().equals("in-use");
            }
            out.add(new Bitmap(b.path("name").asText(), inUse));
        }
        return out;
    }
}
