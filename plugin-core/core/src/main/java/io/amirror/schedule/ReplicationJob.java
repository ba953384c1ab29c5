package io.amirror.schedule;

import org.quartz.DisallowConcurrentExecution;
import org.quartz.Job;
import org.quartz.JobExecutionContext;
import org.quartz.JobExecutionException;
import org.quartz.SchedulerException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Quartz job of one domain: runs one cycle through the {@link CycleRunner} in the scheduler
 * context. {@link DisallowConcurrentExecution} holds a fire of the same job (same domain) until the
 * running one ends, so cycles of a domain never overlap; a fire held too long is a misfire, and the
 * triggers' misfire instruction makes it fire once, at once, rather than catch up in a burst.
 */
@DisallowConcurrentExecution
public final class ReplicationJob implements Job {
    private static final Logger log = LoggerFactory.getLogger(ReplicationJob.class);
    static final String RUNNER = "amirror.runner";
    static final String DOMAIN = "domain";
    static final String POLICY = "policy";

    @Override
    public void execute(JobExecutionContext context) throws JobExecutionException {
        String domain = context.getMergedJobDataMap().getString(DOMAIN);
        String policy = context.getMergedJobDataMap().getString(POLICY);
        CycleRunner runner;
        try {
            runner = (CycleRunner) context.getScheduler().getContext().get(RUNNER);
        } catch (SchedulerException e) {
            throw new JobExecutionException(e);
        }
        try {
            runner.runCycle(domain, policy);
        } catch (Exception e) {
            // the runner records the failure in the domain's status; the schedule goes on
            log.warn("cycle of {} (policy {}) failed: {}", domain, policy, e.toString());
        }
    }
}
