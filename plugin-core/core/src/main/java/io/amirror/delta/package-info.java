/**
 * Stages refine and encode on the primary, verify and read on the standby: the delta stream
 * ({@code schemas/delta-stream.md}). Pure: {@link io.amirror.delta.DeltaFormat}, {@link io.amirror.delta.Frame},
 * {@link io.amirror.delta.DeltaCodec}, {@link io.amirror.delta.XzBlockCodec}. On them the writer and the
 * reader, the {@link io.amirror.delta.ReplicaHashMap} with the 4 KiB {@link io.amirror.delta.Refiner} (a
 * capture sink), and {@link io.amirror.delta.DeltaFiles} for the offline commands.
 *
 * <p>Entry: {@link io.amirror.delta.DeltaWriter}, {@link io.amirror.delta.DeltaReader}. May use: {@code capture}
 * (its sink), {@code libvirt} (disk descriptions), {@code image}, {@code state}, {@code util}. Must not use
 * {@code transport}, {@code standby} or {@code primary}, and forms no cycle with {@code spool}.
 */
package io.amirror.delta;
