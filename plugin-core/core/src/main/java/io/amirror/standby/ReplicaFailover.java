package io.amirror.standby;

import io.amirror.transport.ReplicaManifest;
import io.amirror.util.ShellText;

import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;

import java.io.IOException;
import java.time.Instant;
import java.util.Optional;
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

    /**
     * Records {@code point} as the one the next start rolls to. After a failover not yet committed,
     * another kept point may be tried once the domain is shut down (what its guest wrote since its
     * start is then discarded); refused once the failover was committed, or while the domain runs.
     */
    public void choosePoint(int point) throws IOException, LibvirtException {
        Optional<ReplicaDomain.Promoted> p = domain.promoted();
        if (p.isPresent() && p.get().committed()) {
            throw new Promotion.Refused(label + " was started as the domain at point " + p.get().point()
                    + " and that failover was committed; its replica no longer has points to choose from");
        }
        if (p.isPresent() && running()) {
            throw new Promotion.Refused(label + " runs, started at point " + p.get().point() + " (a trial: not "
                    + "committed); shut it down first (virsh shutdown " + label + "), then choose point " + point
                    + ": what its guest wrote since its start is discarded then");
        }
        domain.requestFailoverPoint(point);
        if (p.isPresent()) {
            say.accept(label + ": a trial at point " + p.get().point() + " was not committed: the next start rolls "
                    + "every disk back to point " + point + ", discarding what the guest wrote since its start");
        }
    }

    /** Makes the failover's point final ({@code --commit}): no other point can be tried afterwards. */
    public ReplicaDomain.Promoted commit() throws IOException {
        ReplicaDomain.Promoted p = domain.commitPromotion();
        say.accept(label + ": the failover at point " + p.point() + " is committed");
        return p;
    }

    private boolean running() throws LibvirtException, IOException {
        Optional<String> name = domain.definedName();
        if (name.isEmpty()) {
            return false;
        }
        Connect c = new Connect(libvirtUri);
        try {
            return c.domainLookupByName(name.get()).isActive() == 1;
        } catch (LibvirtException gone) {
            return false;
        } finally {
            c.close();
        }
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
