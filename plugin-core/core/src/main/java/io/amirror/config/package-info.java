/**
 * What the admin wrote, read before the flow starts: policies ({@link io.amirror.config.PolicyLoader}
 * into {@link io.amirror.config.Policy}), the daemons' files ({@link io.amirror.config.PrimaryConfig},
 * {@link io.amirror.config.StandbyConfig}), each checked against its JSON Schema
 * ({@link io.amirror.config.SchemaCheck}) into {@link io.amirror.config.ConfigError}s that name the file,
 * the field and the fix.
 *
 * <p>Stage: none; records the stages read. May use: {@code util}, the schemas jar. Must not use
 * {@code delta}, {@code transport}, {@code primary} or {@code standby}: they read config, never the
 * other way round, so a value such as a preset or a rate is held here as plain data.
 */
package io.amirror.config;
