/*
 * amirror's Cockpit page. It reads the daemons' local APIs through the Cockpit bridge, starting no
 * JVM per refresh: the primary's control API (GET /v1/status, the same JSON as 'amirror status
 * --json', status.schema.json; POST /v1/sync/DOMAIN for "Sync now"), with the token from
 * STATE/control/authorization; and the standby's /metrics (Prometheus text). Only the buttons that
 * change a replica (drill, failover) run the amirror command, after a confirmation that names what
 * it does. Every value from a daemon reaches the page as text, never as markup.
 *
 * Options in the URL (#/?state=DIR&standby=HOST:PORT&standbyState=DIR): the primary's state
 * directory (default /var/lib/amirror), the standby's metrics address (default: standby.json's
 * "metrics", else 127.0.0.1:9751) and the standby's state directory for the commands.
 */
"use strict";

const REFRESH_MS = 5000;
const opts = () => cockpit.location.options;

function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
}

function bytes(n) {
    if (n === null || n === undefined || isNaN(n)) return "–";
    if (n < 1000) return n + " B";
    if (n < 1e6) return (n / 1e3).toFixed(1) + " kB";
    if (n < 1e9) return (n / 1e6).toFixed(2) + " MB";
    return (n / 1e9).toFixed(2) + " GB";
}

function duration(s) {
    if (s === null || s === undefined || isNaN(s)) return "–";
    s = Math.round(s);
    if (s < 120) return s + " s";
    if (s < 7200) return Math.round(s / 60) + " min";
    if (s < 172800) return (s / 3600).toFixed(1) + " h";
    return (s / 86400).toFixed(1) + " d";
}

function when(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString();
}

/* ---- primary: the control API ---- */

async function primaryApi() {
    const state = opts().state || "/var/lib/amirror";
    const endpoint = await cockpit.file(state + "/control/endpoint", { superuser: "try" }).read();
    if (!endpoint) return null;
    const header = (await cockpit.file(state + "/control/authorization", { superuser: "try" }).read() || "").trim();
    const url = new URL(endpoint.trim());
    const http = cockpit.http(Number(url.port), { address: url.hostname });
    const headers = { Authorization: header.replace(/^authorization:\s*/i, "") };
    return { state, http, headers };
}

function primaryRow(api, d) {
    const tr = el("tr");
    tr.dataset.domain = d.domain;
    tr.appendChild(el("td", d.domain));
    tr.appendChild(el("td", d.phase + (d.lastError ? " (last cycle failed)" : "")));
    tr.appendChild(el("td", d.lastPoint === null ? "none yet" : "point " + d.lastPoint, "num point"));
    const rpoClass = d.rpoState === "missed" ? "bad" : d.rpoState === "ok" ? "ok" : "warn";
    tr.appendChild(el("td", duration(d.rpoSeconds) + " / " + duration(d.rpoTargetSeconds)
        + (d.rpoAchievableSeconds ? " (holds " + duration(d.rpoAchievableSeconds) + ")" : ""), "num " + rpoClass));
    let transfer = "–";
    if (d.phase !== "idle") {
        transfer = bytes(d.shippedBytes) + " of " + bytes(d.pendingBytes)
            + (d.rateBitsPerSecond ? ", " + (d.rateBitsPerSecond / 1e6).toFixed(2) + " Mbit/s" : "")
            + (d.etaSeconds !== null && d.etaSeconds !== undefined ? ", " + duration(d.etaSeconds) + " left" : "");
    }
    tr.appendChild(el("td", transfer, "num"));
    tr.appendChild(el("td", d.lastCycleDeltaBytes === null || d.lastCycleDeltaBytes === undefined ? "–"
        : bytes(d.lastCycleDeltaBytes) + ", cut to ack " + duration(d.lastPointLagSeconds) + ", " + (d.consistency || ""), "num"));
    tr.appendChild(el("td", d.lastVerify || "never"));
    const alerts = [];
    if (d.rpoState === "missed") alerts.push("RPO missed");
    if (d.standbyRefusal) alerts.push("standby refuses: " + d.standbyRefusal);
    if (d.lastError) alerts.push(d.lastError);
    tr.appendChild(el("td", alerts.join("; ") || "none", alerts.length ? "bad" : "ok"));
    const td = el("td");
    const sync = el("button", "Sync now");
    sync.addEventListener("click", async () => {
        sync.disabled = true;
        try {
            await api.http.post("/v1/sync/" + encodeURIComponent(d.domain), "", api.headers);
            sync.textContent = "Requested";
        } catch (e) {
            sync.textContent = "Failed: " + (e.message || e);
        }
        setTimeout(refresh, 500);
    });
    td.appendChild(sync);
    tr.appendChild(td);
    return tr;
}

