/**
 * Not production: {@code amirror bench}, developer tools that never ship in the package. Each benchmark
 * runs amirror's real pipeline on a lab guest and prints the figures recorded in {@code BENCHMARKS.md}:
 * bytes per office day, COPY frames against the alternatives, cost against disk size.
 *
 * <p>Entry: {@link io.amirror.bench.DeltaBench}, {@link io.amirror.bench.CopyBench},
 * {@link io.amirror.bench.ScaleBench}. May use the lab and the core. The core must never use them; their
 * command joins the CLI through {@code cli.CommandProvider}.
 */
package io.amirror.bench;
