package io.amirror.standby;

import java.util.List;

/**
 * What a drill of a replica found ({@code schemas/drill-report.schema.json}): the replica's last one
 * is kept in its directory ({@link ReplicaDomain#lastDrill()}) for {@code amirror replicas}, and
 * {@code amirror drill --json} prints it.
 *
 * @param id          the drill's id (its directory under {@code STATE/drills/} while it runs)
 * @param replica     the replica domain's name
 * @param uuid        the primary domain's UUID (the replica's directory)
 * @param point       the recovery point booted
 * @param pointCutAt  when the primary cut that point, if known
 * @param domain      the drill domain's name
 * @param network     where its NICs were: {@code isolated NAME}, {@code network NAME} or {@code none}
 * @param startedAt   the drill domain's start
 * @param endedAt     when everything the drill made was gone (or found left)
 * @param bootSeconds from the start to the guest agent's first answer; null when none answered
 * @param checks      each check run through the agent, in order
 * @param evidence    for a guest without an agent: a screenshot's file, else the serial log's tail
 * @param passed      the guest came up and every check passed
 * @param summary     one line for the admin
 * @param leftovers   what could not be removed (empty when the drill left nothing behind)
 */
public record DrillReport(String id, String replica, String uuid, int point, String pointCutAt, String domain,
                          String network, String startedAt, String endedAt, Double bootSeconds, List<Check> checks,
                          String evidence, boolean passed, String summary, List<String> leftovers) {
    public DrillReport {
        checks = checks == null ? List.of() : List.copyOf(checks);
        leftovers = leftovers == null ? List.of() : List.copyOf(leftovers);
    }

    /** One check: its command, exit status (null: it did not end in time), output (clipped) and verdict. */
    public record Check(List<String> command, Integer exitCode, String output, boolean passed, String summary) {
        public Check {
            command = List.copyOf(command);
        }
    }
}
