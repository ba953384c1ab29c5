package io.amirror.lab;

import io.amirror.util.Pause;

import java.time.Duration;

/**
 * pgbench's TPC-B-like load on the PostgreSQL inside a {@link DebianGuest}, through its guest agent
 * (database {@code pgbench}, scale 5, made at the image's first boot).
 *
 * <p>Every pgbench transaction adds one amount to an account, its teller and its branch and
 * records it in {@code pgbench_history}, all in one transaction; the tables start at zero. So in
 * any state PostgreSQL recovers to, the four sums agree: {@link #consistency()} checks that, which
 * is what a crash-consistent or quiesced replica must give after its recovery.
 */
public final class PostgresWorkload {
    private final GuestAgent agent;

    public PostgresWorkload(GuestAgent agent) {
        this.agent = agent;
    }

    /** Waits until the server accepts connections. */
    public PostgresWorkload awaitReady(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            GuestAgent.Result r = agent.exec(Duration.ofSeconds(30), "/usr/bin/pg_isready", "-q");
            if (r.exitCode() == 0) {
                return this;
            }
            if (System.nanoTime() > deadline) {
                throw new GuestException("PostgreSQL did not accept connections within " + timeout.toSeconds() + " s");
            }
            Pause.millis(1000);
        }
    }

    /** Runs {@code transactions} pgbench transactions (one client) and waits for them. */
    public void run(int transactions) {
        agent.sh("runuser -u postgres -- pgbench -n -t " + transactions + " pgbench", Duration.ofMinutes(20));
    }

    /**
     * Starts pgbench (two clients) for {@code seconds} in the background as a transient systemd unit
     * {@code unit}, and returns at once; it commits until the time is up or the guest stops.
     */
    public void startFor(String unit, int seconds) {
        agent.sh("systemd-run --unit=" + unit + " --collect runuser -u postgres -- pgbench -n -c 2 -T " + seconds
                + " pgbench >/dev/null");
    }

    /** Rows in pgbench_history: one per committed transaction. */
    public long historyRows() {
        return Long.parseLong(psql("select count(*) from pgbench_history").strip());
    }

    /** One query's unaligned output. */
    public String psql(String query) {
        return agent.sh("runuser -u postgres -- psql -X -At -d pgbench -c \"" + query + "\"");
    }

    /** The four sums that every committed transaction moved together. */
    public record Consistency(long accounts, long tellers, long branches, long history, long rows) {
        public boolean holds() {
            return accounts == tellers && tellers == branches && branches == history;
        }

        public Consistency check() {
            if (!holds()) {
                throw new AssertionError("the pgbench sums disagree: " + this);
            }
            return this;
        }
    }

    public Consistency consistency() {
        String[] v = psql("select (select coalesce(sum(abalance),0) from pgbench_accounts), "
                + "(select coalesce(sum(tbalance),0) from pgbench_tellers), "
                + "(select coalesce(sum(bbalance),0) from pgbench_branches), "
                + "(select coalesce(sum(delta),0) from pgbench_history), (select count(*) from pgbench_history)")
                .strip().split("\\|");
        return new Consistency(Long.parseLong(v[0]), Long.parseLong(v[1]), Long.parseLong(v[2]), Long.parseLong(v[3]),
                Long.parseLong(v[4]));
    }
}
