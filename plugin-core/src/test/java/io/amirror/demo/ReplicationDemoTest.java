package io.amirror.demo;

import io.amirror.lab.Lab;
import io.amirror.lab.RealVmTest;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's first command, shortened to one office day: it must keep working in every commit. */
@RealVmTest
class ReplicationDemoTest {

    @Test
    void theDemoReplicatesAndTheReplicaMatches(Lab lab) throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        ReplicationDemo.Result r = ReplicationDemo.run(lab, 1, new PrintStream(buf, true, StandardCharsets.UTF_8));
        String out = buf.toString(StandardCharsets.UTF_8);
        System.out.print(out);
        assertTrue(r.identical(), out);
        assertEquals(2, r.points().size());
        ReplicationDemo.Point office = r.points().get(1);
        assertTrue(office.onWire() < office.guestWrote(), "an office day costs less than the guest wrote: " + out);
        assertTrue(out.contains("replica identical to the guest's disk at the last point: yes"), out);
        assertTrue(r.failoverMatches(), "the replica guest booted by virsh start shows the primary's last log line: " + out);
        assertTrue(out.contains("after virsh start on the standby, the guest's data is there: yes"), out);
    }
}
