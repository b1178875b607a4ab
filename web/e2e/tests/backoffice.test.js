// Browser tests of the backoffice in real headless Chromium. Started by
// ../run.sh, which serves a fresh platform at E2E_BASE_URL.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const base = process.env.E2E_BASE_URL;
const adminEmail = process.env.E2E_ADMIN_EMAIL;
const adminPassword = process.env.E2E_ADMIN_PASSWORD;
const shots = process.env.E2E_SCREENSHOTS;
const executablePath = process.env.E2E_CHROMIUM || "/usr/bin/chromium";
if (!base || !adminEmail || !adminPassword || !shots) {
  throw new Error("run these tests through web/e2e/run.sh");
}

const args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--disable-quic", "--no-first-run"];

// A browser with its own fresh profile, so that sessions never mix. Its
// trace (screenshots and DOM snapshots of every step) is saved on close.
async function openBrowser(name) {
  const dir = mkdtempSync(path.join(tmpdir(), "platform-e2e-"));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath, args, headless: true, viewport: { width: 1280, height: 860 }, locale: "en-GB",
  });
  await ctx.tracing.start({ screenshots: true, snapshots: true });
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  const problems = [];
  // Every CSP violation or script error is a failure: the pages must work
  // under script-src 'self' with no inline code.
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of (401|403|404|422|429)/.test(m.text())) problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(String(e)));
  const close = async () => {
    if (process.env.E2E_TRACES) await ctx.tracing.stop({ path: path.join(process.env.E2E_TRACES, name + ".zip") });
    await ctx.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { ctx, page, problems, close };
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, name + ".png"), fullPage: true });
}

async function login(page, email, password) {
  await page.goto(base + "/admin");
  assert.match(page.url(), /\/admin\/login\?next=%2Fadmin$/);
  await page.getByLabel("E-mail address").fill(email);
  await page.getByLabel("Password").fill(password);
  await Promise.all([page.waitForURL(/\/admin(\?|$)/), page.getByRole("button", { name: "Sign in" }).click()]);
}

// totpCode is the RFC 6238 code (30 s, 6 digits, SHA-1) of a base32 secret
// at time ms, as an authenticator app computes it.
function totpCode(secret, ms) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const ch of secret.replace(/[\s=]/g, "").toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(ms / 30000)));
  const h = createHmac("sha1", key).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, "0");
}

async function flash(page) {
  return (await page.locator(".flash").first().textContent()).trim();
}

