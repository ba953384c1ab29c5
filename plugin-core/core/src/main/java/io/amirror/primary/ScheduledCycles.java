package io.amirror.primary;

import io.amirror.control.VerifyReport;

import io.amirror.config.Policy;
import io.amirror.schedule.CycleRunner;

/**
 * What the scheduler runs for a guest: its {@link ReplicationCycle} under the guest's lock, then a
 * verify if its policy has one due, with the cycle's start, end and failure in its status.
 */
final class ScheduledCycles implements CycleRunner {
    private final Guests guests;
    private final PolicySet policies;
    private final Verifier verifier;

    ScheduledCycles(Guests guests, PolicySet policies, Verifier verifier) {
        this.guests = guests;
        this.policies = policies;
        this.verifier = verifier;
    }

    @Override
    public void runCycle(String guest, String policyName) throws Exception {
        DomainStatus status = guests.status(guest);
        Policy policy = policies.get(policyName);
        if (status == null || policy == null) {
            return; // unassigned by a reload since the trigger fired
        }
        Throwable failure = null;
        status.cycleStarted();
        try {
            synchronized (guests.lock(guest)) {
                Replication r = guests.open(guest, policy);
                StandbyLink link = guests.link(policy);
                new ReplicationCycle(r, policy, link, guests.spool(), status).run();
                verifier.verifyIfDue(r, policy, link, status);
            }
        } catch (Exception | Error e) {
            failure = e;
            throw e;
        } finally {
            status.cycleEnded(failure);
        }
    }

    /** A verify of {@code guest} now, after any cycle of it in progress. */
    VerifyReport verify(String guest) throws Exception {
        DomainStatus status = guests.status(guest);
        Policy policy = status == null ? null : policies.get(status.policy());
        if (policy == null) {
            throw new IllegalArgumentException("no policy covers domain '" + guest + "'");
        }
        synchronized (guests.lock(guest)) {
            return verifier.verify(guests.open(guest, policy), guests.link(policy), status);
        }
    }
}
