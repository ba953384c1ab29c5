package io.amirror.standby;

import java.io.IOException;

/** The standby will not take a delta; the code and reason go back to the sender as a REFUSE. */
public class StandbyRefusal extends IOException {
    private final int code;

    public StandbyRefusal(int code, String reason) {
        super(reason);
        this.code = code;
    }

    public int code() {
        return code;
    }
}
