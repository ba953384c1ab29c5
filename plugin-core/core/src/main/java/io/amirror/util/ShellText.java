package io.amirror.util;

import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Text that amirror prints for an admin to read or paste into a shell, built from values it did
 * not choose (guest names, image paths, a launcher's arguments, some of them from the primary).
 *
 * <p>{@link #printable} removes what a terminal would act on instead of showing: ESC sequences
 * (CSI such as {@code ESC[2J}, OSC up to BEL or ST, two-byte escapes), the C1 controls and every
 * other C0 control and DEL, newlines and tabs included, so one value stays on one line. Unicode
 * format characters that reorder text (bidirectional overrides and isolates) go too. Everything
 * else, other scripts included, is kept.
 *
 * <p>{@link #quote} makes one word for POSIX sh: unchanged when it holds only characters no shell
 * treats specially, otherwise in single quotes, a single quote written {@code '\''}. Inside single
 * quotes sh gives no character a meaning, so the word reads back exactly; it is made printable
 * first, so what the admin sees is what the shell gets. Callers that print a command for pasting
 * quote every interpolated value and say so when {@link #printable} changed one.
 */
public final class ShellText {
    private ShellText() {
    }

    /** ESC sequences: CSI (ESC [ params final), OSC/DCS/SOS/PM/APC (up to BEL or ST), or ESC and one char. */
    private static final Pattern ESCAPES = Pattern.compile(
            "\u001b\\[[\\x20-\\x3f]*[\\x40-\\x7e]?"
                    + "|\u001b[\\]PX^_].*?(?:\u0007|\u001b\\\\|\u009c|$)"
                    + "|[\u009b][\\x20-\\x3f]*[\\x40-\\x7e]?"
                    + "|[\u009d\u0090\u0098\u009e\u009f].*?(?:\u0007|\u001b\\\\|\u009c|$)"
                    + "|\u001b.?", Pattern.DOTALL);
    /** C0 controls, DEL, C1 controls, and the bidirectional formatting characters. */
    private static final Pattern CONTROLS = Pattern.compile("[\\x00-\\x1f\\x7f-\\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]");
    private static final Pattern PLAIN = Pattern.compile("[A-Za-z0-9_@%+=:,./-]+");

    /** {@code s} without terminal escape sequences and control characters. */
    public static String printable(String s) {
        return CONTROLS.matcher(ESCAPES.matcher(s).replaceAll("")).replaceAll("");
    }

    /** One POSIX sh word that reads back as {@code printable(s)}. */
    public static String quote(String s) {
        String p = printable(s);
        if (PLAIN.matcher(p).matches()) {
            return p;
        }
        return "'" + p.replace("'", "'\\''") + "'";
    }

    /** The words, each {@link #quote quoted}, joined by spaces. */
    public static String command(List<String> words) {
        return words.stream().map(ShellText::quote).collect(Collectors.joining(" "));
    }

    /** Whether printing {@code s} would lose something to {@link #printable}. */
    public static boolean altered(String s) {
        return !printable(s).equals(s);
    }

    /**
     * The words of one command line as POSIX sh splits it, without expansions: blanks separate
     * words, single quotes keep everything up to the next one, double quotes keep everything but
     * a backslash before {@code "} or {@code \\}, a backslash outside quotes keeps the next
     * character. An unterminated quote is an error.
     */
    public static List<String> words(String line) {
        List<String> out = new java.util.ArrayList<>();
        StringBuilder w = null;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (c == ' ' || c == '\t' || c == '\n') {
                if (w != null) {
                    out.add(w.toString());
                    w = null;
                }
                continue;
            }
            if (w == null) {
                w = new StringBuilder();
            }
            if (c == '\'') {
                int end = line.indexOf('\'', i + 1);
                if (end < 0) {
                    throw new IllegalArgumentException("unterminated single quote in: " + printable(line));
                }
                w.append(line, i + 1, end);
                i = end;
            } else if (c == '"') {
                int j = i + 1;
                for (; j < line.length() && line.charAt(j) != '"'; j++) {
                    char d = line.charAt(j);
                    if (d == '\\' && j + 1 < line.length() && (line.charAt(j + 1) == '"' || line.charAt(j + 1) == '\\')) {
                        d = line.charAt(++j);
                    }
                    w.append(d);
                }
                if (j >= line.length()) {
                    throw new IllegalArgumentException("unterminated double quote in: " + printable(line));
                }
                i = j;
            } else if (c == '\\' && i + 1 < line.length()) {
                w.append(line.charAt(++i));
            } else {
                w.append(c);
            }
        }
        if (w != null) {
            out.add(w.toString());
        }
        return out;
    }
}
