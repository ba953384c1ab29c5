package io.amirror.state;

import java.nio.file.Path;
import java.util.UUID;

/**
 * Where a switchover leaves its state on both hosts, in one place ({@code schemas/state-layout.md},
 * section Switchover). A switchover hands the domain to the standby and sets up the way back, so
 * each host gains the other role for that domain, in a state directory nested in its own:
 *
 * <pre>
 * primary STATE/
 *   switched/UUID.json       the domain runs on the standby since point K: this primary leaves it alone
 *   back/                    the back standby's state directory (a standby's layout), seeded with the
 *     standby.json           domain's own disks; its configuration, which the primary daemon runs
 * standby STATE/
 *   reverse/                 the reverse primary's state directory (a primary's layout), with the
 *     policies.d/UUID.json   standby's own key; one policy per domain switched over to this standby,
 *                            which the standby daemon runs
 * </pre>
 *
 * The way back is a switchover of the reverse primary's domain to the back standby, with the same
 * command, so the same two directories nest one level deeper there. Pure: no file is touched here.
 */
public final class SwitchoverLayout {
    private final Path stateDir;

    private SwitchoverLayout(Path stateDir) {
        this.stateDir = stateDir;
    }

    public static SwitchoverLayout of(Path stateDir) {
        return new SwitchoverLayout(stateDir.toAbsolutePath());
    }

    public Path stateDir() {
        return stateDir;
    }

    /** On a primary: the markers of the domains that run on the standby now. */
    public Path switchedAway() {
        return stateDir.resolve("switched");
    }

    public Path switchedAway(UUID domain) {
        return switchedAway().resolve(domain + ".json");
    }

    /** On a primary: the state directory of the standby that receives the way back. */
    public Path backState() {
        return stateDir.resolve("back");
    }

    /** On a primary: that standby's configuration; the primary daemon runs it when it is there. */
    public Path backConfig() {
        return backState().resolve("standby.json");
    }

    /** On a standby: the state directory of the primary that replicates switched-over domains back. */
    public Path reverseState() {
        return stateDir.resolve("reverse");
    }

    /** On a standby: that primary's policies; the standby daemon runs it when there is one. */
    public Path reversePolicies() {
        return reverseState().resolve("policies.d");
    }

    public Path reversePolicy(UUID replicaDomain) {
        return reversePolicies().resolve(replicaDomain + ".json");
    }
}
