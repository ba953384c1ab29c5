package io.amirror.standby;

import java.io.IOException;

/**
 * The standby will not define a replica domain from this description: something the guest needs
 * (a replicated disk, its firmware, its kernel, its machine) cannot be made safe, and dropping it
 * would change the guest. The previous definition stays as it was.
 */
public final class DefinitionRefused extends IOException {
    public DefinitionRefused(String reason) {
        super(reason);
    }
}
