package realtime

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestWebSocketHandshake(t *testing.T) {
	e := newEnv(t)
	w := dialWS(t, e.srv.URL)
	if w.open["sid"] == "" || w.open["pingInterval"].(float64) != float64(pingInterval.Milliseconds()) ||
		w.open["pingTimeout"].(float64) != float64(pingTimeout.Milliseconds()) || w.open["maxPayload"].(float64) != maxPayload {
		t.Fatalf("open: %v", w.open)
	}
	e.src.add(e.tenantA, e.ids[e.alice], "n1", "unread one")
	if n := w.mustConnect(e.alice); n != 1 {
		t.Fatalf("unread count %v, want 1", n)
	}
	e.publish(e.tenantA, []string{e.ids[e.alice]}, EventNotification, map[string]any{"id": "n2", "title": "hello"})
	name, data := w.event()
	if name != EventNotification || data["id"] != "n2" || data["title"] != "hello" {
		t.Fatalf("got %s %v", name, data)
	}
	e.publish(e.tenantA, nil, EventUnreadCount, map[string]int{"count": 7})
	if name, data := w.event(); name != EventUnreadCount || data["count"].(float64) != 7 {
		t.Fatalf("got %s %v", name, data)
	}
	if got := testutil.ToFloat64(e.g.sockets.WithLabelValues("socketio")); got != 1 {
		t.Fatalf("sockets gauge %v", got)
	}
	if got := testutil.ToFloat64(e.g.delivered.WithLabelValues("socketio")); got != 2 {
		t.Fatalf("delivered counter %v", got)
	}
	w.write("41")
	eventually(t, "the socket leaves its rooms", func() bool {
		return testutil.ToFloat64(e.g.sockets.WithLabelValues("socketio")) == 0
	})
}

