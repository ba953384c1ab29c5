package io.amirror.control;

import io.amirror.config.ConfigError;

import java.util.List;

/** The whole daemon at one moment, as {@code amirror status --json} prints it ({@code status.schema.json}). */
public record StatusReport(String host, String version, String startedAt, String now, List<String> policies,
                           List<ConfigError> policyErrors, List<StatusReport.Domain> domains) {

    /** One guest (a libvirt domain or a bridge guest) in the status. */
    public record Domain(String domain, String uuid, String policy, String standby, String phase, Integer lastPoint,
                       String lastPointAt, Long rpoSeconds, long rpoTargetSeconds, long alertAfterSeconds,
                       String rpoState, long pendingBytes, long shippedBytes, double rateBitsPerSecond,
                       Long etaSeconds, String nextRunAt, String consistency, long cycles, long errors,
                       String lastError, String lastErrorAt, String syncRequestedAt, String lastCycleStartedAt,
                       String lastCycleEndedAt,
                       Long lastCycleDeltaBytes, Double lastCycleSeconds, String lastRepair, String lastVerify,
                       long deltaBytesSent, long pointsAcknowledged, Double lastPointLagSeconds, Long worstRpoSeconds,
                         String standbyRefusal, Capture capture, Long lastCycleBytesRead, List<String> lastCycleReadWhole,
                         Long rpoAchievableSeconds, String standbyFingerprint) {
    }

    /**
     * A capture's reads while the phase is {@code capturing}: bytes read of those planned so far
     * (each disk's DATA extents, known once its plan is made), the read rate and the time left.
     *
     * @param etaSeconds null while the rate is unknown or disks are still to be planned
     * @param readWhole  disks read in full (raw files and block devices: no dirty bitmap)
     */
    public record Capture(int disks, int disksPlanned, long bytesToRead, long bytesRead, double readBytesPerSecond,
                          Long etaSeconds, List<String> readWhole) {
    }
}
