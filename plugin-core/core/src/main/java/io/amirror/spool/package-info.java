/**
 * Between encode and ship on the primary: deltas waiting to ship. A delta appears under its final
 * name only when complete and synced; a new delta of a disk supersedes the older ones; the spool
 * keeps a size bound, and a delta goes once the standby acknowledged it.
 *
 * <p>Entry: {@link io.amirror.spool.Spool}. May use: the delta format, {@code state}, {@code util}.
 * Must not use {@code transport}, {@code standby} or {@code primary}: the shipper reads the spool,
 * never the other way round; and forms no cycle with {@code delta}.
 */
package io.amirror.spool;
