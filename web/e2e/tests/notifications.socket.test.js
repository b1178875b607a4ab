// The realtime gateway with the stock socket.io-client 4.8.4 (npm), against
// the platform that ../run.sh serves at E2E_BASE_URL: connect with a token
// and get a notification created over REST; be refused without a token;
// get nothing of another user or tenant; reconnect with the last id seen
// and catch up; the SSE stream says the same as the socket.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";

const base = process.env.E2E_BASE_URL;
const adminEmail = process.env.E2E_ADMIN_EMAIL;
const adminPassword = process.env.E2E_ADMIN_PASSWORD;
if (!base || !adminEmail || !adminPassword) {
  throw new Error("run these tests through web/e2e/run.sh");
}

async function api(method, p, token, body) {
  const res = await fetch(base + p, {
    method, body: body && JSON.stringify(body),
    headers: { "Content-Type": "application/json", ...(token && { Authorization: "Bearer " + token }) },
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

async function login(email, password) {
  const r = await api("POST", "/api/v1/auth/login", "", { email, password });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.access_token;
}

// inbox collects a socket's events in order, and waits for the next one.
function inbox(socket) {
  const events = [];
  const waiters = [];
  for (const name of ["notification", "unread_count"]) {
    socket.on(name, (data) => {
      events.push({ name, data });
      while (waiters.length) waiters.shift()();
    });
  }
  return {
    events,
    async next(pred, what) {
      const deadline = Date.now() + 15000;
      for (;;) {
        const i = events.findIndex(pred);
        if (i >= 0) return events.splice(i, 1)[0];
        if (Date.now() > deadline) throw new Error("no " + what + " in " + JSON.stringify(events));
        await new Promise((r) => { waiters.push(r); setTimeout(r, 200); });
      }
    },
  };
}

function connect(auth, opts = {}) {
  const socket = io(base, { auth, reconnection: false, forceNew: true, ...opts });
  return new Promise((resolve, reject) => {
    const box = inbox(socket);
    socket.once("connect", () => resolve({ socket, box }));
    socket.once("connect_error", (err) => { socket.close(); reject(err); });
  });
}

const suffix = Date.now().toString(36);

describe("notifications over Socket.IO", () => {
  let admin, tenantA, tenantB, alice, bob, carol, aliceID, bobID;
  const open = [];

  before(async () => {
    admin = await login(adminEmail, adminPassword);
    const mk = async (name) => {
      const r = await api("POST", "/api/v1/tenants", admin, { name, slug: name + "-" + suffix });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.id;
    };
    tenantA = await mk("sio-a");
    tenantB = await mk("sio-b");
    const user = async (tenant, name) => {
      const email = name + "-" + suffix + "@example.com";
      const r = await api("POST", `/api/v1/tenants/${tenant}/users`, admin,
        { email, password: "password-123456", role: "agent" });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return [await login(email, "password-123456"), r.body.id];
    };
    [alice, aliceID] = await user(tenantA, "alice");
    [bob, bobID] = await user(tenantA, "bob");
    [carol] = await user(tenantB, "carol");
  });
  after(() => { for (const s of open) s.close(); });

  // send creates a notification for one user over REST, as the admin
  // acting in the user's tenant.
  async function send(tenant, userID, title) {
    const r = await fetch(base + "/api/v1/notifications", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + admin, "X-Tenant-ID": tenant },
      body: JSON.stringify({ recipient: { user_ids: [userID] }, title, body: "from the e2e test" }),
    });
    const body = await r.json().catch(() => null);
    assert.ok(r.status === 201 || r.status === 202, `POST /api/v1/notifications: ${r.status} ${JSON.stringify(body)}`);
    return body;
  }

  it("is refused without a token, or with a bad one", async () => {
    await assert.rejects(connect({}), (err) => err.message === "unauthorized");
    await assert.rejects(connect({ token: "nope" }), (err) => err.message === "unauthorized");
    await assert.rejects(connect({ token: "nope" }, { transports: ["websocket"] }), (err) => err.message === "unauthorized");
  });

  it("delivers a notification created over REST, to its user only", async () => {
    const a = await connect({ token: alice });
    const b = await connect({ token: bob }, { transports: ["websocket"] });
    const c = await connect({ token: carol });
    open.push(a.socket, b.socket, c.socket);
    await a.box.next((e) => e.name === "unread_count", "first unread count");

    await send(tenantA, aliceID, "for alice " + suffix);
    const n = await a.box.next((e) => e.name === "notification", "notification");
    assert.equal(n.data.title, "for alice " + suffix);
    assert.ok(n.data.id);
    const u = await a.box.next((e) => e.name === "unread_count" && e.data.count >= 1, "unread count after it");
    assert.equal(u.data.count, 1);

    // bob and carol, in the same and another tenant, got nothing of it: the
    // next notification each sees is the one sent to them afterwards.
    await send(tenantA, bobID, "for bob " + suffix);
    const nb = await b.box.next((e) => e.name === "notification", "bob's notification");
    assert.equal(nb.data.title, "for bob " + suffix);
    assert.equal(c.box.events.filter((e) => e.name === "notification").length, 0);
    assert.equal(a.box.events.filter((e) => e.name === "notification").length, 0);
  });

  it("cannot join another tenant's room", async () => {
    const { socket } = await connect({ token: alice });
    open.push(socket);
    const ack = await socket.timeout(10000).emitWithAck("join", "tenant:" + tenantB);
    assert.deepEqual(ack, { error: "forbidden" });
  });

  it("catches up on reconnect from the last id seen", async () => {
    const a = await connect({ token: alice });
    open.push(a.socket);
    await send(tenantA, aliceID, "seen " + suffix);
    const seen = await a.box.next((e) => e.name === "notification", "the seen one");
    a.socket.close();

    await send(tenantA, aliceID, "missed 1 " + suffix);
    await send(tenantA, aliceID, "missed 2 " + suffix);

    const again = await connect({ token: alice, last_id: seen.data.id });
    open.push(again.socket);
    const m1 = await again.box.next((e) => e.name === "notification", "first missed");
    const m2 = await again.box.next((e) => e.name === "notification", "second missed");
    assert.deepEqual([m1.data.title, m2.data.title], ["missed 1 " + suffix, "missed 2 " + suffix]);
    await again.box.next((e) => e.name === "unread_count", "unread count after the catch-up");
  });

  it("says the same over SSE", async () => {
    const ctrl = new AbortController();
    const res = await fetch(base + "/api/v1/notifications/stream?access_token=" + encodeURIComponent(bob), { signal: ctrl.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /text\/event-stream/);
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    const nextEvent = async () => {
      for (;;) {
        const i = buf.indexOf("\n\n");
        if (i >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = {};
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) ev.name = line.slice(7);
            if (line.startsWith("data: ")) ev.data = JSON.parse(line.slice(6));
            if (line.startsWith("id: ")) ev.id = line.slice(4);
          }
          if (ev.name) return ev;
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error("stream ended");
        buf += dec.decode(value, { stream: true });
      }
    };
    try {
      assert.equal((await nextEvent()).name, "unread_count");
      await send(tenantA, bobID, "sse " + suffix);
      let ev;
      do { ev = await nextEvent(); } while (ev.name !== "notification");
      assert.equal(ev.data.title, "sse " + suffix);
      assert.equal(ev.id, ev.data.id);
    } finally {
      ctrl.abort();
    }
  });
});
