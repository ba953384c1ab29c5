package io.amirror.schedule;

/**
 * What a scheduled job does: one replication cycle of one domain under one policy. The scheduler
 * guarantees that calls for the same domain never overlap; calls for different domains may run at
 * once, up to the scheduler's thread count.
 */
@FunctionalInterface
public interface CycleRunner {
    void runCycle(String domain, String policy) throws Exception;
}
