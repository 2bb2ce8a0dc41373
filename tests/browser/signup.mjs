// The signup page in a real browser: Debian's Chromium, headless, driven by
// playwright-core. Usage: node signup.mjs <page-url> <screenshot-dir>
//
// Fills the form and watches the page reach ACTIVE; checks that invalid fields show
// their messages, that a double submit makes one tenant, and that a taken id is
// refused on the id field. Exits 1 on the first failed check (with a screenshot).

import { chromium } from "playwright-core";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [pageUrl, outDir] = process.argv.slice(2);
if (!pageUrl || !outDir) {
  console.error("usage: node signup.mjs <page-url> <screenshot-dir>");
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "signup-chromium-"));

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
let checks = 0;
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  checks += 1;
  console.log(`ok ${checks} - ${what} (${elapsed()})`);
}

// A fresh profile per run: nothing from an earlier run (cookies, cache) can help it pass.
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 900, height: 820 },
});
const page = await browser.newPage();
const shot = (name) => page.screenshot({ path: join(outDir, name), fullPage: true });
const text = (sel) => page.locator(sel).textContent();

let failed = false;
try {
  await page.goto(pageUrl);
  check((await page.title()) === "Create your workspace", "the page loads");
  await shot("01-form.png");

  // Invalid fields: each shows its own message next to it.
  await page.fill("#company_name", "   ");
  await page.fill("#tenant_id", "Bad*Id");
  await page.fill("#admin_email", "not-an-email");
  await page.click("#submit");
  await page.locator("#tenant_id-error:not(:empty)").waitFor();
  check((await text("#tenant_id-error")).includes("tenant id"), "the id field shows why it is invalid");
  check((await text("#company_name-error")).includes("required"), "the company name field says it is required");
  check((await text("#admin_email-error")).includes("not an address"), "the email field says it is not an address");
  check((await page.getAttribute("#admin_email", "aria-invalid")) === "true", "invalid fields are marked for assistive tech");
  await shot("02-invalid-fields.png");

  // The id is suggested from the company name, and stays editable.
  await page.reload();
  await page.fill("#company_name", "Globex Corporation");
  check((await page.inputValue("#tenant_id")) === "globex-corporation", "the id is suggested from the company name");
  await page.fill("#tenant_id", "globex");
  await page.fill("#admin_email", "hank@globex.example");

  // Double submit: a double click plus the same request again from the page.
  const posts = [];
  page.on("response", async (r) => {
    if (r.request().method() === "POST" && r.url().endsWith("/signup")) posts.push({ status: r.status(), body: await r.json() });
  });
  await page.dblclick("#submit");
  await page.evaluate(() =>
    fetch("signup", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ company_name: "Globex Corporation", tenant_id: "globex", admin_email: "hank@globex.example" }),
    }),
  );
  await page.locator("#result:not([hidden])").waitFor();
  await shot("03-submitted.png");
  await page.waitForFunction(() => document.getElementById("status").textContent === "ACTIVE", null, { timeout: 90_000 });
  check(true, "the page reaches ACTIVE");
  check((await page.getAttribute("#result", "data-phase")) === "active", "the status panel shows success");
  await shot("04-active.png");
  for (let i = 0; i < 100 && posts.length < 2; i++) await page.waitForTimeout(50);
  check(posts.length >= 2, `both submits were answered (${posts.length})`);
  check(posts.every((p) => p.status === 202), `every submit was accepted (${posts.length} posts)`);
  check(new Set(posts.map((p) => p.body.execution)).size === 1, "every submit names the same execution");
  check(posts.filter((p) => !p.body.repeated).length === 1, "exactly one submit started onboarding");
  const status = await page.evaluate(() => fetch("signup/globex").then((r) => r.json()));
  check(status.status === "ACTIVE" && status.attempt === 1, "the tenant is ACTIVE on its first attempt");

  // A taken id: refused on the id field.
  await page.reload();
  await page.fill("#company_name", "Globex Two");
  await page.fill("#tenant_id", "globex");
  await page.fill("#admin_email", "scorpio@globex.example");
  await page.click("#submit");
  await page.locator("#tenant_id-error:not(:empty)").waitFor();
  check((await text("#tenant_id-error")).includes("taken"), "a taken id is refused with a message on the id field");
  await shot("05-id-taken.png");
} catch (e) {
  failed = true;
  console.error(`not ok - ${e.message} (${elapsed()})`);
  await shot("failure.png").catch(() => {});
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`${checks} checks, ${failed ? "FAILED" : "passed"} in ${elapsed()}; screenshots in ${outDir}`);
process.exit(failed ? 1 : 0);