describe("backoffice", () => {
  let admin;
  let apiKey;

  before(async () => {
    admin = await openBrowser("admin");
  });
  after(async () => {
    await admin?.close();
  });

  it("signs in", async () => {
    const { page } = admin;
    await page.goto(base + "/admin/login");
    await shot(page, "login");
    // A wrong password is refused with a message, on the same form.
    await page.getByLabel("E-mail address").fill(adminEmail);
    await page.getByLabel("Password").fill("not-the-password");
    await page.getByRole("button", { name: "Sign in" }).click();
    assert.equal(await flash(page), "The e-mail or password is wrong.");
    await login(page, adminEmail, adminPassword);
    assert.equal(await page.locator("h1").textContent(), "Dashboard");
    await assert.doesNotReject(page.locator(".chart svg").waitFor());
    await shot(page, "dashboard");
  });

  it("creates a tenant with a member tenant", async () => {
    const { page } = admin;
    await page.goto(base + "/admin/tenants/new");
    await page.getByLabel("Name").fill("Acme Franchise");
    await page.getByLabel("Slug").fill("acme");
    await page.getByRole("button", { name: "Create tenant" }).click();
    assert.equal(await flash(page), "Tenant Acme Franchise created.");
    await page.getByRole("link", { name: "Add a member tenant" }).click();
    await page.getByLabel("Name").fill("Acme Berlin");
    await page.getByLabel("Slug").fill("acme-berlin");
    assert.equal(await page.getByLabel("Member of (franchise)").inputValue(), await page
      .locator("#parent_id option", { hasText: "Acme Franchise" }).getAttribute("value"));
    await page.getByRole("button", { name: "Create tenant" }).click();
    assert.equal(await flash(page), "Tenant Acme Berlin created.");
    await page.goto(base + "/admin/tenants");
    await assert.doesNotReject(page.getByRole("link", { name: "Acme Berlin" }).waitFor());
    await shot(page, "tenants");
    await page.goto(base + "/admin/tenants/tree");
    const branch = page.locator(".tree li", { hasText: "Acme Franchise" }).locator("ul li", { hasText: "Acme Berlin" });
    assert.equal(await branch.count(), 1);
    await shot(page, "tenant-tree");
  });

  it("creates users", async () => {
    const { page } = admin;
    for (const [email, role, tenant] of [["owner@acme.example", "owner", "Acme Franchise"], ["customer@acme.example", "customer", "Acme Berlin"]]) {
      await page.goto(base + "/admin/users/new");
      await page.getByLabel("Tenant").selectOption({ label: tenant });
      await page.getByLabel("E-mail address").fill(email);
      await page.getByLabel("Name").fill(role === "owner" ? "Olivia Owner" : "Carl Customer");
      await page.getByLabel("Role").selectOption(role);
      await page.getByLabel("Password").fill("e2e-user-password-1");
      await page.getByRole("button", { name: "Create user" }).click();
      assert.equal(await flash(page), `User ${email} created.`);
    }
    // The list searches as one types (htmx), without a page load.
    await page.goto(base + "/admin/users");
    await page.getByLabel("Search").fill("olivia");
    await page.locator("#tbl-users .count", { hasText: "of 1" }).waitFor();
    assert.match(page.url(), /q=olivia/);
    assert.equal(await page.locator("#tbl-users tbody tr").count(), 1);
    await page.getByLabel("Search").fill("");
    await page.locator("#tbl-users .count", { hasText: "of 3" }).waitFor();
    // Sorting swaps rows and form in place, and the filters keep the sort.
    await page.locator("#tbl-users th a", { hasText: "E-mail" }).click();
    await page.locator('#tbl-users th[aria-sort="descending"]').waitFor();
    assert.match(page.url(), /sort=-email/);
    assert.equal(await page.locator("#tbl-users tbody tr td a").first().textContent(), "owner@acme.example");
    await page.getByLabel("Role").selectOption("customer");
    await page.locator("#tbl-users .count", { hasText: "of 1" }).waitFor();
    assert.match(page.url(), /sort=-email/);
    await page.getByLabel("Role").selectOption("");
    await page.locator("#tbl-users .count", { hasText: "of 3" }).waitFor();
    await shot(page, "users");
    // A link in a cell opens its page, not a list swap that would blank the
    // table (the region's boost is for sorting and paging only).
    await Promise.all([
      page.waitForURL(/\/admin\/users\/[0-9a-f-]+$/),
      page.locator("#tbl-users tbody tr td a", { hasText: "owner@acme.example" }).click(),
    ]);
    await page.locator("input[name=email]").waitFor();
    assert.equal(await page.locator("input[name=email]").inputValue(), "owner@acme.example");
  });

  it("turns on two-factor authentication and signs in with a code, or once with a recovery code", async () => {
    const owner = await openBrowser("owner-totp");
    try {
      const { page } = owner;
      await login(page, "owner@acme.example", "e2e-user-password-1");
      await page.goto(base + "/admin/account/password");
      await page.getByRole("button", { name: "Set up two-factor authentication" }).click();
      const secret = (await page.locator("#totp-secret").textContent()).replace(/\s/g, "");
      assert.match(secret, /^[A-Z2-7]{16,}$/);
      assert.ok(await page.getByRole("img", { name: "QR code of the otpauth link" }).evaluate((img) => img.naturalWidth > 0));
      await shot(page, "totp-setup");
      await page.getByLabel("Code from your app").fill(totpCode(secret, Date.now()));
      await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
      assert.match(await flash(page), /^Two-factor authentication is on/);
      // The recovery codes are shown once, with a note to store them.
      await assert.doesNotReject(page.getByRole("heading", { name: "Your recovery codes" }).waitFor());
      const codes = (await page.locator("#recovery-codes li").allTextContents()).map((c) => c.trim());
      assert.equal(codes.length, 10);
      assert.equal(new Set(codes).size, 10);
      for (const c of codes) assert.match(c, /^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/);
      assert.equal((await page.locator("#recovery-left").textContent()).trim(), "10 recovery codes left.");
      await shot(page, "totp-recovery-codes");
      await page.goto(base + "/admin/account/password");
      assert.equal(await page.locator("#recovery-codes li").count(), 0);
      assert.ok(!(await page.content()).includes(codes[0]));
      await Promise.all([page.waitForURL(/\/admin\/login$/), page.getByRole("button", { name: "Sign out" }).first().click()]);
      // The password alone leads to the second step; the code signs in.
      await page.getByLabel("E-mail address").fill("owner@acme.example");
      await page.getByLabel("Password").fill("e2e-user-password-1");
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByLabel("Code from your authenticator app").fill(totpCode(secret, Date.now() + 30000));
      await shot(page, "totp-login");
      await Promise.all([page.waitForURL(/\/admin$/), page.getByRole("button", { name: "Verify" }).click()]);
      assert.equal(await page.locator("h1").textContent(), "Dashboard");
      // Without the device: a recovery code signs in, typed in capitals.
      const secondStep = async (code) => {
        await Promise.all([page.waitForURL(/\/admin\/login$/), page.getByRole("button", { name: "Sign out" }).first().click()]);
        await page.getByLabel("E-mail address").fill("owner@acme.example");
        await page.getByLabel("Password").fill("e2e-user-password-1");
        await page.getByRole("button", { name: "Sign in" }).click();
        await assert.doesNotReject(page.getByText("Lost your device? Enter one of your recovery codes instead.").waitFor());
        await page.getByLabel("Code from your authenticator app").fill(code);
      };
      await secondStep(codes[2].toUpperCase());
      await shot(page, "totp-login-recovery");
      await Promise.all([page.waitForURL(/\/admin$/), page.getByRole("button", { name: "Verify" }).click()]);
      assert.equal(await page.locator("h1").textContent(), "Dashboard");
      await page.goto(base + "/admin/account/password");
      assert.equal((await page.locator("#recovery-left").textContent()).trim(), "9 recovery codes left.");
      // The same code does not sign in twice.
      await secondStep(codes[2]);
      await page.getByRole("button", { name: "Verify" }).click();
      await assert.doesNotReject(page.locator(".flash.error", { hasText: "The authenticator code is wrong or was used already." }).waitFor());
      assert.match(page.url(), /\/admin\/login$/);
      assert.deepEqual(owner.problems, []);
    } finally {
      await owner.close();
    }
  });

  it("creates an API key and shows it once", async () => {
    const { page } = admin;
    await page.goto(base + "/admin/api-keys/new");
    await page.getByLabel("Name").fill("Shop sync");
    await page.getByLabel("tenants:read").check();
    await page.getByRole("button", { name: "Create key" }).click();
    assert.match(page.url(), /\/admin\/api-keys\/[0-9a-f-]+\/created$/);
    apiKey = await page.getByLabel("Your new API key").inputValue();
    assert.match(apiKey, /^pk_/);
    await shot(page, "api-key-created");
    const res = await fetch(base + "/api/v1/tenants", { headers: { Authorization: "Bearer " + apiKey } });
    assert.equal(res.status, 200);
    await page.reload();
    await assert.doesNotReject(page.getByText("This key was shown once and cannot be shown again.").waitFor());
    assert.equal(await page.locator(`input[value="${apiKey}"]`).count(), 0);
    assert.ok(!(await page.content()).includes(apiKey));
    await page.goto(base + "/admin/api-keys");
    await assert.doesNotReject(page.getByRole("cell", { name: "Shop sync" }).waitFor());
    await shot(page, "api-keys");
  });

  it("shows the audit entries, filtered", async () => {
    const { page } = admin;
    await page.goto(base + "/admin/audit");
    for (const action of ["tenant.created", "user.created", "api_key.created", "auth.login", "auth.login_failed"]) {
      assert.ok(await page.getByRole("cell", { name: action, exact: true }).count() > 0, action + " is not in the log");
    }
    await shot(page, "audit");
    await page.getByLabel("Action").fill("api_key.");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.locator("#tbl-audit .count", { hasText: "of 1" }).waitFor();
    assert.equal(await page.getByRole("cell", { name: "api_key.created", exact: true }).count(), 1);
    assert.equal(await page.getByRole("cell", { name: "tenant.created", exact: true }).count(), 0);
    // The export runs the same query.
    const csv = await page.evaluate(async (href) => (await fetch(href)).text(), await page.getByRole("link", { name: "Export CSV" }).getAttribute("href"));
    assert.match(csv, /^Time,Action,/);
    assert.equal(csv.trim().split("\n").length, 2);
  });

  it("switches tenant", async () => {
    const { page } = admin;
    await page.goto(base + "/admin/users");
    await Promise.all([page.waitForURL(/\/admin\/users$/), page.getByLabel("Working in").selectOption({ label: "Acme Berlin" })]);
    assert.equal(await flash(page), "You are now working in Acme Berlin.");
    assert.equal(await page.locator("#tbl-users tbody tr").count(), 1);
    await assert.doesNotReject(page.getByRole("link", { name: "customer@acme.example" }).waitFor());
    await shot(page, "switched-tenant");
    await page.goto(base + "/admin/settings");
    await page.getByLabel("Display name").fill("Acme Berlin GmbH");
    await page.getByLabel("Time zone").fill("Europe/Berlin");
    await page.getByLabel("Language").selectOption("de");
    await page.getByRole("button", { name: "Save settings" }).click();
    assert.equal(await flash(page), "Settings saved for Acme Berlin.");
    await shot(page, "settings");
    await page.getByLabel("Working in").selectOption({ label: "Platform (home)" });
    await page.locator(".flash", { hasText: "You are now working in your home tenant." }).waitFor();
    assert.match(page.url(), /\/admin\/settings$/);
  });

  it("shows system health", async () => {
    const { page } = admin;
    await page.goto(base + "/admin/system");
    await assert.doesNotReject(page.getByRole("heading", { name: "Readiness checks" }).waitFor());
    assert.equal(await page.locator(".stat-value").first().textContent(), "Ready");
    await shot(page, "system");
  });

  it("fits a phone screen", async () => {
    const { page } = admin;
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      // Nothing but a table scrolls sideways, on the dashboard (with its
      // chart) and on a list.
      for (const p of ["/admin", "/admin/users"]) {
        await page.goto(base + p);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 0, `${p} is ${overflow}px wider than the screen`);
      }
      await shot(page, "users-phone");
    } finally {
      await page.setViewportSize({ width: 1280, height: 860 });
    }
  });

  it("refuses a form without its CSRF token", async () => {
    const { page } = admin;
    await page.goto(base + "/admin/tenants/new");
    await page.locator('main form input[name="_csrf"]').evaluate((el) => el.remove());
    await page.getByLabel("Name").fill("Forged");
    await page.getByLabel("Slug").fill("forged");
    const [res] = await Promise.all([page.waitForResponse((r) => r.request().method() === "POST"),
      page.getByRole("button", { name: "Create tenant" }).click()]);
    assert.equal(res.status(), 403);
    await assert.doesNotReject(page.getByText("did not come from this site").waitFor());
    await page.goto(base + "/admin/tenants?q=forged");
    assert.equal(await page.locator("#tbl-tenants tbody tr").count(), 0);
  });

  it("keeps a customer out", async () => {
    const customer = await openBrowser("customer");
    try {
      const { page } = customer;
      await login(page, "customer@acme.example", "e2e-user-password-1");
      await assert.doesNotReject(page.getByText("Your account has no access to the backoffice.").waitFor());
      assert.equal(await page.locator("nav.sidebar").count(), 0);
      await shot(page, "customer-refused");
      for (const p of ["/admin/users", "/admin/tenants", "/admin/api-keys", "/admin/audit", "/admin/settings"]) {
        const res = await page.goto(base + p);
        assert.equal(res.status(), 403, p);
      }
      await page.goto(base + "/admin");
      await Promise.all([page.waitForURL(/\/admin\/login$/), page.locator("main").getByRole("button", { name: "Sign out" }).click()]);
      const res = await page.goto(base + "/admin/users");
      assert.match(page.url(), /\/admin\/login\?next=/);
      assert.equal(res.status(), 200);
      assert.deepEqual(customer.problems, []);
    } finally {
      await customer.close();
    }
  });

  it("signs out, and the pages ran without script or CSP errors", async () => {
    const { page } = admin;
    await page.goto(base + "/admin");
    await Promise.all([page.waitForURL(/\/admin\/login$/), page.getByRole("button", { name: "Sign out" }).click()]);
    assert.equal(await flash(page), "You are signed out.");
    const res = await page.goto(base + "/admin/users");
    assert.match(page.url(), /\/admin\/login\?next=%2Fadmin%2Fusers$/);
    assert.equal(res.status(), 200);
    assert.deepEqual(admin.problems, []);
  });
});
