// The backoffice's notification bell in headless Chromium, against the
// platform that ../run.sh serves at E2E_BASE_URL: the bell is on the page,
// a notification created over REST shows up live in its count and its
// dropdown, with no script error or CSP violation.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { chromium } from "playwright-core";

const base = process.env.E2E_BASE_URL;
const adminEmail = process.env.E2E_ADMIN_EMAIL;
const adminPassword = process.env.E2E_ADMIN_PASSWORD;
const shots = process.env.E2E_SCREENSHOTS;
if (!base || !adminEmail || !adminPassword || !shots) {
  throw new Error("run these tests through web/e2e/run.sh");
}

async function api(method, p, token, body) {
  const res = await fetch(base + p, {
    method, body: body && JSON.stringify(body),
    headers: { "Content-Type": "application/json", ...(token && { Authorization: "Bearer " + token }) },
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

describe("notification bell", () => {
  let browser;
  let page;
  let token;
  let me;
  const problems = [];

  before(async () => {
    const r = await api("POST", "/api/v1/auth/login", "", { email: adminEmail, password: adminPassword });
    assert.equal(r.status, 200);
    token = r.body.access_token;
    me = (await api("GET", "/api/v1/auth/me", token)).body;
    browser = await chromium.launch({
      executablePath: process.env.E2E_CHROMIUM || "/usr/bin/chromium", headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: "en-GB" });
    page = await ctx.newPage();
    page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
    page.on("pageerror", (e) => problems.push(String(e)));
    await page.goto(base + "/admin/login");
    await page.getByLabel("E-mail address").fill(adminEmail);
    await page.getByLabel("Password").fill(adminPassword);
    await Promise.all([page.waitForURL(/\/admin$/), page.getByRole("button", { name: "Sign in" }).click()]);
  });
  after(async () => { await browser?.close(); });

  it("shows new notifications live, with the unread count", async () => {
    const bell = page.locator("[data-bell]");
    await bell.waitFor({ state: "visible" });
    await page.waitForFunction(() => document.querySelector("[data-bell]")?.dataset.connected === "true");
    const before = Number(await bell.getAttribute("data-unread")) || 0;

    const title = "Bell test " + Date.now().toString(36);
    const r = await api("POST", "/api/v1/notifications", token,
      { recipient: { user_ids: [me.id] }, title, body: "A notification for the bell", link: "/admin" });
    assert.ok(r.status === 201 || r.status === 202, JSON.stringify(r.body));

    await page.waitForFunction((n) => Number(document.querySelector("[data-bell]").dataset.unread) === n, before + 1);
    const count = page.locator("[data-bell-count]");
    assert.equal(await count.isVisible(), true);
    assert.equal((await count.textContent()).trim(), String(before + 1));

    await page.getByRole("button", { name: /Notifications/ }).click();
    const menu = page.locator("[data-bell-menu]");
    await menu.waitFor({ state: "visible" });
    const first = menu.locator("li").first();
    assert.equal((await first.locator(".bell-item-title").textContent()).trim(), title);
    await page.screenshot({ path: path.join(shots, "notifications-bell.png") });

    await page.keyboard.press("Escape");
    await menu.waitFor({ state: "hidden" });
    // The bell is on every page, and a new page starts from the same count.
    await page.goto(base + "/admin/users");
    await page.waitForFunction((n) => Number(document.querySelector("[data-bell]")?.dataset.unread) === n, before + 1);
    assert.deepEqual(problems, []);
  });
});
