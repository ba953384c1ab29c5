package io.amirror.lab;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.time.Duration;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The lab against real parts: one guest boots for the whole class; the tests that only talk to it
 * share it, and the test that powers a guest off uses its own.
 */
@RealVmTest
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LabSmokeTest {

    private Lab lab;
    private LabDomain shared;

    @BeforeAll
    void boot(Lab lab) {
        this.lab = lab;
        shared = lab.createDomain(new DomainSpec(256,
                List.of(DiskSpec.qcow2("vda", 128L << 20, DiskSpec.Content.EXT4)), true)).start();
    }

    @AfterAll
    void remove() {
        if (shared != null) {
            shared.close();
        }
    }

    @Test
    void guestWritesReachTheQcow2Image() {
        try (LabDomain vm = lab.createDomain(DomainSpec.oneDisk(64L << 20, DiskSpec.Content.BLANK)).start()) {
            Random rnd = new Random(42);
            byte[] aligned = new byte[8192];
            byte[] unaligned = new byte[777];
            byte[] straddling = new byte[4096];
            rnd.nextBytes(aligned);
            rnd.nextBytes(unaligned);
            rnd.nextBytes(straddling);
            vm.console().writeBytes("/dev/vda", 1L << 20, aligned);
            vm.console().writeBytes("/dev/vda", 7 * 65536 + 13, unaligned);
            vm.console().writeBytes("/dev/vda", 9 * 65536 - 1024, straddling);
            vm.powerOff(Duration.ofSeconds(60));
            assertFalse(vm.isRunning());

            QemuImg img = lab.qemuImg();
            assertArrayEquals(aligned, img.read(vm.image("vda"), "qcow2", 1L << 20, aligned.length));
            assertArrayEquals(unaligned, img.read(vm.image("vda"), "qcow2", 7 * 65536 + 13, unaligned.length));
            assertArrayEquals(straddling, img.read(vm.image("vda"), "qcow2", 9 * 65536 - 1024, straddling.length));
            // and nothing else was written: the bytes just before a write are still zero
            assertArrayEquals(new byte[13], img.read(vm.image("vda"), "qcow2", 7 * 65536, 13));
            assertTrue(img.infoJson(vm.image("vda")).contains("\"compat\": \"1.1\""), "qcow2 v3 for persistent bitmaps");
        }
    }

    @Test
    void consoleReturnsOutputAndExitStatus() {
        GuestConsole c = shared.console();
        GuestConsole.Result r = c.run("printf 'a\\tb\\n\\001\\377'; echo err >&2; exit 3", Duration.ofSeconds(30));
        assertEquals(3, r.exitCode());
        assertTrue(r.output().startsWith("a\tb\n\u0001"), r.output());
        assertTrue(r.output().contains("err"));
        assertEquals("hello world\n", c.check("echo 'hello world'"));
    }

    @Test
    void aCommandThatTimesOutDoesNotConfuseTheNextOne() {
        GuestConsole c = shared.console();
        GuestException e = assertThrows(GuestException.class, () -> c.run("sleep 4; echo late", Duration.ofSeconds(1)));
        assertTrue(e.getMessage().contains("did not finish"), e.getMessage());
        // the late reply to the first request arrives first and must be dropped
        assertEquals("on time\n", c.check("echo 'on time'", Duration.ofSeconds(30)));
    }

    @Test
    void guestMountsExt4AndTheTestData() {
        GuestConsole c = shared.console();
        c.check("mount -t ext4 /dev/vda /mnt && mount -t ext4 -o ro /dev/" + shared.spec().testDataTarget() + " /data");
        try {
            String files = c.check("find /data -type f | wc -l").strip();
            assertTrue(Integer.parseInt(files) > 100, "test data holds files: " + files);
            c.check("cp -r /data/common-licenses /mnt/docs && sync");
            String sums = c.check("cd /data/common-licenses && sha256sum * | sort > /tmp/a; "
                    + "cd /mnt/docs && sha256sum * | sort > /tmp/b; cmp /tmp/a /tmp/b && echo same");
            assertEquals("same\n", sums);
            c.check("rm -r /mnt/docs && sync && fstrim -v /mnt");
        } finally {
            c.run("umount /data; umount /mnt", Duration.ofSeconds(30));
        }
    }
}
