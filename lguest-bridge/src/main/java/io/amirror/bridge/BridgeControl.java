package io.amirror.bridge;

/**
 * The bridge's control protocol, spoken on {@code control.sock} in its state directory by whoever
 * replicates the guest: one request line, one answer line, then the connection closes. Pure
 * codec; {@link BridgeServer} does the I/O.
 *
 * <pre>
 *   CUT [MIN]      -> OK N         a new point N (at least MIN), open for reading as export point-N
 *   RELEASE N      -> OK           point N's reading ended (its snapshot goes, the point stays)
 *   DELETE N       -> OK           point N deleted; its map merges into its predecessor's
 *   STATE          -> OK {json}    bridge.json as it is now
 *   anything else  -> ERR message
 * </pre>
 */
public final class BridgeControl {
    private BridgeControl() {
    }

    /** Longest request line accepted. */
    public static final int MAX_LINE = 256;

    public sealed interface Request permits Cut, Release, Delete, State {
    }

    /** @param atLeast the lowest number the new point may have (the standby's point + 1 after the bridge lost its state) */
    public record Cut(int atLeast) implements Request {
    }

    public record Release(int point) implements Request {
    }

    public record Delete(int point) implements Request {
    }

    public record State() implements Request {
    }

    public static String encode(Request r) {
        if (r instanceof Release x) {
            return "RELEASE " + x.point();
        }
        if (r instanceof Delete x) {
            return "DELETE " + x.point();
        }
        if (r instanceof Cut c) {
            return c.atLeast() > 0 ? "CUT " + c.atLeast() : "CUT";
        }
        return "STATE";
    }

    /** Decodes a request line (without its newline); a malformed one is an IllegalArgumentException. */
    public static Request decode(String line) {
        String[] w = line.split(" ", -1);
        switch (w[0]) {
            case "STATE" -> {
                if (w.length != 1) {
                    throw new IllegalArgumentException("STATE takes no argument");
                }
                return new State();
            }
            case "CUT" -> {
                if (w.length == 1) {
                    return new Cut(0);
                }
                if (w.length != 2 || !w[1].matches("[1-9][0-9]{0,8}")) {
                    throw new IllegalArgumentException("CUT takes at most one point number");
                }
                return new Cut(Integer.parseInt(w[1]));
            }
            case "RELEASE", "DELETE" -> {
                if (w.length != 2 || !w[1].matches("[1-9][0-9]{0,8}")) {
                    throw new IllegalArgumentException(w[0] + " takes one point number");
                }
                int n = Integer.parseInt(w[1]);
                return w[0].equals("RELEASE") ? new Release(n) : new Delete(n);
            }
            default -> throw new IllegalArgumentException("unknown request '" + printable(w[0]) + "'");
        }
    }

    /** An answer line: {@code OK text} or {@code ERR message}. */
    public record Answer(boolean ok, String text) {
        public String encode() {
            return (ok ? "OK" : "ERR") + (text.isEmpty() ? "" : " " + text.replace('\n', ' '));
        }

        public static Answer decode(String line) {
            if (line.equals("OK") || line.startsWith("OK ")) {
                return new Answer(true, line.length() > 2 ? line.substring(3) : "");
            }
            if (line.startsWith("ERR ")) {
                return new Answer(false, line.substring(4));
            }
            throw new IllegalArgumentException("not a bridge answer: '" + printable(line) + "'");
        }
    }

    static String printable(String s) {
        String t = s.length() > 40 ? s.substring(0, 40) + "..." : s;
        return t.replaceAll("\\p{Cntrl}", "?");
    }
}
