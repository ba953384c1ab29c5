package io.amirror.libvirt;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.libvirt.Connect;
import org.libvirt.Domain;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Why a domain is off, asked of the real libvirt library (its built-in test driver: no libvirtd, no QEMU). */
@Tag("real")
class ShutoffReasonTest {

    @Test
    void libvirtsReasonCodesInItsOrderAndOnlyAShutdownIsClean() {
        assertEquals(ShutoffReason.SHUTDOWN, ShutoffReason.ofCode(1));
        assertEquals(ShutoffReason.DESTROYED, ShutoffReason.ofCode(2));
        assertEquals(ShutoffReason.CRASHED, ShutoffReason.ofCode(3));
        assertEquals(ShutoffReason.DAEMON, ShutoffReason.ofCode(8));
        assertEquals(ShutoffReason.UNKNOWN, ShutoffReason.ofCode(42), "a reason of a newer libvirt");
        assertEquals(ShutoffReason.UNKNOWN, ShutoffReason.ofCode(-1));
        assertTrue(ShutoffReason.SHUTDOWN.clean());
        assertTrue(ShutoffReason.UNKNOWN.clean(), "libvirt forgets reasons across its restarts");
        for (ShutoffReason r : new ShutoffReason[] {ShutoffReason.DESTROYED, ShutoffReason.CRASHED, ShutoffReason.FAILED,
            ShutoffReason.SAVED, ShutoffReason.DAEMON}) {
            assertFalse(r.clean(), r.name());
        }
    }

    @Test
    void aDestroyedDomainIsDestroyedAndARunningOneHasNoReason() throws Exception {
        Connect c = new Connect("test:///default");
        try {
            Domain d = c.domainLookupByName("test"); // the test driver's running domain
            assertEquals(ShutoffReason.UNKNOWN, ShutoffReason.of(d), "running: no reason to be off");
            d.destroy();
            assertEquals(ShutoffReason.DESTROYED, ShutoffReason.of(d));
        } finally {
            c.close();
        }
    }
}
