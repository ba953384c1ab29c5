package io.amirror.lab;

import io.amirror.util.Exec;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Two network namespaces, "primary" and "standby", joined by a veth pair whose primary side is
 * shaped by {@code tc tbf}: a small office's uplink on one machine. The addresses are in
 * 198.18.0.0/15, the range set aside for network benchmarks, and exist only inside the two
 * namespaces. {@link #close()} deletes both namespaces (and with them the veth pair).
 */
public final class NetnsLink implements AutoCloseable {
    private static final Duration T = Duration.ofSeconds(30);
    private final String primary;
    private String primaryDevice;
    private final String standby;
    private final String primaryAddress;
    private final String standbyAddress;

    private NetnsLink(String primary, String standby, String primaryAddress, String standbyAddress) {
        this.primary = primary;
        this.standby = standby;
        this.primaryAddress = primaryAddress;
        this.standbyAddress = standbyAddress;
    }

    /** Creates the namespaces and the link, shaped to {@code rate} (tc syntax: 1mbit, 10mbit). */
    public static NetnsLink create(String rate) {
        int id = (int) (ProcessHandle.current().pid() % 200) + 1;
        int n = COUNTER.incrementAndGet() % 60;
        String p = "amx-p-" + ProcessHandle.current().pid() + "-" + n;
        String s = "amx-s-" + ProcessHandle.current().pid() + "-" + n;
        String vp = "amxp" + id + "n" + n;
        String vs = "amxs" + id + "n" + n;
        String pa = "198.18." + n + ".1";
        String sa = "198.18." + n + ".2";
        NetnsLink link = new NetnsLink(p, s, pa, sa);
        link.primaryDevice = vp;
        try {
            ip("netns", "add", p);
            ip("netns", "add", s);
            ip("link", "add", vp, "type", "veth", "peer", "name", vs);
            ip("link", "set", vp, "netns", p);
            ip("link", "set", vs, "netns", s);
            ip("-n", p, "addr", "add", pa + "/30", "dev", vp);
            ip("-n", s, "addr", "add", sa + "/30", "dev", vs);
            for (String[] nsDev : new String[][] {{p, vp}, {s, vs}, {p, "lo"}, {s, "lo"}}) {
                ip("-n", nsDev[0], "link", "set", nsDev[1], "up");
            }
            Exec.run(List.of("ip", "netns", "exec", p, "tc", "qdisc", "add", "dev", vp, "root", "tbf", "rate", rate,
                    "burst", "32kbit", "latency", "400ms"), null, Map.of(), T).orThrow();
            return link;
        } catch (RuntimeException e) {
            link.close();
            throw new LabUnavailableException("cannot build the namespace link (needs root, iproute2 and tc): "
                    + e.getMessage(), e);
        }
    }

    private static final AtomicInteger COUNTER = new AtomicInteger();

    private static void ip(String... args) {
        List<String> cmd = new ArrayList<>(List.of("ip"));
        cmd.addAll(List.of(args));
        Exec.run(cmd, null, Map.of(), T).orThrow();
    }

    /** Reshapes the link, e.g. a fast first sync, then the office's uplink. */
    public void setRate(String rate) {
        Exec.run(List.of("ip", "netns", "exec", primary, "tc", "qdisc", "change", "dev", primaryDevice, "root", "tbf",
                "rate", rate, "burst", "32kbit", "latency", "400ms"), null, Map.of(), T).orThrow();
    }

    public String primaryNamespace() {
        return primary;
    }

    public String standbyNamespace() {
        return standby;
    }

    public String primaryAddress() {
        return primaryAddress;
    }

    public String standbyAddress() {
        return standbyAddress;
    }

    /** {@code command} prefixed to run inside namespace {@code ns}. */
    public static List<String> in(String ns, List<String> command) {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        cmd.addAll(command);
        return cmd;
    }

    @Override
    public void close() {
        Exec.run(Duration.ofSeconds(30), "ip", "netns", "del", primary);
        Exec.run(Duration.ofSeconds(30), "ip", "netns", "del", standby);
    }
}
