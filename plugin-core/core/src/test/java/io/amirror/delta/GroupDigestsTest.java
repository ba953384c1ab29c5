package io.amirror.delta;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Group counts of absurd disk sizes saturate instead of wrapping around: a VERIFY of one is refused, never answered short. */
class GroupDigestsTest {

    @Test
    void groupCountsOfHugeDisksSaturate() {
        assertEquals(256, GroupDigests.groupBlocks(1L << 30));
        assertEquals(1, GroupDigests.groups(1, 256));
        assertEquals(4, GroupDigests.groups(4L << 20, 256));
        assertEquals(5, GroupDigests.groups((4L << 20) + 1, 256));
        // 2^50 blocks in groups of 256: 2^42 groups, which an int cast once made 0
        assertEquals(Integer.MAX_VALUE, GroupDigests.groups(1L << 62, GroupDigests.MIN_GROUP_BLOCKS));
        assertEquals(Integer.MAX_VALUE, GroupDigests.groups(Long.MAX_VALUE, GroupDigests.MIN_GROUP_BLOCKS));
        assertEquals(Integer.MAX_VALUE, GroupDigests.groupBlocks(Long.MAX_VALUE));
        assertTrue(GroupDigests.groups(Long.MAX_VALUE, GroupDigests.groupBlocks(Long.MAX_VALUE)) > GroupDigests.MAX_GROUPS);
        assertEquals(GroupDigests.MAX_GROUPS, GroupDigests.groups(1L << 47, GroupDigests.groupBlocks(1L << 47)));
    }
}
