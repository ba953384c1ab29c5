package io.amirror.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.amirror.nbd.NbdAddress;
import io.amirror.nbd.NbdClient;
import io.amirror.nbd.NbdConstants;
import io.amirror.nbd.NbdException;
import io.amirror.nbd.NbdMessages.Extent;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code amirror nbd ...}: an admin's look at NBD exports through amirror's own client. */
@Command(name = "nbd", mixinStandardHelpOptions = true, description = "Inspect NBD exports with amirror's NBD client.",
        subcommands = {NbdCommand.Map.class})
public final class NbdCommand {

    @Command(name = "map", mixinStandardHelpOptions = true,
            description = "Print the extents of an export, like nbdinfo --map. URI: nbd+unix:///EXPORT?socket=PATH "
                    + "or nbd://HOST[:PORT]/EXPORT. Exits non-zero with a one-line error on any protocol "
                    + "violation or timeout.")
    static final class Map implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "URI")
        String uri;

        @Option(names = "--context", paramLabel = "CTX",
                description = "Metadata context: base:allocation (default) or qemu:dirty-bitmap:NAME.")
        String context = NbdConstants.CONTEXT_BASE_ALLOCATION;

        @Option(names = "--json", description = "Print JSON instead of a table.")
        boolean json;

        @Option(names = "--timeout", paramLabel = "SECONDS", description = "I/O timeout (default: ${DEFAULT-VALUE}).")
        int timeoutSeconds = 30;

        @Override
        public Integer call() throws Exception {
            NbdAddress address;
            try {
                address = NbdAddress.parse(uri);
            } catch (IllegalArgumentException e) {
                System.err.println("amirror: " + e.getMessage());
                return 2;
            }
            List<Extent> extents;
            long size;
            try (NbdClient c = NbdClient.connect(address, List.of(context), Duration.ofSeconds(timeoutSeconds))) {
                size = c.export().size();
                extents = c.extents(context);
            } catch (NbdException e) {
                System.err.println("amirror: " + address + ": " + e.getMessage());
                return 1;
            }
            print(System.out, context, size, extents, json);
            return 0;
        }
    }

    static void print(PrintStream out, String context, long size, List<Extent> extents, boolean json) throws Exception {
        if (json) {
            List<java.util.Map<String, Object>> rows = new ArrayList<>();
            for (Extent e : extents) {
                java.util.Map<String, Object> row = new LinkedHashMap<>();
                row.put("offset", e.offset());
                row.put("length", e.length());
                row.put("type", e.flags());
                row.put("description", describe(context, e.flags()));
                rows.add(row);
            }
            java.util.Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("context", context);
            doc.put("size", size);
            doc.put("extents", rows);
            out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(doc));
            return;
        }
        for (Extent e : extents) {
            out.printf("%12d  %12d  %3d  %s%n", e.offset(), e.length(), e.flags(), describe(context, e.flags()));
        }
    }

    /** The words nbdinfo uses for each context's flags. */
    static String describe(String context, int flags) {
        if (context.equals(NbdConstants.CONTEXT_BASE_ALLOCATION)) {
            List<String> words = new ArrayList<>();
            if ((flags & NbdConstants.STATE_HOLE) != 0) {
                words.add("hole");
            }
            if ((flags & NbdConstants.STATE_ZERO) != 0) {
                words.add("zero");
            }
            return words.isEmpty() ? "data" : String.join(",", words);
        }
        if (context.startsWith(NbdConstants.CONTEXT_DIRTY_BITMAP_PREFIX)) {
            return (flags & NbdConstants.STATE_DIRTY) != 0 ? "dirty" : "clean";
        }
        return "";
    }
}
