package io.amirror.control;

import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.util.Set;

/**
 * One domain event as the libvirt hook queued it: operation, sub-operation and domain name, each
 * NUL-terminated, then the domain XML libvirt gave the hook. Pure decoding.
 */
public record HookEvent(String operation, String subOperation, String domain, String xml) {
    /** The operations the hook queues; anything else in a queue file is refused. */
    public static final Set<String> OPERATIONS = Set.of("started", "stopped", "release", "migrate", "restore", "reconnect");

    /** Decodes a queue file; a malformed one is an {@link IllegalArgumentException} naming why. */
    public static HookEvent parse(byte[] file) {
        String[] fields = new String[3];
        int start = 0;
        for (int i = 0; i < 3; i++) {
            int end = start;
            while (end < file.length && file[end] != 0) {
                end++;
            }
            if (end == file.length) {
                throw new IllegalArgumentException("hook event has " + i + " of its 3 fields");
            }
            fields[i] = utf8(file, start, end - start);
            start = end + 1;
        }
        if (!OPERATIONS.contains(fields[0])) {
            throw new IllegalArgumentException("unknown hook operation '" + fields[0] + "'");
        }
        if (fields[2].isEmpty()) {
            throw new IllegalArgumentException("hook event without a domain name");
        }
        return new HookEvent(fields[0], fields[1], fields[2], utf8(file, start, file.length - start));
    }

    private static String utf8(byte[] b, int off, int len) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(b, off, len)).toString();
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException("hook event is not UTF-8");
        }
    }
}