func TestConnectRefused(t *testing.T) {
	e := newEnv(t)
	svc := serviceToken(t, e)
	for _, tc := range []struct {
		name, packet, want string
	}{
		{"no auth", "40", `44{"message":"unauthorized"}`},
		{"empty token", `40{"token":""}`, `44{"message":"unauthorized"}`},
		{"bad token", `40{"token":"nope"}`, `44{"message":"unauthorized"}`},
		{"forged api key", `40{"token":"pk_0123456789abcdef0123456789abcdef_secret"}`, `44{"message":"unauthorized"}`},
		{"service credential", `40{"token":"` + svc + `"}`, `44{"message":"unauthorized"}`},
		{"malformed auth", `40{"token":`, `44{"message":"invalid auth payload"}`},
		{"other namespace", `40/admin,{"token":"` + e.alice + `"}`, `44/admin,{"message":"Invalid namespace"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := dialWS(t, e.srv.URL)
			w.write(tc.packet)
			if got := w.next(); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			// A refused socket is in no room: a tenant-wide event does not
			// reach it, and its next packet is the answer to a good CONNECT.
			e.publish(e.tenantA, nil, EventNotification, map[string]string{"id": "x"})
			w.mustConnect(e.alice)
		})
	}
}

func serviceToken(t *testing.T, e *env) string {
	t.Helper()
	p, err := e.k.Security.AuthenticateToken(context.Background(), e.alice)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := e.k.Security.IssueServiceCredential(withPrincipal(p), "helpdesk", "notifications", nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestEngineErrors(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, method, query string
		code                float64
	}{
		{"protocol v3", "GET", "EIO=3&transport=polling", eioUnsupported},
		{"no version", "GET", "transport=polling", eioUnsupported},
		{"unknown transport", "GET", "EIO=4&transport=flash", eioUnknownTransport},
		{"unknown sid", "GET", "EIO=4&transport=polling&sid=nope", eioUnknownSID},
		{"post handshake", "POST", "EIO=4&transport=polling", eioBadMethod},
		{"websocket without upgrade", "GET", "EIO=4&transport=websocket", eioBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.srv.URL+"/socket.io/?"+tc.query, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(res.Body).Decode(&body)
			if res.StatusCode != http.StatusBadRequest || body["code"] != tc.code {
				t.Fatalf("got %d %v", res.StatusCode, body)
			}
		})
	}
	// A socket that sends binary is closed.
	w := dialWS(t, e.srv.URL)
	w.mustConnect(e.alice)
	_ = w.c.WriteMessage(websocket.BinaryMessage, []byte{4, 1, 2})
	for {
		if _, _, err := w.c.ReadMessage(); err != nil {
			break
		}
	}
}

// TestRoomIsolation: a socket gets its user's and its tenant's events and
// nobody else's; it cannot join another room.
func TestRoomIsolation(t *testing.T) {
	e := newEnv(t)
	alice, bob, carol := dialWS(t, e.srv.URL), dialWS(t, e.srv.URL), dialWS(t, e.srv.URL)
	alice.mustConnect(e.alice)
	bob.mustConnect(e.bob)
	carol.mustConnect(e.carol)

	e.publish(e.tenantA, []string{e.ids[e.bob]}, EventNotification, map[string]string{"id": "for-bob"})
	e.publish(e.tenantB, nil, EventNotification, map[string]string{"id": "for-tenant-b"})
	e.publish(e.tenantB, []string{e.ids[e.alice]}, EventNotification, map[string]string{"id": "alice-id-in-tenant-b"})
	e.publish(e.tenantA, nil, EventNotification, map[string]string{"id": "for-tenant-a"})

	// Events reach a node's sockets in order: what arrived first is all
	// that came before the tenant-wide marker.
	for _, tc := range []struct {
		name string
		w    *wsClient
		want []string
	}{
		{"alice", alice, []string{"for-tenant-a"}},
		{"bob", bob, []string{"for-bob", "for-tenant-a"}},
		{"carol", carol, []string{"for-tenant-b"}},
	} {
		for _, id := range tc.want {
			if _, data := tc.w.event(); data["id"] != id {
				t.Fatalf("%s got %v, want %s", tc.name, data, id)
			}
		}
	}
	e.publish(e.tenantB, nil, EventNotification, map[string]string{"id": "marker-b"})
	if _, data := carol.event(); data["id"] != "marker-b" {
		t.Fatalf("carol got %v", data)
	}

	for _, tc := range []struct{ room, want string }{
		{"tenant:" + e.tenantB, `431[{"error":"forbidden"}]`},
		{"user:" + e.ids[e.bob], `432[{"error":"forbidden"}]`},
		{"tenant:" + e.tenantA, `433[{"ok":true}]`},
		{"user:" + e.ids[e.alice], `434[{"ok":true}]`},
	} {
		b, _ := json.Marshal([]string{"join", tc.room})
		n := tc.want[2:3]
		alice.write("42" + n + string(b))
		if got := alice.next(); got != tc.want {
			t.Fatalf("join %s: %q, want %q", tc.room, got, tc.want)
		}
	}
	alice.write(`425["shout","x"]`)
	if got := alice.next(); got != `435[{"error":"unknown_event"}]` {
		t.Fatalf("unknown event: %q", got)
	}
	// Still nothing of tenant B after the refused join.
	e.publish(e.tenantB, nil, EventNotification, map[string]string{"id": "b-again"})
	e.publish(e.tenantA, []string{e.ids[e.alice]}, EventNotification, map[string]string{"id": "a-marker"})
	if _, data := alice.event(); data["id"] != "a-marker" {
		t.Fatalf("alice got %v", data)
	}
}

func TestCatchUp(t *testing.T) {
	e := newEnv(t)
	a := e.ids[e.alice]
	e.src.add(e.tenantA, a, "n01", "seen")
	e.src.add(e.tenantA, a, "n02", "missed one")
	e.src.add(e.tenantA, "", "n03", "missed, tenant-wide")
	e.src.add(e.tenantA, e.ids[e.bob], "n04", "bob's")
	e.src.add(e.tenantB, a, "n05", "other tenant")

	t.Run("auth last_id", func(t *testing.T) {
		w := dialWS(t, e.srv.URL)
		if got := w.connect(map[string]string{"token": e.alice, "last_id": "n01"}); !strings.HasPrefix(got, "40{") {
			t.Fatalf("connect %q", got)
		}
		for _, want := range []string{"n02", "n03"} {
			if name, data := w.event(); name != EventNotification || data["id"] != want {
				t.Fatalf("got %s %v, want %s", name, data, want)
			}
		}
		if name, data := w.event(); name != EventUnreadCount || data["count"].(float64) != 3 {
			t.Fatalf("got %s %v", name, data)
		}
	})
	t.Run("catch_up event with ack", func(t *testing.T) {
		w := dialWS(t, e.srv.URL)
		w.mustConnect(e.alice)
		w.write(`4212["catch_up",{"last_id":"n02"}]`)
		if _, data := w.event(); data["id"] != "n03" {
			t.Fatalf("got %v", data)
		}
		if name, _ := w.event(); name != EventUnreadCount {
			t.Fatalf("got %s", name)
		}
		if got := w.next(); got != `4312[{"count":1}]` {
			t.Fatalf("ack %q", got)
		}
		w.write(`4213["catch_up"]`)
		if got := w.next(); got != `4313[{"error":"last_id_required"}]` {
			t.Fatalf("ack %q", got)
		}
	})
	t.Run("store down", func(t *testing.T) {
		e.src.mu.Lock()
		e.src.fail = true
		e.src.mu.Unlock()
		defer func() { e.src.mu.Lock(); e.src.fail = false; e.src.mu.Unlock() }()
		w := dialWS(t, e.srv.URL)
		w.mustConnect(e.alice)
		w.write(`427["catch_up","n01"]`)
		if got := w.next(); got != `437[{"error":"unavailable"}]` {
			t.Fatalf("ack %q", got)
		}
	})
}

// TestPolling: the handshake, CONNECT and events over long-polling, then
// the upgrade to a WebSocket that carries on with the same session.
func TestPolling(t *testing.T) {
	e := newEnv(t)
	p, open := handshake(t, e.srv.URL)
	if up := open["upgrades"].([]any); len(up) != 1 || up[0] != "websocket" {
		t.Fatalf("open %v", open)
	}
	p.post(`40{"token":"` + e.alice + `"}`)
	got := p.packets()
	for len(got) < 2 { // CONNECT and the unread count may come in two polls
		got = append(got, p.packets()...)
	}
	if !strings.HasPrefix(got[0], `40{"sid":`) || !strings.HasPrefix(got[1], `42["unread_count"`) {
		t.Fatalf("got %q", got)
	}
	e.publish(e.tenantA, nil, EventNotification, map[string]string{"id": "p1"})
	e.publish(e.tenantA, nil, EventNotification, map[string]string{"id": "p2"})
	got = p.packets()
	for len(got) < 2 {
		got = append(got, p.packets()...)
	}
	for i, want := range []string{"p1", "p2"} {
		if _, data := decodeEvent(t, got[i]); data["id"] != want {
			t.Fatalf("got %q", got)
		}
	}

	// Upgrade: a poll waits while the probe runs and is ended by a noop.
	done := make(chan string, 1)
	go func() { done <- strings.Join(p.packets(), "|") }()
	eventually(t, "the poll waits", func() bool {
		s := e.g.lookup(p.sid)
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.polling
	})
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(e.srv.URL, p.sid), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	w := &wsClient{t: t, c: ws}
	w.write("2probe")
	if got := w.next(); got != "3probe" {
		t.Fatalf("probe %q", got)
	}
	if got := <-done; got != "6" {
		t.Fatalf("poll during upgrade %q", got)
	}
	w.write("5")
	e.publish(e.tenantA, nil, EventNotification, map[string]string{"id": "after-upgrade"})
	if _, data := w.event(); data["id"] != "after-upgrade" {
		t.Fatalf("got %v", data)
	}
	// The session now belongs to the WebSocket: polling it is refused.
	res, err := http.Get(p.url())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("poll after upgrade: %d", res.StatusCode)
	}
}

func TestHeartbeat(t *testing.T) {
	defer shorten(t)()
	e := newEnv(t)
	p, _ := handshake(t, e.srv.URL)
	p.post(`40{"token":"` + e.alice + `"}`)
	// The server pings; the client that answers stays.
	for pinged := false; !pinged; {
		for _, pk := range p.packets() {
			pinged = pinged || pk == "2"
		}
	}
	p.post("3")
	// and is pinged again, which it would not be had it been dropped.
	for pinged := false; !pinged; {
		for _, pk := range p.packets() {
			pinged = pinged || pk == "2"
		}
	}
	p.post("1")
	// A WebSocket that stops answering pings is closed.
	w := dialWS(t, e.srv.URL)
	w.mustConnect(e.bob)
	for {
		_, b, err := w.c.ReadMessage()
		if err != nil {
			break // closed by the server
		}
		if string(b) != "2" {
			t.Fatalf("unexpected %q", b)
		}
	}
}

// shorten makes the heartbeat fast for one test.
func shorten(t *testing.T) func() {
	pi, pt, te := pingInterval, pingTimeout, tickEvery
	pingInterval, pingTimeout, tickEvery = 300e6, 300e6, 50e6
	return func() { pingInterval, pingTimeout, tickEvery = pi, pt, te }
}

// TestSlowConsumer: a socket that does not take its events is dropped once
// its queue is full, and the others go on getting theirs. The slow one
// polls, so that no socket buffer hides how far behind it is.
func TestSlowConsumer(t *testing.T) {
	e := newEnv(t)
	slow, _ := handshake(t, e.srv.URL)
	slow.post(`40{"token":"` + e.alice + `"}`)
	eventually(t, "the slow socket connects", func() bool {
		return testutil.ToFloat64(e.g.sockets.WithLabelValues("socketio")) == 1
	})
	fast := dialWS(t, e.srv.URL)
	fast.mustConnect(e.bob)
	for i := 0; i <= maxQueue; i++ {
		e.publish(e.tenantA, []string{e.ids[e.alice]}, EventNotification, map[string]any{"id": "n", "i": i})
	}
	if got := testutil.ToFloat64(e.g.dropped); got != 1 {
		t.Fatalf("dropped %v, want 1", got)
	}
	if e.g.lookup(slow.sid) != nil || testutil.ToFloat64(e.g.sockets.WithLabelValues("socketio")) != 1 {
		t.Fatal("the slow socket is still there")
	}
	e.publish(e.tenantA, nil, EventNotification, map[string]string{"id": "to-all"})
	if _, data := fast.event(); data["id"] != "to-all" {
		t.Fatalf("fast got %v", data)
	}
	// The dropped client learns it on its next poll.
	res, err := http.Get(slow.url())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("poll of a dropped session: %d", res.StatusCode)
	}
}

// TestMultiNode: an event published on one gateway reaches a socket held
// by another through Redis (two kernels on the real Redis; two gateways
// on the embedded one, which is one process's).
func TestMultiNode(t *testing.T) {
	e := newEnv(t)
	other := newNode(t, e)
	w := dialWS(t, e.srv.URL)
	w.mustConnect(e.alice)
	b, _ := json.Marshal(map[string]string{"id": "from-b"})
	if err := other.Publish(context.Background(), Event{Tenant: e.tenantA, Users: []string{e.ids[e.alice]}, Name: EventNotification, Data: b}); err != nil {
		t.Fatal(err)
	}
	if _, data := w.event(); data["id"] != "from-b" {
		t.Fatalf("got %v", data)
	}
	// Presence is shared too, and ends with the socket.
	for _, g := range []*Gateway{e.g, other} {
		if on, err := g.Online(context.Background(), e.tenantA, e.ids[e.alice]); err != nil || !on {
			t.Fatalf("online %v %v", on, err)
		}
		if on, _ := g.Online(context.Background(), e.tenantA, e.ids[e.bob]); on {
			t.Fatal("bob is not online")
		}
	}
	w.write("41")
	eventually(t, "alice goes offline", func() bool {
		on, err := other.Online(context.Background(), e.tenantA, e.ids[e.alice])
		return err == nil && !on
	})
}

func TestPresenceExpires(t *testing.T) {
	e := newEnv(t)
	w := dialWS(t, e.srv.URL)
	w.mustConnect(e.alice)
	key := e.g.presenceKey(e.tenantA, e.ids[e.alice])
	// A node that died without cleaning up: its entry is past its time.
	if err := e.g.rdb.ZAdd(context.Background(), e.g.presenceKey(e.tenantA, e.ids[e.bob]),
		redisZ(1, "dead-node")).Err(); err != nil {
		t.Fatal(err)
	}
	if on, _ := e.g.Online(context.Background(), e.tenantA, e.ids[e.bob]); on {
		t.Fatal("a dead node's socket counts as online")
	}
	if n, _ := e.g.rdb.Exists(context.Background(), key).Result(); n != 1 {
		t.Fatal("no presence key")
	}
	if ttl, _ := e.g.rdb.PTTL(context.Background(), key).Result(); ttl <= 0 {
		t.Fatalf("presence key without expiry: %v", ttl)
	}
}

func TestSSE(t *testing.T) {
	e := newEnv(t)
	a := e.ids[e.alice]
	e.src.add(e.tenantA, a, "n01", "seen")
	e.src.add(e.tenantA, a, "n02", "missed")
	url := e.srv.URL + "/api/v1/notifications/stream"

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name, url, auth, code string
		}{
			{"no token", url, "", "unauthenticated"},
			{"bad query token", url + "?access_token=nope", "", "auth.invalid_token"},
			{"bad bearer", url, "Bearer nope", "auth.invalid_token"},
			{"service credential", url + "?access_token=" + serviceToken(t, e), "", "auth.invalid_token"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
				if tc.auth != "" {
					req.Header.Set("Authorization", tc.auth)
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), `"code":"`+tc.code+`"`) {
					t.Fatalf("got %d %s", res.StatusCode, b)
				}
			})
		}
	})
	t.Run("bearer, live events", func(t *testing.T) {
		s := openSSE(t, url, "Authorization", "Bearer "+e.alice)
		if ev := s.next(); ev.Name != EventUnreadCount || ev.Data["count"].(float64) != 2 {
			t.Fatalf("got %+v", ev)
		}
		e.publish(e.tenantA, []string{e.ids[e.bob]}, EventNotification, map[string]string{"id": "for-bob"})
		e.publish(e.tenantB, nil, EventNotification, map[string]string{"id": "other-tenant"})
		e.publish(e.tenantA, []string{a}, EventNotification, map[string]string{"id": "n09", "title": "line\nbreak"})
		if ev := s.next(); ev.Name != EventNotification || ev.ID != "n09" || ev.Data["title"] != "line\nbreak" {
			t.Fatalf("got %+v", ev)
		}
	})
	t.Run("query token, Last-Event-ID catch-up", func(t *testing.T) {
		s := openSSE(t, url+"?access_token="+e.alice, "Last-Event-ID", "n01")
		if ev := s.next(); ev.Name != EventNotification || ev.ID != "n02" {
			t.Fatalf("got %+v", ev)
		}
		if ev := s.next(); ev.Name != EventUnreadCount {
			t.Fatalf("got %+v", ev)
		}
	})
}