async function showPrimary() {
    const section = document.getElementById("primary");
    let api;
    try {
        api = await primaryApi();
    } catch (e) {
        api = null;
    }
    if (!api) {
        section.hidden = true;
        return false;
    }
    const status = JSON.parse(await api.http.get("/v1/status", {}, api.headers));
    document.getElementById("primary-host").textContent = status.host + ", amirror " + status.version
        + ", policies: " + (status.policies.join(", ") || "none")
        + (status.policyErrors.length ? " (" + status.policyErrors.length + " refused)" : "");
    const body = section.querySelector("tbody");
    body.replaceChildren(...status.domains.map(d => primaryRow(api, d)));
    section.hidden = false;
    return true;
}

/* ---- standby: its metrics ---- */

function parseMetrics(text) {
    const series = [];
    for (const line of text.split("\n")) {
        if (!line || line.startsWith("#")) continue;
        const m = line.match(/^([a-z_]+)(\{(.*)\})? (\S+)$/);
        if (!m) continue;
        const labels = {};
        for (const l of (m[3] || "").matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) {
            labels[l[1]] = l[2].replace(/\\(.)/g, (x, c) => c === "n" ? "\n" : c);
        }
        series.push({ name: m[1], labels, value: Number(m[4]) });
    }
    return series;
}

async function standbyAddress() {
    if (opts().standby) return opts().standby;
    try {
        const cfg = JSON.parse(await cockpit.file("/etc/amirror/standby.json").read() || "{}");
        if (cfg.metrics && cfg.metrics.listen) return cfg.metrics.listen.replace(/^0\.0\.0\.0:/, "127.0.0.1:");
    } catch (e) {
        // no or unreadable configuration: the packaged default
    }
    return "127.0.0.1:9751";
}

function confirmThen(text, argv) {
    const dialog = document.getElementById("confirm");
    document.getElementById("confirm-text").textContent = text;
    const out = document.getElementById("confirm-output");
    out.hidden = true;
    out.textContent = "";
    const ok = document.getElementById("confirm-ok");
    ok.disabled = false;
    ok.onclick = async (ev) => {
        ev.preventDefault();
        ok.disabled = true;
        out.hidden = false;
        out.textContent = "$ " + argv.join(" ") + "\n";
        try {
            const proc = cockpit.spawn(argv, { superuser: "require", err: "out" });
            proc.stream(chunk => { out.textContent += chunk; });
            await proc;
            out.textContent += "\ndone";
        } catch (e) {
            out.textContent += "\nfailed: " + (e.message || e);
        }
        refresh();
    };
    dialog.showModal();
}

