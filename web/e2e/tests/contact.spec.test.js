// Browser tests of the contact module's backoffice pages (/admin/contact)
// in headless Chromium. Started by ../run.sh, which serves a fresh platform
// at E2E_BASE_URL. A tenant's owner, made through the API, signs in, opens
// the message log, creates a log provider (after a refused try), sends a
// test through it, finds the message in the log, with its history, and in
// the outbox, and previews a template.
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

// api calls the JSON API with a bearer token.
async function api(method, p, token, body) {
  const res = await fetch(base + p, {
    method, body: body && JSON.stringify(body),
    headers: { "Content-Type": "application/json", ...(token && { Authorization: "Bearer " + token }) },
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, name + ".png"), fullPage: true });
}

describe("contact backoffice", () => {
  const ownerEmail = `owner-${Date.now()}@contact.test`;
  const ownerPassword = "e2e-owner-password-123";
  let browser;
  let page;
  let messageURL;
  const problems = [];

  before(async () => {
    const login = await api("POST", "/api/v1/auth/login", "", { email: adminEmail, password: adminPassword });
    assert.equal(login.status, 200);
    const token = login.body.access_token;
    const tenant = await api("POST", "/api/v1/tenants", token, { name: "Contact Shop", slug: `contact-shop-${Date.now()}` });
    assert.equal(tenant.status, 201);
    const user = await api("POST", `/api/v1/tenants/${tenant.body.id}/users`, token,
      { email: ownerEmail, password: ownerPassword, role: "owner" });
    assert.equal(user.status, 201);

    browser = await chromium.launch({
      executablePath: process.env.E2E_CHROMIUM || "/usr/bin/chromium", headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
    });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: "en-GB" });
    page = await ctx.newPage();
    // A script error or a CSP violation fails the run; a refused form's
    // 422 is expected.
    page.on("console", (m) => {
      if (m.type() === "error" && !/status of (403|404|422)/.test(m.text())) problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(String(e)));
    page.on("dialog", (d) => d.accept());
    await page.goto(base + "/admin/login?next=%2Fadmin");
    await page.getByLabel("E-mail address").fill(ownerEmail);
    await page.getByLabel("Password").fill(ownerPassword);
    await Promise.all([page.waitForURL(/\/admin(\?|$)/), page.getByRole("button", { name: "Sign in" }).click()]);
  });
  after(async () => {
    await browser?.close();
  });

  it("opens the empty message log from the menu", async () => {
    await page.locator("nav.sidebar").getByRole("link", { name: "Contact" }).click();
    await page.waitForURL(/\/admin\/contact$/);
    assert.equal(await page.locator("h1").textContent(), "Messages");
    await page.getByText("No messages match.").waitFor();
  });

  it("refuses a provider with bad settings, then creates a log provider", async () => {
    await page.locator(".page-actions").getByRole("link", { name: "Providers" }).click();
    await page.waitForURL(/\/admin\/contact\/providers$/);
    await page.getByText("No provider yet.").waitFor();
    await page.getByRole("link", { name: "New log provider" }).click();
    await page.getByLabel("Name", { exact: true }).fill("Dev outbox");
    await page.getByLabel("Channel", { exact: true }).selectOption("email");
    await page.getByLabel("Settings (JSON)").fill("{oops");
    await page.getByRole("button", { name: "Create provider" }).click();
    await page.getByText("must be an object").waitFor();
    // The form keeps what was typed.
    assert.equal(await page.getByLabel("Name", { exact: true }).inputValue(), "Dev outbox");
    assert.equal(await page.getByLabel("Settings (JSON)").inputValue(), "{oops");
    await page.getByLabel("Settings (JSON)").fill("{}");
    await page.getByRole("button", { name: "Create provider" }).click();
    await page.getByText("The provider is created.").waitFor();
    assert.match(page.url(), /\/admin\/contact\/providers\/[0-9a-f-]+\?done=created$/);
    await page.locator(".page-actions").getByRole("link", { name: "Providers" }).click();
    const row = page.locator("#providers tbody tr", { hasText: "Dev outbox" });
    assert.equal((await row.locator(".badge").textContent()).trim(), "enabled");
    await row.getByRole("link", { name: "Dev outbox" }).click();
    await shot(page, "contact-provider");
  });

  it("sends a test and shows its outcome and history", async () => {
    await page.getByLabel("Send the test to").fill("not an address");
    await page.getByRole("button", { name: "Send test" }).click();
    await page.getByText("The recipient must be an e-mail address.").waitFor();
    await page.getByLabel("Send the test to").fill("ann@example.net");
    await page.getByRole("button", { name: "Send test" }).click();
    await page.getByText("The test message was sent through the provider.").waitFor();
    assert.match(page.url(), /\/admin\/contact\/messages\/[0-9a-f-]+\?done=test_sent$/);
    messageURL = page.url().replace(/\?.*$/, "");
    assert.equal((await page.locator("#message-status").textContent()).trim(), "sent");
    const history = page.locator("#message-history tbody tr");
    assert.equal(await history.count(), 2);
    assert.match(await history.nth(0).textContent(), /sending[\s\S]*Dev outbox \(log\)/);
    assert.match(await history.nth(1).textContent(), /sent[\s\S]*Dev outbox \(log\)[\s\S]*accepted/);
    assert.match(await page.locator("#message-body").textContent(), /This is a test message/);
    await shot(page, "contact-message");
  });

  it("finds the test in the log, by filter, and opens it", async () => {
    await page.locator(".page-actions").getByRole("link", { name: "Messages" }).click();
    await page.waitForURL(/\/admin\/contact$/);
    await page.locator("#tbl-messages .count", { hasText: "of 1" }).waitFor();
    const row = page.locator("#tbl-messages tbody tr", { hasText: "ann@example.net" });
    assert.equal((await row.locator(".badge").textContent()).trim(), "sent");
    // The filters swap the table in place (htmx) and keep the URL.
    await Promise.all([page.waitForURL(/channel=sms/), page.getByLabel("Channel", { exact: true }).selectOption("sms")]);
    await page.locator("#tbl-messages .count", { hasText: "No messages match." }).waitFor();
    await Promise.all([page.waitForURL(/channel=email/), page.getByLabel("Channel", { exact: true }).selectOption("email")]);
    await page.locator("#tbl-messages .count", { hasText: "of 1" }).waitFor();
    await shot(page, "contact-messages");
    await page.locator("#tbl-messages tbody tr").getByRole("link", { name: "Open" }).click();
    await page.waitForURL(messageURL);
    assert.equal(await page.locator("#message-history tbody tr").count(), 2);
  });

  it("shows the test in the log provider's outbox", async () => {
    await page.locator(".page-actions").getByRole("link", { name: "Outbox" }).click();
    await page.waitForURL(/\/admin\/contact\/outbox$/);
    const row = page.locator("#tbl-outbox tbody tr", { hasText: "ann@example.net" });
    assert.match(await row.textContent(), /Test message from the platform/);
    await shot(page, "contact-outbox");
  });

  it("creates a template and previews it in a locale it falls back from", async () => {
    await page.locator(".page-actions").getByRole("link", { name: "Templates" }).click();
    await page.waitForURL(/\/admin\/contact\/templates$/);
    await page.getByRole("link", { name: "New template" }).click();
    await page.getByLabel("Key", { exact: true }).fill("order.shipped");
    await page.getByLabel("Channel", { exact: true }).selectOption("email");
    await page.getByLabel("Subject", { exact: true }).fill("Order {{.order}} shipped");
    await page.getByLabel("Text", { exact: true }).fill("Hi {{.name}}, order {{.order}} is on its way.");
    await page.getByLabel("HTML", { exact: true }).fill("<p>Hi <b>{{.name}}</b></p>");
    await page.getByRole("button", { name: "Create template" }).click();
    await page.getByText("The template is saved.").waitFor();
    await page.getByLabel("Preview in locale").fill("de-AT");
    await page.getByLabel("Data (JSON)").fill('{"name": "Ann", "order": 42}');
    await page.getByRole("button", { name: "Preview" }).click();
    await page.locator("#preview-result").waitFor();
    assert.equal(await page.locator("#preview-subject").textContent(), "Order 42 shipped");
    assert.equal(await page.locator("#preview-text").textContent(), "Hi Ann, order 42 is on its way.");
    assert.match(await page.locator("#preview-result").textContent(), /the default locale/);
    assert.equal(await page.locator("#preview-html").textContent(), "<p>Hi <b>Ann</b></p>");
    assert.equal(await page.getByLabel("Preview in locale").inputValue(), "de-AT");
    await shot(page, "contact-template");
    await page.locator(".page-actions").getByRole("link", { name: "Templates" }).click();
    await page.locator("#tbl-templates tbody tr", { hasText: "order.shipped" }).waitFor();
  });

  it("ran without script or CSP errors", () => {
    assert.deepEqual(problems, []);
  });
});
