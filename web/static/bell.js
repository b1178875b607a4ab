// The topbar's notification bell: the unread count and a dropdown of recent
// notifications, kept live over the Socket.IO endpoint with the stock
// client. The page gets a short-lived access token for its session (POST
// with the CSRF token) and uses it for the socket and the inbox API.
(function () {
  "use strict";
  var root = document.querySelector("[data-bell]");
  if (!root || typeof window.io !== "function") return;
  var button = root.querySelector(".bell-button");
  var count = root.querySelector("[data-bell-count]");
  var menu = root.querySelector("[data-bell-menu]");
  var list = root.querySelector("[data-bell-list]");
  var empty = root.querySelector("[data-bell-empty]");
  var token = "";
  var lastId = "";
  var seen = {};
  var MAX = 10;

  function fetchToken() {
    return fetch("/admin/notifications/realtime-token", {
      method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": root.dataset.csrf }
    }).then(function (r) {
      if (!r.ok) throw new Error("token: " + r.status);
      return r.json();
    }).then(function (j) { token = j.access_token; return token; });
  }

  function setCount(n) {
    n = Number(n) || 0;
    root.dataset.unread = String(n);
    count.textContent = n > 99 ? "99+" : String(n);
    count.hidden = n <= 0;
    button.setAttribute("aria-label", n > 0 ? "Notifications, " + n + " unread" : "Notifications");
  }

  function item(n) {
    var li = document.createElement("li");
    li.dataset.id = n.id;
    if (!n.read) li.className = "unread";
    var title = document.createElement(n.link ? "a" : "span");
    title.className = "bell-item-title";
    title.textContent = n.title || "Notification";
    if (n.link && (n.link.charAt(0) === "/" || n.link.indexOf("https://") === 0)) title.href = n.link;
    li.appendChild(title);
    if (n.body) {
      var body = document.createElement("span");
      body.className = "bell-item-body";
      body.textContent = n.body;
      li.appendChild(body);
    }
    if (n.created_at) {
      var t = document.createElement("time");
      t.dateTime = n.created_at;
      t.textContent = new Date(n.created_at).toLocaleString();
      li.appendChild(t);
    }
    return li;
  }

  // add puts a notification at the top (live) or the bottom (a page of the
  // inbox, newest first), once.
  function add(n, top) {
    if (!n || !n.id || seen[n.id]) return;
    seen[n.id] = true;
    if (!lastId || n.id > lastId) lastId = n.id;
    var li = item(n);
    if (top) list.insertBefore(li, list.firstChild); else list.appendChild(li);
    while (list.children.length > MAX) list.removeChild(list.lastChild);
    empty.hidden = list.children.length > 0;
  }

  function loadRecent() {
    return fetch("/api/v1/notifications?limit=" + MAX, { headers: { Authorization: "Bearer " + token } })
      .then(function (r) { return r.ok ? r.json() : { items: [] }; })
      .then(function (page) { (page.items || []).forEach(function (n) { add(n, false); }); });
  }

  function toggle(open) {
    menu.hidden = !open;
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }
  button.addEventListener("click", function () { toggle(menu.hidden); });
  document.addEventListener("click", function (ev) { if (!root.contains(ev.target)) toggle(false); });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && !menu.hidden) { toggle(false); button.focus(); }
  });

  fetchToken().then(function () {
    root.hidden = false;
    return loadRecent();
  }).then(function () {
    // auth runs on every (re)connection: a fresh token, and the last id
    // seen so that the server replays what came in between.
    var socket = window.io({
      auth: function (cb) {
        fetchToken().then(function () { cb({ token: token, last_id: lastId || undefined }); },
          function () { cb({}); });
      }
    });
    socket.on("notification", function (n) { add(n, true); });
    socket.on("unread_count", function (d) { setCount(d && d.count); });
    root.dataset.state = "live";
    socket.on("connect", function () { root.dataset.connected = "true"; });
    socket.on("disconnect", function () { root.dataset.connected = "false"; });
  }).catch(function () { root.hidden = true; });
})();
