package io.amirror.config;

/**
 * One thing wrong with a file the admin wrote: which file, which field (a JSON pointer, {@code /}
 * for the whole document), what is wrong, and how to fix it.
 */
public record ConfigError(String file, String field, String problem, String fix) {

    @Override
    public String toString() {
        return file + ": " + (field.isEmpty() ? "/" : field) + ": " + problem + (fix == null || fix.isEmpty() ? ""
                : "\n    fix: " + fix);
    }
}
