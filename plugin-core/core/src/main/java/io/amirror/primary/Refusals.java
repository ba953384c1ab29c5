package io.amirror.primary;

import io.amirror.transport.WireMessage.Refuse;

/**
 * The standby's refusal codes as the primary's status and metrics name them: a word an alert rule
 * can match ({@code amirror_standby_refusing{reason="no_space"}}), not a number.
 */
final class Refusals {
    private Refusals() {
    }

    static String name(int code) {
        return switch (code) {
            case Refuse.BASE_MISMATCH -> "base_mismatch";
            case Refuse.NO_SPACE -> "no_space";
            case Refuse.BAD_DELTA -> "bad_delta";
            case Refuse.PROTOCOL -> "protocol";
            case Refuse.INTERNAL -> "internal";
            case Refuse.PROMOTED -> "promoted";
            case Refuse.NO_SEED -> "no_seed";
            case Refuse.NOT_OWNER -> "not_owner";
            case Refuse.TOO_LARGE -> "too_large";
            case Refuse.IN_USE -> "in_use";
            case Refuse.NO_SWITCHOVER -> "no_switchover";
            default -> "code_" + code;
        };
    }
}
