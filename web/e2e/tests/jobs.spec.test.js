// Browser tests of the jobs module's backoffice pages (/admin/jobs) in
// headless Chromium. Started by ../run.sh, which serves a fresh platform at
// E2E_BASE_URL. The archive-and-retry test needs jobs to act on, and the
// buffer test a buffer; a release binary has no module that makes them, so
// each is skipped, saying so, unless the binary has them (the first runs
// against one built with -tags e2eprobe, given as E2E_BIN).
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

// badge is the text of the task page's state badge.
async function badge(page) {
  return (await page.locator("#task-state").textContent()).trim();
}

describe("jobs backoffice", () => {
  let browser;
  let page;
  let ranProbe = false;
  const problems = [];

  before(async () => {
    browser = await chromium.launch({
      executablePath: process.env.E2E_CHROMIUM || "/usr/bin/chromium", headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
    });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: "en-GB" });
    page = await ctx.newPage();
    // A script error or a CSP violation fails the run: the pages must work
    // under script-src 'self' with no inline code.
    page.on("console", (m) => {
      if (m.type() === "error" && !/status of (403|404|409|422)/.test(m.text())) problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(String(e)));
    // Forms with data-confirm ask first; the test says yes.
    page.on("dialog", (d) => d.accept());
    await page.goto(base + "/admin/login?next=%2Fadmin%2Fjobs");
    await page.getByLabel("E-mail address").fill(adminEmail);
    await page.getByLabel("Password").fill(adminPassword);
    await Promise.all([page.waitForURL(/\/admin\/jobs$/), page.getByRole("button", { name: "Sign in" }).click()]);
  });
  after(async () => {
    await browser?.close();
  });

  it("shows the queues and the throughput chart", async () => {
    await page.goto(base + "/admin");
    await page.locator("nav.sidebar").getByRole("link", { name: "Jobs" }).click();
    assert.match(page.url(), /\/admin\/jobs$/);
    assert.equal(await page.locator("h1").textContent(), "Jobs");
    const rows = page.locator("#queues tbody tr");
    assert.equal(await rows.count(), 3);
    assert.deepEqual(await page.locator("#queues tbody td:first-child").allTextContents(), ["critical", "default", "low"]);
    assert.equal(await rows.first().locator("td").nth(1).textContent(), "6");
    await assert.doesNotReject(page.locator("#throughput svg").waitFor());
    // One bar per minute of the last hour, in the chart's table for screen readers too.
    assert.equal(await page.locator("#throughput svg g.bar").count(), 60);
    assert.equal(await page.locator("#throughput table tr").count(), 61);
  });

  it("pauses and resumes a queue", async () => {
    await page.goto(base + "/admin/jobs");
    await page.getByRole("button", { name: "Pause low" }).click();
    await page.getByText("The queue is paused").waitFor();
    const low = page.locator("#queues tbody tr", { hasText: "low" });
    assert.equal((await low.locator(".badge").textContent()).trim(), "paused");
    await page.getByRole("button", { name: "Resume low" }).click();
    await page.getByText("The queue is running again.").waitFor();
    assert.equal((await low.locator(".badge").textContent()).trim(), "running");
  });

  // A job held in a paused queue is archived by hand, found among the
  // archived tasks and retried once the queue runs again.
  it("archives a waiting task, finds it among the archived and retries it", async (t) => {
    const login = await api("POST", "/api/v1/auth/login", "", { email: adminEmail, password: adminPassword });
    assert.equal(login.status, 200);
    const token = login.body.access_token;
    if ((await api("GET", "/api/v1/probe/runs", token)).status === 404) {
      t.skip("this binary has no probe module to make jobs with (build it with -tags e2eprobe)");
      return;
    }
    await page.goto(base + "/admin/jobs");
    await page.getByRole("button", { name: "Pause default" }).click();
    await page.getByText("The queue is paused").waitFor();
    const made = await api("POST", "/api/v1/probe/jobs", token, { count: 1, sleep_ms: 0 });
    assert.equal(made.status, 201);
    const id = made.body.ids[0];

    await page.goto(base + "/admin/jobs/tasks/" + id);
    for (let i = 0; i < 50 && (await badge(page)) !== "enqueued"; i++) {
      await page.waitForTimeout(100);
      await page.reload();
    }
    assert.equal(await badge(page), "enqueued");
    await page.getByRole("button", { name: "Archive" }).click();
    await page.getByText("The task is archived").waitFor();
    assert.equal(await badge(page), "archived");
    assert.equal((await page.locator("#task-error").textContent()).trim(), "archived by hand");
    await page.goto(base + "/admin/jobs");
    await page.getByRole("button", { name: "Resume default" }).click();
    await page.getByText("The queue is running again.").waitFor();

    // The list filters by state in place (htmx) and opens the task.
    await page.goto(base + "/admin/jobs/tasks");
    await Promise.all([page.waitForURL(/state=archived/), page.getByLabel("State").selectOption("archived")]);
    // Other specs may have left archived tasks of their own (a helpdesk
    // reply's e-mail in a tenant with no provider, say): find ours by id.
    const row = page.locator("#tbl-tasks tbody tr", { has: page.locator(`a[href$="/admin/jobs/tasks/${id}"]`) });
    await row.waitFor();
    const badges = await page.locator("#tbl-tasks tbody tr td .badge").allTextContents();
    assert.ok(badges.length >= 1 && badges.every((b) => b.trim() === "archived"), `badges: ${badges}`);
    await row.getByRole("link", { name: "Open" }).click();
    await page.waitForURL(new RegExp(`/admin/jobs/tasks/${id}$`));
    assert.match(await page.locator("#task-data").textContent(), /"sleep_ms": 0/);
    await page.screenshot({ path: path.join(shots, "jobs-task.png"), fullPage: true });

    await page.getByRole("button", { name: "Retry" }).click();
    await page.getByText("The task is queued again.").waitFor();
    // The probe's job runs at once now; the page shows it done.
    for (let i = 0; i < 50 && (await badge(page)) !== "done"; i++) {
      await page.waitForTimeout(200);
      await page.reload();
    }
    assert.equal(await badge(page), "done");
    assert.equal(await page.getByRole("button", { name: "Retry" }).count(), 0);
    ranProbe = true;
  });

  it("edits a buffer's schedule", async (t) => {
    await page.goto(base + "/admin/jobs");
    await page.locator(".page-actions").getByRole("link", { name: "Buffers" }).click();
    assert.equal(await page.locator("h1").textContent(), "Buffers");
    if ((await page.locator("#buffers").count()) === 0) {
      await page.getByText("No module declares a buffer.").waitFor();
      t.skip("no module of this binary declares a buffer");
      return;
    }
    await page.locator("#buffers tbody tr a").first().click();
    // A bad schedule is refused with the reason, and the form keeps it.
    await page.getByLabel("Schedule", { exact: true }).fill("now and then");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.getByText("The schedule must be five cron fields").waitFor();
    assert.equal(await page.getByLabel("Schedule", { exact: true }).inputValue(), "now and then");
    await page.getByLabel("Schedule", { exact: true }).fill("*/15 * * * *");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.getByText("The buffer's settings are saved.").waitFor();
    assert.equal(await page.getByLabel("Schedule", { exact: true }).inputValue(), "*/15 * * * *");
    await page.screenshot({ path: path.join(shots, "jobs-buffer.png"), fullPage: true });
  });

  it("counts the finished work on the dashboard", async () => {
    await page.goto(base + "/admin/jobs");
    const done = Number(await page.locator(".stat-value").first().textContent());
    assert.ok(ranProbe ? done >= 1 : done >= 0, `done in the last hour: ${done}`);
    if (ranProbe) assert.ok(await page.locator("#throughput g.bar rect:not([height='0'])").count() >= 1);
    await page.screenshot({ path: path.join(shots, "jobs-dashboard.png"), fullPage: true });
  });

  it("shows the schedules", async () => {
    await page.goto(base + "/admin/jobs");
    await page.locator(".page-actions").getByRole("link", { name: "Schedules" }).click();
    assert.equal(await page.locator("h1").textContent(), "Schedules");
    assert.equal(await page.locator('.page-actions a[aria-current="page"]').textContent(), "Schedules");
  });

  it("ran without script or CSP errors", () => {
    assert.deepEqual(problems, []);
  });
});
