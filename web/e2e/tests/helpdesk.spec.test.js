// Browser tests of the helpdesk's backoffice pages (/admin/helpdesk) in
// headless Chromium. Started by ../run.sh, which serves a fresh platform at
// E2E_BASE_URL. An agent of a new tenant, made through the API, signs in,
// opens a ticket, finds it in the inbox and filters it there, saves the
// filters as a view and opens it from the side list, replies, adds an
// internal note, moves the ticket on and reads its history, meets a stale
// edit, replies with a file and downloads it, applies a macro, and edits
// the requester's details; the
// tenant's owner sets up a calendar and an SLA policy, and a ticket's page
// shows its SLA clock; the owner makes a group and a macro on the settings
// pages, and the agent applies that macro to a ticket and opens the
// satisfaction report.
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

describe("helpdesk backoffice", () => {
  const stamp = Date.now();
  const agentEmail = `agent-${stamp}@helpdesk.test`;
  const agentPassword = "e2e-agent-password-123";
  const ownerEmail = `owner-${stamp}@helpdesk.test`;
  const ownerPassword = "e2e-owner-password-123";
  let browser;
  let page;
  let agentToken;
  let ticketURL;
  const problems = [];

  before(async () => {
    const login = await api("POST", "/api/v1/auth/login", "", { email: adminEmail, password: adminPassword });
    assert.equal(login.status, 200);
    const token = login.body.access_token;
    const tenant = await api("POST", "/api/v1/tenants", token, { name: "Help Desk Co", slug: `help-desk-${stamp}` });
    assert.equal(tenant.status, 201);
    const user = await api("POST", `/api/v1/tenants/${tenant.body.id}/users`, token,
      { email: agentEmail, password: agentPassword, role: "agent" });
    assert.equal(user.status, 201);
    const owner = await api("POST", `/api/v1/tenants/${tenant.body.id}/users`, token,
      { email: ownerEmail, password: ownerPassword, role: "owner" });
    assert.equal(owner.status, 201);
    const agent = await api("POST", "/api/v1/auth/login", "", { email: agentEmail, password: agentPassword });
    assert.equal(agent.status, 200);
    agentToken = agent.body.access_token;

    browser = await chromium.launch({
      executablePath: process.env.E2E_CHROMIUM || "/usr/bin/chromium", headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"],
    });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: "en-GB" });
    page = await ctx.newPage();
    // A script error or a CSP violation fails the run; a refused form's
    // 409 or 422 is expected.
    page.on("console", (m) => {
      if (m.type() === "error" && !/status of (403|404|409|422)/.test(m.text())) problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(String(e)));
    page.on("dialog", (d) => d.accept());
    await page.goto(base + "/admin/login?next=%2Fadmin");
    await page.getByLabel("E-mail address").fill(agentEmail);
    await page.getByLabel("Password").fill(agentPassword);
    await Promise.all([page.waitForURL(/\/admin(\?|$)/), page.getByRole("button", { name: "Sign in" }).click()]);
  });
  after(async () => {
    await browser?.close();
  });

  it("opens the empty inbox from the menu", async () => {
    await page.locator("nav.sidebar").getByRole("link", { name: "Helpdesk" }).click();
    await page.waitForURL(/\/admin\/helpdesk$/);
    assert.equal(await page.locator("h1").textContent(), "Inbox");
    await page.getByText("No tickets match.").waitFor();
  });

  it("opens a ticket, after a refused try", async () => {
    await page.getByRole("link", { name: "New ticket" }).click();
    await page.waitForURL(/\/admin\/helpdesk\/tickets\/new$/);
    await page.getByLabel("Requester's e-mail address").fill("ann@example.net");
    await page.getByLabel("Requester's name").fill("Ann Example");
    await page.getByLabel("Subject").fill("   ");
    await page.getByLabel("Priority").selectOption("urgent");
    await page.getByLabel("Message").fill("The printer on floor 3 is smoking.");
    await page.getByRole("button", { name: "Open ticket" }).click();
    await page.getByText("Subject must be 1 to 500 characters").waitFor();
    // The form keeps what was typed.
    assert.equal(await page.getByLabel("Message").inputValue(), "The printer on floor 3 is smoking.");
    await page.getByLabel("Subject").fill("Printer on fire");
    await page.getByRole("button", { name: "Open ticket" }).click();
    await page.getByText("The ticket is open.").waitFor();
    assert.match(page.url(), /\/admin\/helpdesk\/tickets\/[0-9a-f-]+\?done=created$/);
    ticketURL = page.url().replace(/\?.*$/, "");
    assert.equal(await page.locator("h1").textContent(), "Printer on fire");
    assert.equal((await page.locator("#ticket-status").textContent()).trim(), "new");
    assert.match(await page.locator("#thread").textContent(), /The printer on floor 3 is smoking\./);
  });

  it("finds it in the inbox and filters the inbox", async () => {
    const other = await api("POST", "/api/v1/helpdesk/tickets", agentToken,
      { subject: "Password reset", message: "I forgot it.", priority: "low", requester: { email: "bo@example.net" } });
    assert.equal(other.status, 201);
    await page.locator(".page-actions").getByRole("link", { name: "Inbox" }).click();
    await page.waitForURL(/\/admin\/helpdesk$/);
    const rows = page.locator("#tbl-tickets tbody tr");
    assert.equal(await rows.count(), 2);
    assert.match(await rows.nth(0).textContent(), /Password reset[\s\S]*bo@example\.net[\s\S]*new[\s\S]*low/);
    assert.match(await rows.nth(1).textContent(), /Printer on fire[\s\S]*Ann Example[\s\S]*new[\s\S]*urgent/);
    // The filters swap the table in place (htmx) and keep the URL.
    await Promise.all([page.waitForURL(/priority=urgent/), page.getByLabel("Priority").selectOption("urgent")]);
    await page.locator("#tbl-tickets .count", { hasText: "1 ticket on this page" }).waitFor();
    assert.deepEqual(await page.locator("#tbl-tickets tbody td:first-child").allTextContents(), ["Printer on fire"]);
    await page.getByLabel("Priority").selectOption("");
    await page.locator("#tbl-tickets .count", { hasText: "2 tickets on this page" }).waitFor();
    await page.getByLabel("Search").fill("passw");
    await page.locator("#tbl-tickets .count", { hasText: "1 ticket on this page" }).waitFor();
    assert.deepEqual(await page.locator("#tbl-tickets tbody td:first-child").allTextContents(), ["Password reset"]);
    await page.getByLabel("Search").fill("");
    await page.locator("#tbl-tickets .count", { hasText: "2 tickets on this page" }).waitFor();
    // A view of the side list.
    await page.locator(".hd-views").getByRole("link", { name: "Urgent" }).click();
    await page.waitForURL(/\?priority=urgent$/);
    assert.deepEqual(await page.locator("#tbl-tickets tbody td:first-child").allTextContents(), ["Printer on fire"]);
    await shot(page, "helpdesk-inbox");
    await page.locator("#tbl-tickets").getByRole("link", { name: "Printer on fire" }).click();
    await page.waitForURL(ticketURL);
  });

  it("saves the filters as a view and opens it from the side list", async () => {
    await page.locator(".page-actions").getByRole("link", { name: "Inbox" }).click();
    await page.waitForURL(/\/admin\/helpdesk$/);
    await page.locator("#saved-views, .hd-views").getByText("None yet").waitFor();
    // The filters swap the table and the save form's copy of them.
    await Promise.all([page.waitForURL(/priority=urgent/), page.getByLabel("Priority").selectOption("urgent")]);
    await page.locator("#save-view input[name=priority][value=urgent]").waitFor({ state: "attached" });
    await page.getByLabel("Save current filters as view").fill("Hot tickets");
    await page.getByRole("button", { name: "Save view" }).click();
    await page.getByText("The view is saved").waitFor();
    assert.match(page.url(), /\?view=[0-9a-f-]{36}&done=view_saved$/);
    const link = page.locator("#saved-views").getByRole("link", { name: "Hot tickets" });
    assert.equal(await link.getAttribute("aria-current"), "page");
    assert.deepEqual(await page.locator("#tbl-tickets tbody td:first-child").allTextContents(), ["Printer on fire"]);
    await page.locator(".hd-views").getByRole("link", { name: "All tickets" }).click();
    await page.locator("#tbl-tickets .count", { hasText: "2 tickets on this page" }).waitFor();
    await page.locator("#saved-views").getByRole("link", { name: "Hot tickets" }).click();
    await page.waitForURL(/\?view=[0-9a-f-]{36}$/);
    assert.deepEqual(await page.locator("#tbl-tickets tbody td:first-child").allTextContents(), ["Printer on fire"]);
    assert.equal(await page.getByLabel("Priority").inputValue(), "urgent");
    // On a view, the filters stay on it; the view takes them, renamed.
    await Promise.all([page.waitForURL(/view=[0-9a-f-]{36}.*sort=priority/), page.getByLabel("Sort by").selectOption("priority")]);
    await page.locator("#update-view input[name=sort][value=priority]").waitFor({ state: "attached" });
    await page.getByLabel("Update the view Hot tickets").fill("Hot tickets by priority");
    await page.getByRole("button", { name: "Update view" }).click();
    await page.getByText("The view is updated").waitFor();
    const renamed = page.locator("#saved-views").getByRole("link", { name: "Hot tickets by priority" });
    assert.equal(await renamed.getAttribute("aria-current"), "page");
    assert.equal(await page.getByLabel("Sort by").inputValue(), "priority");
    await page.goto(ticketURL);
  });

  it("replies and adds an internal note", async () => {
    await page.getByLabel("Message").fill("A technician is on the way.");
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByText("Your reply is added to the conversation.").waitFor();
    await page.getByLabel("Message").fill("Call facilities about the extinguisher.");
    await page.getByLabel("Internal note").check();
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByText("Your internal note is added. Only agents see it.").waitFor();
    const msgs = page.locator("#thread > li");
    assert.equal(await msgs.count(), 3);
    assert.match(await msgs.nth(1).getAttribute("class"), /\bagent\b/);
    assert.match(await msgs.nth(1).textContent(), /A technician is on the way\./);
    assert.match(await msgs.nth(2).getAttribute("class"), /\bnote\b/);
    assert.match(await msgs.nth(2).textContent(), /Internal note[\s\S]*Call facilities about the extinguisher\./);
  });

  it("moves the ticket on, assigns it and shows the history", async () => {
    await page.getByLabel("Status").selectOption("open");
    await page.getByLabel("Assignee").selectOption({ label: agentEmail });
    await page.getByLabel("Tags").fill("hardware, floor-3");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText("The ticket is saved.").waitFor();
    assert.equal((await page.locator("#ticket-status").textContent()).trim(), "open");
    assert.equal(await page.locator("#ticket-assignee").textContent(), agentEmail);
    await page.locator(".hd-tabs").getByRole("link", { name: "History" }).click();
    await page.waitForURL(ticketURL + "/history");
    const rows = page.locator("#ticket-history tbody tr");
    assert.equal(await rows.count(), 4);
    assert.match(await rows.nth(0).textContent(), /status[\s\S]*none[\s\S]*new/);
    const later = (await rows.allTextContents()).slice(1).join("\n");
    assert.match(later, /status\s*new\s*open/);
    assert.match(later, new RegExp(`assignee[\\s\\S]*none[\\s\\S]*${agentEmail.replace(/[.]/g, "\\.")}`));
    assert.match(later, /tags[\s\S]*\["floor-3","hardware"\]/);
  });

  it("refuses a stale edit and says why", async () => {
    await page.goto(ticketURL);
    const now = await api("GET", "/api/v1/helpdesk/tickets/" + ticketURL.split("/").pop(), agentToken);
    const changed = await api("PATCH", "/api/v1/helpdesk/tickets/" + now.body.id, agentToken,
      { version: now.body.version, priority: "high" });
    assert.equal(changed.status, 200);
    await page.getByLabel("Status").selectOption("pending");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText("Someone else changed this ticket after you opened it").waitFor();
    assert.equal((await page.locator("#ticket-status").textContent()).trim(), "open");
    await page.locator("#props-problem").getByRole("link", { name: "Reload the ticket" }).click();
    await page.waitForURL(ticketURL);
    assert.equal(await page.getByLabel("Priority").inputValue(), "high");
    await page.getByLabel("Status").selectOption("pending");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText("The ticket is saved.").waitFor();
    assert.equal((await page.locator("#ticket-status").textContent()).trim(), "pending");
  });

  it("replies with a file attached, and downloads it from the thread", async () => {
    await page.goto(ticketURL);
    const content = "Smoke detector log\n03:12 alarm\n";
    await page.getByLabel("Message").fill("The detector's log is attached.");
    await page.getByLabel("Attach files").setInputFiles([
      { name: "detector-log.txt", mimeType: "text/plain", buffer: Buffer.from(content) },
    ]);
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByText("Your reply is added to the conversation.").waitFor();
    const msg = page.locator("#thread > li").last();
    assert.match(await msg.textContent(), /The detector's log is attached\.[\s\S]*detector-log\.txt/);
    const href = await msg.getByRole("link", { name: "detector-log.txt" }).getAttribute("href");
    assert.match(href, /^\/admin\/helpdesk\/tickets\/[0-9a-f-]+\/attachments\/[0-9a-f-]+$/);
    const res = await page.request.get(base + href);
    assert.equal(res.status(), 200);
    assert.equal(await res.text(), content);
    assert.match(res.headers()["content-disposition"], /^attachment; filename="detector-log\.txt"/);
    // More files than attachment_max_files are refused and write nothing.
    const many = Array.from({ length: 11 }, (_, i) => ({ name: `f${i}.txt`, mimeType: "text/plain", buffer: Buffer.from("x") }));
    const before = await page.locator("#thread > li").count();
    await page.getByLabel("Message").fill("Too many files.");
    await page.getByLabel("Attach files").setInputFiles(many);
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByText("A message has more files than allowed.").waitFor();
    assert.equal(await page.getByLabel("Message").inputValue(), "Too many files.");
    assert.equal(await page.locator("#thread > li").count(), before);
  });

  it("applies a macro", async () => {
    const macro = await api("POST", "/api/v1/helpdesk/macros", agentToken, {
      name: "Escalate", private: true,
      actions: { priority: "urgent", reply: { body: "Escalated for {{customer.name}}.", internal: true } },
    });
    assert.equal(macro.status, 201);
    await page.goto(ticketURL);
    await page.getByLabel("Macro").selectOption({ label: "Escalate (mine)" });
    await page.getByRole("button", { name: "Apply" }).click();
    await page.getByText("The macro is applied.").waitFor();
    assert.equal(await page.getByLabel("Priority").inputValue(), "urgent");
    assert.match(await page.locator("#thread > li.note").last().textContent(), /Escalated for Ann Example\./);
    await shot(page, "helpdesk-ticket");
  });

  it("edits the requester", async () => {
    await page.locator(".hd-meta").getByRole("link", { name: "Ann Example" }).click();
    await page.waitForURL(/\/admin\/helpdesk\/customers\/[0-9a-f-]+$/);
    assert.equal(await page.locator("h1").textContent(), "Ann Example");
    assert.deepEqual(await page.locator("table.hd-tickets tbody td:first-child").allTextContents(), ["Printer on fire"]);
    await page.getByLabel("Phone").fill("+44 20 7946 0000");
    await page.getByRole("button", { name: "Save customer" }).click();
    await page.getByText("The customer is saved.").waitFor();
    await page.locator(".page-actions").getByRole("link", { name: "Customers" }).click();
    await page.getByLabel("Search").fill("7946");
    await page.locator("#tbl-customers .count", { hasText: "Showing 1–1 of 1" }).waitFor();
    assert.match(await page.locator("#tbl-customers tbody tr").textContent(), /Ann Example[\s\S]*ann@example\.net/);
    await shot(page, "helpdesk-customers");
  });

  it("sets up business hours and an SLA policy, and shows a ticket's clock", async () => {
    // Settings are the owner's: the agent sees them and changes nothing.
    await page.locator(".page-actions").getByRole("link", { name: "Settings" }).click();
    await page.waitForURL(/\/admin\/helpdesk\/settings$/);
    await page.getByText("No calendar yet").waitFor();
    assert.equal(await page.getByRole("link", { name: "New calendar" }).count(), 0);
    const owner = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: "en-GB" });
    const op = await owner.newPage();
    op.on("pageerror", (e) => problems.push(String(e)));
    op.on("console", (m) => {
      if (m.type() === "error" && !/status of (403|404|409|422)/.test(m.text())) problems.push(m.text());
    });
    await op.goto(base + "/admin/login?next=%2Fadmin%2Fhelpdesk%2Fsettings");
    await op.getByLabel("E-mail address").fill(ownerEmail);
    await op.getByLabel("Password").fill(ownerPassword);
    await Promise.all([op.waitForURL(/\/admin\/helpdesk\/settings$/), op.getByRole("button", { name: "Sign in" }).click()]);
    await op.getByRole("link", { name: "New calendar" }).click();
    await op.getByLabel("Name", { exact: true }).fill("London office");
    await op.getByLabel("Time zone").fill("Mars/Olympus");
    await op.getByRole("button", { name: "Create calendar" }).click();
    await op.locator("#form-problem").waitFor();
    await op.getByLabel("Time zone").fill("Europe/London");
    await op.getByLabel("Saturday").fill("10:00-14:00");
    await op.getByLabel("Holidays").fill("12-25\n12-26");
    await op.getByRole("button", { name: "Create calendar" }).click();
    await op.getByText("The calendar is saved.").waitFor();
    await op.getByRole("link", { name: "New SLA policy" }).click();
    await op.getByLabel("Name", { exact: true }).fill("Standard");
    await op.getByLabel("Calendar", { exact: true }).selectOption({ label: "London office" });
    await op.getByLabel("First reply within, urgent").fill("60");
    await op.getByLabel("Solved within, urgent").fill("480");
    await op.getByLabel("First reply within, normal").fill("240");
    await op.getByRole("button", { name: "Create SLA policy" }).click();
    await op.getByText("The SLA policy is saved.").waitFor();
    const row = op.locator("#policies tbody tr", { hasText: "Standard" });
    assert.match(await row.textContent(), /London office[\s\S]*urgent: reply 1h, solve 8h/);
    assert.match(await op.locator("#calendars tbody tr").textContent(), /Europe\/London[\s\S]*sat 10:00-14:00/);
    await shot(op, "helpdesk-settings");
    await owner.close();

    const tk = await api("POST", "/api/v1/helpdesk/tickets", agentToken,
      { subject: "Invoice question", message: "Which VAT rate?", priority: "urgent", requester: { email: "cy@example.net" } });
    assert.equal(tk.status, 201);
    await page.goto(base + "/admin/helpdesk/tickets/" + tk.body.id);
    const sla = page.locator("#ticket-sla");
    assert.match(await sla.textContent(), /Standard[\s\S]*Resolution[\s\S]*due \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
  });

  it("creates a group and a macro on the settings pages, and applies the macro on a ticket", async () => {
    const owner = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: "en-GB" });
    const op = await owner.newPage();
    op.on("pageerror", (e) => problems.push(String(e)));
    op.on("console", (m) => {
      if (m.type() === "error" && !/status of (403|404|409|422)/.test(m.text())) problems.push(m.text());
    });
    op.on("dialog", (d) => d.accept());
    await op.goto(base + "/admin/login?next=%2Fadmin%2Fhelpdesk%2Fsettings");
    await op.getByLabel("E-mail address").fill(ownerEmail);
    await op.getByLabel("Password").fill(ownerPassword);
    await Promise.all([op.waitForURL(/\/admin\/helpdesk\/settings$/), op.getByRole("button", { name: "Sign in" }).click()]);
    await op.getByRole("link", { name: "New group" }).click();
    await op.getByLabel("Name", { exact: true }).fill("  ");
    await op.getByRole("button", { name: "Create group" }).click();
    await op.locator("#form-problem").getByText("must be 1 to 100 characters").waitFor();
    await op.getByLabel("Name", { exact: true }).fill("Facilities");
    await op.getByLabel("Round-robin").check();
    await op.getByLabel(agentEmail).check();
    await op.getByRole("button", { name: "Create group" }).click();
    await op.getByText("The group is saved.").waitFor();
    assert.match(await op.locator("#groups tbody tr", { hasText: "Facilities" }).textContent(),
      new RegExp(`round-robin[\\s\\S]*${agentEmail.replace(/[.]/g, "\\.")}`));
    await op.getByRole("link", { name: "New macro" }).click();
    await op.getByLabel("Name", { exact: true }).fill("Send to facilities");
    await op.getByLabel("Set priority").selectOption("low");
    await op.getByLabel("Add tags").fill("facilities");
    await op.getByLabel("Move to group").selectOption({ label: "Facilities" });
    await op.getByLabel("Add a reply").fill("Facilities will call you, {{customer.name}}.");
    await op.getByRole("button", { name: "Create macro" }).click();
    await op.getByText("The macro is saved.").waitFor();
    assert.match(await op.locator("#macros tbody tr", { hasText: "Send to facilities" }).textContent(),
      /priority → low[\s\S]*add tags facilities[\s\S]*group → Facilities[\s\S]*add a reply/);
    await shot(op, "helpdesk-workflow-settings");
    await owner.close();

    await page.goto(ticketURL);
    await page.getByLabel("Macro").selectOption({ label: "Send to facilities" });
    await page.getByRole("button", { name: "Apply" }).click();
    await page.getByText("The macro is applied.").waitFor();
    assert.equal(await page.locator("#ticket-group").textContent(), "Facilities");
    assert.equal(await page.getByLabel("Priority").inputValue(), "low");
    assert.match(await page.getByLabel("Tags").inputValue(), /facilities/);
    assert.match(await page.locator("#thread > li").last().textContent(), /Facilities will call you, Ann Example\./);
  });

  it("shows the satisfaction report, and says why a period is refused", async () => {
    await page.goto(base + "/admin/helpdesk");
    await page.locator(".page-actions").getByRole("link", { name: "Reports" }).click();
    await page.waitForURL(/\/admin\/helpdesk\/reports$/);
    assert.equal(await page.locator("h1").textContent(), "Reports");
    assert.match(await page.locator("#csat-score").textContent(), /^\s*0 good and 0 bad ratings/);
    await page.getByText("No comments in this period.").waitFor();
    await shot(page, "helpdesk-reports");
    await page.getByLabel("From").fill("2026-12-10");
    await page.getByLabel("To (the whole day)").fill("2026-12-01");
    await page.getByRole("button", { name: "Show" }).click();
    await page.getByText("must be later than from").waitFor();
    assert.equal(await page.getByLabel("To (the whole day)").inputValue(), "2026-12-01");
  });

  it("ran without script or CSP errors", () => {
    assert.deepEqual(problems, []);
  });
});
