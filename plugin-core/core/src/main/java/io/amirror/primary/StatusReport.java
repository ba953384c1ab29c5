package io.amirror.primary;

import io.amirror.config.ConfigError;

import java.util.List;

/** The whole daemon at one moment, as {@code amirror status --json} prints it ({@code status.schema.json}). */
public record StatusReport(String host, String version, String startedAt, String now, List<String> policies,
                           List<ConfigError> policyErrors, List<DomainStatus.View> domains) {
}
