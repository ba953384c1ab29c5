package io.amirror.lab;

import java.time.Duration;
import java.util.Random;

/**
 * An office day inside a lab guest, on an ext4 filesystem at {@code /mnt} with the test data at
 * {@code /data}: page rewrites in a database-like file, log appends, new documents, and on some
 * days deletes followed by fstrim. Everything is derived from a seed, so two runs write the same.
 *
 * <p>Content is real: database pages are 4 KiB pieces of the test data's libraries and documents
 * (so they compress like real pages do), log lines are text with timestamps and numbers.
 */
public final class OfficeWorkload {
    /** Size of the database-like file. */
    public static final int DB_MIB = 32;

    private final GuestConsole console;
    private final String dataDevice;
    private final long seed;

    public OfficeWorkload(GuestConsole console, String dataDevice, long seed) {
        this.console = console;
        this.dataDevice = dataDevice;
        this.seed = seed;
    }

    /** Mounts the filesystems (the writable disk must hold ext4). */
    public void mount() {
        console.check("mountpoint -q /mnt || mount -t ext4 /dev/vda /mnt; mountpoint -q /data || mount -t ext4 -o ro "
                + dataDevice + " /data");
    }

    /** Unmounts, so that nothing writes the disk until the next {@link #mount()}. */
    public void unmount() {
        console.check("umount /mnt; umount /data; sync");
    }

    /**
     * Day {@code day} whole, mounted and unmounted around it: day 1 is {@link #setUp()}, a later
     * day {@link #day(int, boolean)}.
     */
    public void workDay(int day, boolean deleteAndTrim) {
        mount();
        if (day == 1) {
            setUp();
        } else {
            day(day, deleteAndTrim);
        }
        unmount();
    }

    /** The first day: the file share, the database and the log come into being. */
    public void setUp() {
        console.check("mkdir -p /mnt/share /mnt/log && cp -r /data/doc /mnt/share/ && "
                + "find /data/x86_64-linux-gnu -type f | sort | xargs cat | head -c " + (DB_MIB << 20) + " > /mnt/db.dat"
                + " && sync", Duration.ofMinutes(5));
    }

    /**
     * Housekeeping on day {@code day}: yesterday's documents are copied into an archive folder and
     * the log is rotated (moved, then a copy kept compressed-free as the admin's "backup"): content
     * that the disk already holds, written again at new places.
     */
    public void archive(int day) {
        console.check("mkdir -p /mnt/archive && cp -r /mnt/share/day" + (day - 1) + " /mnt/archive/day" + (day - 1)
                + " && mv /mnt/log/app.log /mnt/log/app.log." + day + " && cp /mnt/log/app.log." + day
                + " /mnt/archive/app.log." + day + " && sync", Duration.ofMinutes(5));
    }

    /** Day {@code day} (2, 3, ...): what a small office does to its server's disk in a day. */
    public void day(int day, boolean deleteAndTrim) {
        Random r = new Random(seed * 1000 + day);
        StringBuilder s = new StringBuilder("set -e\n");
        // 1. database page rewrites: 4 KiB pages copied from real files into random pages of db.dat
        s.append("pages=$(find /data/x86_64-linux-gnu /data/perl5 -type f -size +16k | sort)\n");
        s.append("set -- $pages\n");
        for (int i = 0; i < 400; i++) {
            int src = r.nextInt(200) + 1;
            int srcPage = r.nextInt(4);
            int dstPage = r.nextInt((DB_MIB << 20) / 4096);
            s.append("eval f=\\${").append(src).append(":-$1}; dd if=\"$f\" of=/mnt/db.dat bs=4096 count=1 skip=")
                    .append(srcPage).append(" seek=").append(dstPage).append(" conv=notrunc 2>/dev/null\n");
        }
        // 2. log appends: a few thousand lines of text
        s.append("i=0; while [ $i -lt 3000 ]; do echo \"2026-11-").append(10 + day)
                .append(" $((i / 150 + 8)):$((i % 60)):$((i * 7 % 60)) INFO user$((i % 17)) opened document")
                .append(" $((i * 31 % 997)) in $((i * 13 % 71)) ms, session ").append(r.nextInt(100000))
                .append("-$i\"; i=$((i + 1)); done >> /mnt/log/app.log\n");
        // 3. new documents: a different slice of the test data each day
        s.append("mkdir -p /mnt/share/day").append(day).append("\n");
        s.append("find /data/perl5 -type f | sort | awk 'NR % 4 == ").append(day % 4)
                .append("' | head -n 150 | while read f; do cp \"$f\" /mnt/share/day").append(day).append("/; done\n");
        if (deleteAndTrim) {
            s.append("rm -rf /mnt/share/doc /mnt/share/day").append(day - 1).append("\n");
            s.append("sync; fstrim /mnt\n");
        }
        s.append("sync\n");
        console.check(s.toString(), Duration.ofMinutes(10));
    }
}
