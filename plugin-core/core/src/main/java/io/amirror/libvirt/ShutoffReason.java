package io.amirror.libvirt;

import com.sun.jna.Function;
import com.sun.jna.NativeLibrary;
import com.sun.jna.PointerType;
import com.sun.jna.ptr.IntByReference;
import org.libvirt.Domain;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.reflect.Field;

/**
 * Why a shut-off domain is off, as libvirt's {@code virDomainGetState} says ({@code
 * virDomainShutoffReason}, in its order). Only a guest that shut itself down ({@link #SHUTDOWN})
 * left its disks as a clean shutdown does; one destroyed, crashed or failed left them as a power
 * cut would, and a point of them is crash-consistent. libvirt-java 0.5.4 binds no
 * {@code virDomainGetState}: it is called through JNA on the library libvirt-java loaded, with the
 * domain's own pointer.
 */
public enum ShutoffReason {
    UNKNOWN, SHUTDOWN, DESTROYED, CRASHED, MIGRATED, SAVED, FAILED, FROM_SNAPSHOT, DAEMON;

    private static final Logger log = LoggerFactory.getLogger(ShutoffReason.class);
    private static final int VIR_DOMAIN_SHUTOFF = 5;

    /**
     * Whether a point of the disks counts as a clean shutdown's. {@link #UNKNOWN} does too: libvirt
     * forgets the reason of a domain that was off when libvirtd restarted, and such a domain was
     * taken as shut down cleanly before amirror asked for reasons at all.
     */
    public boolean clean() {
        return this == SHUTDOWN || this == UNKNOWN;
    }

    /** The libvirt reason code, or {@link #UNKNOWN} for one this enum does not know. */
    static ShutoffReason ofCode(int code) {
        return code >= 0 && code < values().length ? values()[code] : UNKNOWN;
    }

    /**
     * The reason {@code domain} is off; {@link #UNKNOWN} when it runs, or when libvirt cannot say
     * (the call is logged then).
     */
    public static ShutoffReason of(Domain domain) {
        try {
            Field f = Domain.class.getDeclaredField("vdp");
            f.setAccessible(true);
            PointerType vdp = (PointerType) f.get(domain);
            Function getState = NativeLibrary.getInstance("virt").getFunction("virDomainGetState");
            IntByReference state = new IntByReference();
            IntByReference reason = new IntByReference();
            int rc = getState.invokeInt(new Object[] {vdp.getPointer(), state, reason, 0});
            if (rc != 0) {
                log.warn("libvirt could not say why a domain is off (virDomainGetState returned {})", rc);
                return UNKNOWN;
            }
            return state.getValue() == VIR_DOMAIN_SHUTOFF ? ofCode(reason.getValue()) : UNKNOWN;
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            log.warn("cannot ask libvirt why a domain is off: {}", e.toString());
            return UNKNOWN;
        }
    }
}
