// The signup page in verify mode, in a real browser (Debian's Chromium, headless, driven by
// playwright-core), against a local stack started with `--signup-mode verify` and a short
// `--signup-lifetime-seconds`. Reads the stack's env file variables: TENANT_SIGNUP_PAGE_URL,
// TENANT_LOCAL_MAILBOX, AWS_ENDPOINT_URL, TENANT_USER_POOL_CLIENT_ID, TENANT_SIGNUP_LIFETIME.
// Usage: node verify.mjs <screenshot-dir>
//
// Sign up with a password → nothing exists before the code → a repeated request and a
// wrong code are answered on their fields → the code from the local mailbox → ACTIVE →
// the admin signs in with the chosen password; a repeated confirmation is answered; a
// sign-up left unconfirmed past its lifetime expires: the same address signs up again and
// the old code no longer confirms. Exits 1 on the first failed check (with a screenshot).

import { chromium } from "playwright-core";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [outDir] = process.argv.slice(2);
const env = (k) => {
  const v = process.env[k];
  if (!v) {
    console.error(`${k} is not set: source the local stack's env file first`);
    process.exit(2);
  }
  return v;
};
const pageUrl = env("TENANT_SIGNUP_PAGE_URL");
const mailbox = env("TENANT_LOCAL_MAILBOX");
const endpoint = env("AWS_ENDPOINT_URL");
const clientId = env("TENANT_USER_POOL_CLIENT_ID");
const lifetime = Number(env("TENANT_SIGNUP_LIFETIME"));
if (!outDir) {
  console.error("usage: node verify.mjs <screenshot-dir>");
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "verify-chromium-"));

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
let checks = 0;
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  checks += 1;
  console.log(`ok ${checks} - ${what} (${elapsed()})`);
}

// The newest code the local mailbox holds for an address (one JSON message a line).
function latestCode(address) {
  let text = "";
  try {
    text = readFileSync(mailbox, "utf8");
  } catch {
    return undefined;
  }
  const mine = text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l))
    .filter((m) => m.to.toLowerCase() === address.toLowerCase());
  return mine.length ? mine[mine.length - 1].code : undefined;
}

// Cognito's InitiateAuth with the user's own password, as an app signing the admin in.
async function signIn(email, password) {
  const r = await fetch(endpoint, {
    method: "POST",
    headers: {
      "content-type": "application/x-amz-json-1.1",
      "x-amz-target": "AWSCognitoIdentityProviderService.InitiateAuth",
    },
    body: JSON.stringify({ AuthFlow: "USER_PASSWORD_AUTH", ClientId: clientId, AuthParameters: { USERNAME: email, PASSWORD: password } }),
  });
  return { status: r.status, body: await r.json() };
}

const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 900, height: 900 },
});
const page = await browser.newPage();
const shot = (name) => page.screenshot({ path: join(outDir, name), fullPage: true });
const text = (sel) => page.locator(sel).textContent();
const post = (path, body) =>
  page.evaluate(
    ([p, b]) =>
      fetch(p, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(b) }).then((r) =>
        r.json().then((j) => ({ status: r.status, body: j })),
      ),
    [path, body],
  );

async function signUp(company, id, email, password) {
  await page.goto(pageUrl);
  await page.fill("#company_name", company);
  await page.fill("#tenant_id", id);
  await page.fill("#admin_email", email);
  await page.fill("#password", password);
  await page.click("#submit");
  await page.locator("#confirm:not([hidden])").waitFor();
}

async function enterCode(code) {
  await page.fill("#code", code);
  await page.evaluate(() => (document.getElementById("code-error").textContent = ""));
  await page.click("#confirm-submit");
}

let failed = false;
try {
  const email = "bill@initech.example";
  const password = "Initech-Lumbergh-2024!";
  await page.goto(pageUrl);
  check((await page.getAttribute("main", "data-signup-mode")) === "verify", "the page is in verify mode");
  check(await page.locator("#password").isVisible(), "the page asks for a password");

  await signUp("Initech", "initech", email, password);
  check((await text("#message")).includes(email), "the page says where the code went");
  await shot("verify-01-code-asked.png");
  const before = await page.evaluate(() => fetch("signup/initech").then((r) => r.status));
  check(before === 404, "nothing exists for the workspace before the code is entered");

  const repeat = await post("signup", { company_name: "Initech", tenant_id: "initech", admin_email: email, password });
  check(repeat.status === 409 && /already signed up/.test(repeat.body.errors.admin_email), "a repeated sign-up is answered on the email field");

  const code = latestCode(email);
  check(/^\d{6}$/.test(code || ""), "the code is in the local mailbox");
  await enterCode(code === "000000" ? "111111" : "000000");
  await page.locator("#code-error:not(:empty)").waitFor();
  check((await text("#code-error")).includes("not the one we sent"), "a wrong code is answered on the code field");
  await shot("verify-02-wrong-code.png");

  await enterCode(code);
  await page.waitForFunction(() => document.getElementById("status").textContent === "ACTIVE", null, { timeout: 90_000 });
  check((await page.getAttribute("#result", "data-phase")) === "active", "the right code takes the workspace to ACTIVE");
  await shot("verify-03-active.png");

  const again = await post("signup/confirm", { admin_email: email, tenant_id: "initech", code });
  check(again.status === 409 && /already confirmed/.test(again.body.errors.code), "a repeated confirmation is answered");
  const signedIn = await signIn(email, password);
  check(signedIn.status === 200 && !!signedIn.body.AuthenticationResult?.IdToken, "the admin signs in with the password chosen at signup");
  const wrong = await signIn(email, "Not-The-Password-1!");
  check(wrong.status === 400, "a wrong password is refused");

  // Expiry: a sign-up nobody confirms stops holding its address after the lifetime.
  const late = "ada@umbrella.example";
  await signUp("Umbrella", "umbrella", late, "Umbrella-Corp-2024!");
  const oldCode = latestCode(late);
  await page.waitForTimeout((lifetime + 2) * 1000);
  await signUp("Umbrella", "umbrella", late, "Umbrella-Corp-2024!");
  check(true, "an unconfirmed sign-up past its lifetime no longer holds the address: the same sign-up asks for a new code");
  const newCode = latestCode(late);
  check(newCode && newCode !== oldCode, "a new code was sent");
  await enterCode(oldCode);
  await page.locator("#code-error:not(:empty)").waitFor();
  check((await text("#code-error")).includes("not the one we sent"), "the expired sign-up's code no longer confirms");
  await shot("verify-04-expired.png");
} catch (e) {
  failed = true;
  console.error(`not ok - ${e.message} (${elapsed()})`);
  await shot("verify-failure.png").catch(() => {});
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`${checks} checks, ${failed ? "FAILED" : "passed"} in ${elapsed()}; screenshots in ${outDir}`);
process.exit(failed ? 1 : 0);
