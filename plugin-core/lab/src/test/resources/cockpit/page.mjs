// Drives amirror's Cockpit page in Debian's Chromium (playwright-core): reads both tables, presses
// "Sync now" on the domain's row and waits until the standby's newest point changes, taking
// screenshots. Prints one JSON line with what it read. Arguments: URL, DOMAIN, OUTDIR.
import { chromium } from "playwright-core";

const [url, domain, out] = process.argv.slice(2);
const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const result = {};
try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const t0 = Date.now();
    await page.goto(url);
    const row = page.locator(`#primary tbody tr[data-domain="${domain}"]`);
    await row.waitFor({ timeout: 60000 });
    await page.locator("#standby tbody tr").first().waitFor({ timeout: 60000 });
    result.firstPaintMillis = Date.now() - t0;
    const rows = async (sel) => page.locator(sel).evaluateAll(trs => trs.map(tr =>
        [...tr.querySelectorAll("td")].map(td => td.textContent.trim())));
    result.primary = await rows("#primary tbody tr");
    result.standby = await rows("#standby tbody tr");
    result.headings = await page.locator("h2").allTextContents();
    await page.screenshot({ path: `${out}/cockpit-page-before-sync.png`, fullPage: true });
    const point = async () => (await row.locator("td.point").textContent()).trim();
    result.pointBefore = await point();
    await row.locator("button", { hasText: "Sync now" }).click();
    const deadline = Date.now() + 180000;
    while (Date.now() < deadline && (await point()) === result.pointBefore) {
        await page.waitForTimeout(1000);
    }
    result.pointAfter = await point();
    result.standbyAfter = await rows("#standby tbody tr");
    await page.screenshot({ path: `${out}/cockpit-page-after-sync.png`, fullPage: true });
    // the drill button asks first, naming what it will do, and does nothing until confirmed
    await page.locator("#standby tbody tr").first().locator("button", { hasText: "Drill" }).click();
    result.drillConfirmation = (await page.locator("#confirm-text").textContent()).trim();
    await page.screenshot({ path: `${out}/cockpit-page-drill-confirmation.png` });
    await page.locator("#confirm-cancel").click();
} finally {
    await browser.close();
}
console.log(JSON.stringify(result));
