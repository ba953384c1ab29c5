package io.amirror.primary;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.amirror.cli.Progress;
import io.amirror.control.StatusReport;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A capture's progress as status shows it: bytes read of bytes planned, rate, ETA. */
class CaptureMeterTest {
    private long now;
    private final CaptureMeter meter = new CaptureMeter(() -> now);

    private void advance(double seconds) {
        now += (long) (seconds * 1e9);
    }

    @Test
    void ratesAndEtaComeFromTheLastSecondsOfReading() {
        meter.starting(1);
        meter.planned("vda", 100L << 20, false);
        assertNull(meter.view().etaSeconds(), "no rate before a second of reading");
        for (int i = 0; i < 20; i++) { // 10 MiB/s for 2 s
            advance(0.1);
            meter.read("vda", 1 << 20);
        }
        CaptureMeter.View v = meter.view();
        assertEquals(20L << 20, v.bytesRead());
        assertEquals(100L << 20, v.bytesToRead());
        assertEquals(10L << 20, v.readRate(), 1 << 16);
        assertEquals(8L, v.etaSeconds(), "80 MiB left at 10 MiB/s");
        // the rate drops to 1 MiB/s: after a window, the estimate follows it, not the average since the start
        for (int i = 0; i < 12; i++) {
            advance(1);
            meter.read("vda", 1 << 20);
        }
        v = meter.view();
        assertEquals(1L << 20, v.readRate(), 1 << 17);
        assertTrue(v.etaSeconds() > 60 && v.etaSeconds() < 75, "68 MiB left at 1 MiB/s: " + v.etaSeconds());
    }

    @Test
    void aStalledReadHasNoRateAndNoEta() {
        meter.starting(1);
        meter.planned("vda", 10L << 20, false);
        advance(0.5);
        meter.read("vda", 1 << 20);
        advance(30);
        CaptureMeter.View v = meter.view();
        assertEquals(0, v.readRate());
        assertNull(v.etaSeconds());
    }

    @Test
    void noEtaWhileDisksAreStillToBePlannedAndRawDisksAreNamed() {
        meter.starting(2);
        meter.planned("vda", 4L << 20, false);
        for (int i = 0; i < 4; i++) {
            advance(0.5);
            meter.read("vda", 1 << 20);
        }
        assertNull(meter.view().etaSeconds(), "vdb's plan is not known yet");
        meter.planned("vdb", 8L << 20, true);
        advance(1);
        meter.read("vdb", 1 << 20);
        CaptureMeter.View v = meter.view();
        assertEquals(2, v.disksPlanned());
        assertEquals(12L << 20, v.bytesToRead());
        assertEquals(List.of("vdb"), v.readWhole());
        assertTrue(v.etaSeconds() != null && v.etaSeconds() > 0);
    }

    @Test
    void theStatusLineShowsReadOfPlannedRateEtaAndTheDisksReadWhole() throws Exception {
        var capture = new StatusReport.Capture(2, 2, 3_000_000_000L, 1_200_000_000L, 48e6, 38L, List.of("vdb"));
        var json = new ObjectMapper().createObjectNode().put("phase", "capturing");
        json.set("capture", new ObjectMapper().valueToTree(capture));
        assertEquals("capturing [########............]  40% read 1.20 GB of 3.00 GB, 48.00 MB/s, ETA 38s "
                + "(disk 2 of 2; read whole: vdb)", Progress.statusLine(json));
        json.set("capture", new ObjectMapper().valueToTree(new StatusReport.Capture(1, 1, 1000, 0, 0, null, List.of())));
        assertEquals("capturing [....................]   0% read 0 B of 1.0 kB", Progress.statusLine(json));
    }

    @Test
    void anAlertBeforeTheFirstPointSaysHowFarTheFirstCopyIs() {
        DomainStatus s = new DomainStatus("files");
        s.assign("p", "standby:1", java.time.Duration.ofMinutes(15), java.time.Duration.ofMinutes(30));
        assertEquals("the first copy has not started yet", s.firstCopyProgress());
        s.cycleStarted();
        s.phase(DomainStatus.Phase.CAPTURING);
        s.capturing(meter);
        meter.starting(2);
        meter.planned("vda", 3_000_000_000L, false);
        for (int i = 0; i < 20; i++) { // 10 MB/s
            advance(0.1);
            meter.read("vda", 1_000_000);
        }
        assertEquals("the first copy is being captured: 20.00 MB of at least 3.00 GB read", s.firstCopyProgress(),
                "one of two disks planned: at least, and no end to tell yet");
        meter.planned("vdb", 1_000_000_000L, false);
        for (int i = 0; i < 20; i++) {
            advance(0.1);
            meter.read("vda", 1_000_000);
        }
        assertEquals("the first copy is being captured: 40.00 MB of 4.00 GB read, about 6m36s left to read",
                s.firstCopyProgress());
        s.shipping(2_000_000);
        assertTrue(s.firstCopyProgress().startsWith("the first copy is being shipped: 0 B of 2.00 MB"), s.firstCopyProgress());
        s.acknowledged(1, java.time.Instant.now(), java.time.Instant.now(), "CRASH", 2_000_000);
        assertNull(s.firstCopyProgress(), "a point exists: the alert names its age instead");
    }
}
