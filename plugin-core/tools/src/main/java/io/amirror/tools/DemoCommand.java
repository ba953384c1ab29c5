package io.amirror.tools;

import io.amirror.demo.ReplicationDemo;
import io.amirror.lab.Lab;
import io.amirror.lab.LabOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/**
 * {@code amirror demo}: the README's first command. The primary daemon replicates a lab guest's
 * office days on a short schedule to a standby in another network namespace over a shaped link,
 * with its live status; the replica is checked against the guest's disk, and started by
 * {@code virsh start} on the standby side (see {@link ReplicationDemo}).
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Replicate a built-in lab guest end to end on this machine: the primary daemon and a standby in "
                + "two network namespaces over a 10 then 1 Mbit/s link, a point every 20 s, then failover by virsh "
                + "start (needs root; Ctrl-C cleans up).")
public final class DemoCommand implements Callable<Integer> {

    @Option(names = "--days", description = "Office days after the first sync (default: ${DEFAULT-VALUE}).")
    int days = 2;
    @Option(names = "--rpo-target", paramLabel = "DURATION", description = "Replicate continuously with this RPO "
            + "target (e.g. 30s: the next point as soon as the last is acknowledged) instead of a point every 20 s.")
    String rpoTarget;

    @Override
    public Integer call() throws Exception {
        System.out.println("demo: preparing the lab (libvirtd, QEMU, guest kit)...");
        try (Lab lab = Lab.open(LabOptions.defaults())) {
            ReplicationDemo.Result r = ReplicationDemo.run(lab, days, rpoTarget, System.out);
            return r.identical() && r.failoverMatches() ? 0 : 1;
        }
    }
}
