// The signup page in approve mode, in a real browser (Debian's Chromium, headless, driven
// by playwright-core), against a local stack started with `--signup-mode approve`.
// Usage: node approve.mjs <page-url> <screenshot-dir> <tenantctl> <state-dir>
//
// A valid form is held: the page shows PENDING_APPROVAL and its message; nothing runs
// until the operator's `tenantctl approve`, after which the same page (polling) reaches
// ACTIVE. Exits 1 on the first failed check (with a screenshot).

import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [pageUrl, outDir, tenantctl, stateDir] = process.argv.slice(2);
if (!pageUrl || !outDir || !tenantctl || !stateDir) {
  console.error("usage: node approve.mjs <page-url> <screenshot-dir> <tenantctl> <state-dir>");
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "approve-chromium-"));
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
let checks = 0;
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  checks += 1;
  console.log(`ok ${checks} - ${what} (${elapsed()})`);
}
const ctl = (...args) => JSON.parse(execFileSync(tenantctl, ["--state-dir", stateDir, "--local", "--json", ...args], { encoding: "utf8" }));

const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 900, height: 820 },
});
const page = await browser.newPage();
const shot = (name) => page.screenshot({ path: join(outDir, name), fullPage: true });

let failed = false;
try {
  await page.goto(pageUrl);
  check((await page.getAttribute("main", "data-signup-mode")) === "approve", "the page is in approve mode");
  await page.fill("#company_name", "Hooli");
  await page.fill("#tenant_id", "hooli");
  await page.fill("#admin_email", "gavin@hooli.example");
  await page.click("#submit");
  await page.waitForFunction(() => document.getElementById("status").textContent === "PENDING_APPROVAL");
  check((await page.locator("#message").textContent()).includes("approval"), "the page says the request waits for an operator");
  await page.waitForFunction(() => document.getElementById("result").getAttribute("data-phase") === "awaiting_approval");
  check(true, "the page polls the request as awaiting approval");
  await shot("approve-01-held.png");
  const held = ctl("list", "--status", "pending-approval");
  check(held.tenants.length === 1 && held.tenants[0].tenant_id === "hooli", "the operator's list shows the held request");

  ctl("approve", "hooli", "--timeout", "120");
  check(true, "tenantctl approve follows the onboarding to its end");
  await page.waitForFunction(() => document.getElementById("status").textContent === "ACTIVE", null, { timeout: 60_000 });
  check((await page.getAttribute("#result", "data-phase")) === "active", "the page reaches ACTIVE after the approval");
  await shot("approve-02-active.png");
} catch (e) {
  failed = true;
  console.error(`not ok - ${e.message} (${elapsed()})`);
  await shot("approve-failure.png").catch(() => {});
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`${checks} checks, ${failed ? "FAILED" : "passed"} in ${elapsed()}; screenshots in ${outDir}`);
process.exit(failed ? 1 : 0);
