// The client driver of the notifications fan-out benchmark, the same for
// both servers: CLIENTS socket.io-client sockets (WebSocket) spread over
// TENANTS tenant rooms, then RATE notifications a second for DURATION seconds, each
// to one tenant's room, timed from the publish call to each socket's
// receipt in this process. Server memory is the growth of its RSS, once
// settled, from before the sockets to after. Prints one JSON line.
//
//   KIND=node     TARGET=http://127.0.0.1:3100  (publishes with POST /publish)
//   KIND=platform TARGET=http://127.0.0.1:8080 REDIS=127.0.0.1:6379 REDIS_DB=13
//                 ADMIN_EMAIL=... ADMIN_PASSWORD=...  (publishes on the gateway's Redis channel)
const net = require("net");
const fs = require("fs");
const { io } = require("socket.io-client");

const env = process.env;
const KIND = env.KIND, TARGET = env.TARGET;
const CLIENTS = Number(env.CLIENTS || 2000), TENANTS = Number(env.TENANTS || 20);
const RATE = Number(env.RATE || 20), SECONDS = Number(env.DURATION || 30);
const PID = Number(env.SERVER_PID);

const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${PID}/status`, "utf8"))[1]) * 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function api(method, p, token, body, extra = {}) {
  const res = await fetch(TARGET + p, { method, body: body && JSON.stringify(body),
    headers: { "Content-Type": "application/json", ...(token && { Authorization: "Bearer " + token }), ...extra } });
  const j = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(j)}`);
  return j;
}

// tenants returns, per tenant, the room name and the socket's auth.
async function tenants() {
  if (KIND === "node") return Array.from({ length: TENANTS }, (_, i) => ({ id: "t" + i, auth: { tenant: "t" + i } }));
  if (env.TOKENS && fs.existsSync(env.TOKENS)) return JSON.parse(fs.readFileSync(env.TOKENS, "utf8"));
  const admin = (await api("POST", "/api/v1/auth/login", "", { email: env.ADMIN_EMAIL, password: env.ADMIN_PASSWORD })).access_token;
  const out = [];
  for (let i = 0; i < TENANTS; i++) {
    const t = await api("POST", "/api/v1/tenants", admin, { name: "Bench " + i, slug: "bench-" + i });
    const email = `bench${i}@example.com`;
    await api("POST", `/api/v1/tenants/${t.id}/users`, admin, { email, password: "bench-password-123", role: "agent" });
    const tok = (await api("POST", "/api/v1/auth/login", "", { email, password: "bench-password-123" })).access_token;
    out.push({ id: t.id, auth: { token: tok } });
  }
  if (env.TOKENS) fs.writeFileSync(env.TOKENS, JSON.stringify(out));
  return out;
}

// publisher sends one notification to a tenant's room.
function publisher() {
  if (KIND === "node") {
    return (tenant, data) => fetch(`${TARGET}/publish?tenant=${tenant}`, { method: "POST", body: JSON.stringify(data) });
  }
  const [host, port] = env.REDIS.split(":");
  const channel = `platform:${env.REDIS_DB}:notifications:rt:events`;
  const c = net.createConnection({ host, port: Number(port) });
  c.on("data", () => {});
  const bulk = (s) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  c.write(`*2\r\n${bulk("SELECT")}${bulk(String(env.REDIS_DB))}`);
  return (tenant, data) => {
    const msg = JSON.stringify({ node: "bench", event: { tenant, name: "notification", data } });
    c.write(`*3\r\n${bulk("PUBLISH")}${bulk(channel)}${bulk(msg)}`);
  };
}

function pct(sorted, p) { return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : NaN; }

// settle waits until the server's RSS holds still (a Go heap returns what
// start-up and password hashing used a little at a time), at most 30 s.
async function settle() {
  let last = rss();
  for (let i = 0; i < 30; i++) {
    await sleep(1000);
    const now = rss();
    if (Math.abs(now - last) < 256 * 1024) return now;
    last = now;
  }
  return last;
}

(async () => {
  const ts = await tenants();
  if (env.SETUP_ONLY) process.exit(0);
  const before = await settle();
  const sent = new Map();
  const lat = [];
  let received = 0;
  const sockets = [];
  for (let i = 0; i < CLIENTS; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(CLIENTS, i + 100); j++) {
      const t = ts[j % TENANTS];
      const s = io(TARGET, { transports: ["websocket"], auth: t.auth, reconnection: false, forceNew: true });
      s.on("notification", (n) => {
        const at = sent.get(n.id);
        if (at !== undefined) { received++; lat.push(performance.now() - at); }
      });
      sockets.push(s);
      batch.push(new Promise((res, rej) => { s.once("connect", res); s.once("connect_error", rej); }));
    }
    await Promise.all(batch);
  }
  const after = await settle();
  const pub = publisher();
  const total = RATE * SECONDS;
  const start = performance.now();
  for (let k = 0; k < total; k++) {
    const due = start + (k * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const id = "b" + k;
    sent.set(id, performance.now());
    pub(ts[k % TENANTS].id, { id, title: "Benchmark " + k, body: "x".repeat(200) });
  }
  const expected = total * (CLIENTS / TENANTS);
  for (let w = 0; w < 100 && received < expected; w++) await sleep(100);
  lat.sort((a, b) => a - b);
  const connected = sockets.filter((s) => s.connected).length;
  console.log(JSON.stringify({ kind: KIND, clients: CLIENTS, connected, tenants: TENANTS, rate: RATE, seconds: SECONDS,
    published: total, expected, received, delivered_pct: +(100 * received / expected).toFixed(3),
    p50_ms: +pct(lat, 0.5).toFixed(2), p99_ms: +pct(lat, 0.99).toFixed(2), max_ms: +(lat[lat.length - 1] || NaN).toFixed(2),
    rss_before_mb: +(before / 1048576).toFixed(1), rss_after_mb: +(after / 1048576).toFixed(1),
    mem_per_1000_mb: +((after - before) / CLIENTS * 1000 / 1048576).toFixed(2) }));
  for (const s of sockets) s.close();
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