function standbyRow(r, state) {
    const tr = el("tr");
    tr.dataset.replica = r.replica;
    tr.appendChild(el("td", r.replica || r.uuid));
    tr.appendChild(el("td", (r.domain || "?") + " (" + r.uuid + ")"));
    tr.appendChild(el("td", r.point ? "point " + r.point : "none yet", "num point"));
    tr.appendChild(el("td", duration(r.age), "num"));
    tr.appendChild(el("td", r.kept, "num"));
    tr.appendChild(el("td", bytes(r.bytes), "num"));
    tr.appendChild(el("td", r.drillPassed === undefined ? "never"
        : (r.drillPassed ? "passed" : "FAILED") + ", " + when(new Date(r.drillAt * 1000).toISOString())
          + (isNaN(r.drillBoot) ? "" : ", booted in " + duration(r.drillBoot)), r.drillPassed === 0 ? "bad" : ""));
    tr.appendChild(el("td", r.promoted ? "yes: runs as the domain" : "no", r.promoted ? "warn" : ""));
    const td = el("td");
    const name = r.replica || r.uuid;
    if (!r.promoted && r.point) {
        const drill = el("button", "Drill");
        drill.addEventListener("click", () => confirmThen("Boot point " + r.point + " of " + name + " aside, in a "
            + "throwaway domain on an isolated network, check that it comes up, then remove everything the drill made. "
            + "Replication goes on; the replica itself is not written.", ["amirror", "drill", name, "--state", state]));
        td.appendChild(drill);
        const failover = el("button", "Fail over", "danger");
        failover.addEventListener("click", () => confirmThen("FAIL OVER: start " + name + " on this host from point "
            + r.point + ". From then on the standby takes nothing more from its primary (" + (r.domain || "?")
            + "); if that primary still runs, shut it down first, or both will write.",
            ["amirror", "failover", name, "--point", String(r.point), "--state", state]));
        td.appendChild(failover);
    }
    tr.appendChild(td);
    return tr;
}

async function showStandby() {
    const section = document.getElementById("standby");
    const address = await standbyAddress();
    const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
    let text;
    try {
        text = await cockpit.http(port, { address: host }).get("/metrics");
    } catch (e) {
        section.hidden = true;
        return false;
    }
    const replicas = new Map();
    const free = {};
    for (const s of parseMetrics(text)) {
        if (s.name === "amirror_standby_free_bytes") free.bytes = s.value;
        if (!s.labels.uuid || !s.name.startsWith("amirror_standby_") || s.name.endsWith("_total")) continue;
        const r = replicas.get(s.labels.uuid) || { uuid: s.labels.uuid, domain: s.labels.domain, replica: s.labels.replica };
        replicas.set(s.labels.uuid, r);
        const field = { amirror_standby_point: "point", amirror_standby_point_age_seconds: "age",
            amirror_standby_kept_points: "kept", amirror_standby_replica_bytes: "bytes",
            amirror_standby_promoted: "promoted", amirror_standby_last_drill_passed: "drillPassed",
            amirror_standby_last_drill_timestamp_seconds: "drillAt", amirror_standby_last_drill_boot_seconds: "drillBoot" }[s.name];
        if (field) r[field] = s.value;
    }
    const state = opts().standbyState || "/var/lib/amirror";
    document.getElementById("standby-host").textContent = "metrics on " + address + ", " + replicas.size
        + " replica(s), " + bytes(free.bytes) + " free for replicas";
    section.querySelector("tbody").replaceChildren(...[...replicas.values()].map(r => standbyRow(r, state)));
    section.hidden = false;
    return true;
}

let refreshing = false;

async function refresh() {
    if (refreshing) return;
    refreshing = true;
    try {
        const results = await Promise.allSettled([showPrimary(), showStandby()]);
        const any = results.some(r => r.status === "fulfilled" && r.value);
        document.getElementById("none").hidden = any;
        const errors = results.filter(r => r.status === "rejected").map(r => r.reason.message || String(r.reason));
        document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString()
            + (errors.length ? " — " + errors.join("; ") : "");
    } finally {
        refreshing = false;
    }
}

document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("confirm-cancel").addEventListener("click", () => document.getElementById("confirm").close());
    cockpit.addEventListener("locationchanged", refresh);
    refresh();
    setInterval(refresh, REFRESH_MS);
});
