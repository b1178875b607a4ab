// The peer: a plain Socket.IO 4 server. A socket joins the room of the
// tenant it names in auth; POST /publish?tenant=T with a JSON body emits it
// as "notification" to that room.
const http = require("http");
const { Server } = require("socket.io");
const srv = http.createServer((req, res) => {
  if (req.method !== "POST" || !req.url.startsWith("/publish")) { res.writeHead(404).end(); return; }
  const tenant = new URL(req.url, "http://x").searchParams.get("tenant");
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => { io.to("t:" + tenant).emit("notification", JSON.parse(body)); res.writeHead(204).end(); });
});
const io = new Server(srv);
io.on("connection", (s) => s.join("t:" + s.handshake.auth.tenant));
srv.listen(Number(process.env.PORT || 3100), "127.0.0.1", () => console.log("listening"));
