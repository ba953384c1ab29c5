package io.amirror.standby;

import io.amirror.transport.ReplicaManifest;
import io.amirror.util.ShellText;

import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;

import java.io.IOException;
import java.time.Instant;
import java.util.function.Consumer;

/**
 * {@code amirror failover}: the replica of a domain becomes the domain on the standby. Optionally
 * an admin's choice of point first; then the replica domain's definition brought up to date (no
 * lock held: libvirt may call the hook, which takes it), the replica prepared ({@link Promotion})
 * and the replica domain started, unless only the preparation was asked for; then it waits for the
 * guest to answer and runs the policy's boot check ({@link GuestUp}). A bridge guest has no
 * libvirt domain: its launcher is named instead.
 */
public final class ReplicaFailover {
    private final ReplicaDomain domain;
    private final String label;
    private final String libvirtUri;
    private final ReplicaDefinition.Options definition;
    private final Consumer<String> say;
    private boolean checkGuest = true;
    private GuestUp.Report guestUp;

    /** {@code label} names the replica in what is said; {@code say} hears each line of what was done. */
    public ReplicaFailover(ReplicaDomain domain, String label, String libvirtUri, ReplicaDefinition.Options definition,
                    Consumer<String> say) {
        this.domain = domain;
        this.label = label;
        this.libvirtUri = libvirtUri;
        this.definition = definition;
        this.say = say;
    }

    /** Records {@code point} as the one the next start rolls to; refused once the replica was promoted. */
    public void choosePoint(int point) throws IOException {
        if (domain.promoted().isPresent()) {
            throw new Promotion.Refused(label + " was already started as the domain at point "
                    + domain.promoted().get().point() + "; its replica no longer has points to choose from");
        }
        domain.requestFailoverPoint(point);
    }

    /** Prepares the replica and, with {@code start}, starts its domain. */
    public void run(boolean start) throws IOException, LibvirtException {
        if (start && domain.promoted().isEmpty()) { // the definition is current before the start (no lock held)
            new ReplicaDefiner(libvirtUri, definition).define(domain);
        }
        Promotion.Outcome o = Promotion.prepare(domain, label);
        o.steps().forEach(s -> say.accept(label + ": " + s));
        say.accept(label + ": replica at point " + o.point() + ", ready to run");
        if (!start) {
            return;
        }
        if (domain.manifest().map(ReplicaManifest::bridged).orElse(false)) {
            Promotion.started(domain, label, Promotion.DEFAULT_WAIT); // no libvirt start will say it runs
            // the launcher came from the primary: quoted and stripped of terminal controls before it is shown
            say.accept(ShellText.printable(label) + " is a bridge guest: start it with 'amirror bridge failover', or "
                    + "by hand from the replica image with its launcher: "
                    + ShellText.command(domain.manifest().get().launcher()));
            return;
        }
        String name = domain.definedName().orElseThrow(() -> new IllegalStateException("the replica of " + label
                + " was never defined in libvirt; run the standby with libvirt, or define it by hand from "
                + domain.files().manifest()));
        Connect c = new Connect(libvirtUri);
        try {
            Domain dom = c.domainLookupByName(name);
            Instant startedAt = Instant.now();
            if (dom.isActive() == 1) {
                say.accept(name + " is running");
            } else {
                try {
                    dom.create();
                } catch (LibvirtException e) {
                    // the hook's release step does the same; without the hook this is the only one
                    Promotion.released(domain, label, Promotion.DEFAULT_WAIT)
                            .ifPresent(r -> r.steps().forEach(s -> say.accept(label + ": " + s)));
                    throw e;
                }
                say.accept(name + " started");
            }
            // the hook's started step does the same; without the hook this is the only one
            Promotion.Outcome running = Promotion.started(domain, label, Promotion.DEFAULT_WAIT);
            if (!running.earlier()) {
                running.steps().forEach(s -> say.accept(label + ": " + s));
            }
            if (checkGuest) {
                guestUp = new GuestUp(dom, label, say).checkAndRecord(domain, running.point(), startedAt);
            }
        } finally {
            c.close();
        }
    }

    /** Whether {@link #run} waits for the guest to answer and runs the policy's boot check (the default). */
    public ReplicaFailover checkingGuest(boolean check) {
        this.checkGuest = check;
        return this;
    }

    /** The started guest's check, once {@link #run} made one. */
    public java.util.Optional<GuestUp.Report> guestUp() {
        return java.util.Optional.ofNullable(guestUp);
    }
}
