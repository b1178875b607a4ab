package main

// End-to-end test of the realtime gateway across processes: two platform
// processes on one MariaDB and one Redis, a socket on one, changes made
// through the other.

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/platform/platform/internal/kernel/kerneltest"
)

// TestRealtimeAcrossProcesses: a socket held by process B gets the
// notification created through process A's API, and the unread count that
// A publishes when the user reads it there. Two processes share events only
// through a real Redis, so this runs in the real-services pass, where a
// missing Redis fails it; the embedded pass has TestMultiNode in the
// realtime package.
func TestRealtimeAcrossProcesses(t *testing.T) {
	if kerneltest.Driver() != "mysql" {
		t.Skip("two processes share realtime events through a real Redis: this runs with PLATFORM_TEST_DATABASE_DRIVER=mysql")
	}
	if kerneltest.RedisAddr() == "" {
		t.Fatal("two processes need a real Redis: set PLATFORM_TEST_REDIS_ADDR")
	}
	t.Parallel()
	b := newBackend(t, "mariadb+redis")
	mustRun(t, b, "migrate", "up")
	pa, ca, admin := serveAsAdmin(t, b, "serve-a")
	defer pa.stop()
	pb := start(t, b, "serve-b", nil, "serve")
	defer pb.stop()
	pb.waitReady()

	tenant := ca.CreateTenant(admin, "Realtime", "realtime")
	user := ca.CreateUser(admin, tenant, "agent@realtime.test", "agent")
	var me struct{ ID string }
	getJSON(t, ca, user, "/api/v1/auth/me", &me)

	// The socket, on B.
	ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(pb.base, "http", "ws", 1)+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatalf("dial B: %v", err)
	}
	defer ws.Close()
	next := func() string {
		t.Helper()
		for {
			_ = ws.SetReadDeadline(time.Now().Add(jobsLimit))
			_, p, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if string(p) == "2" {
				_ = ws.WriteMessage(websocket.TextMessage, []byte("3"))
				continue
			}
			return string(p)
		}
	}
	event := func(name string) map[string]any {
		t.Helper()
		for {
			p := next()
			var args []json.RawMessage
			if !strings.HasPrefix(p, "42[") || json.Unmarshal([]byte(p[2:]), &args) != nil || len(args) != 2 {
				t.Fatalf("want an event, got %q", p)
			}
			var got string
			var data map[string]any
			_ = json.Unmarshal(args[0], &got)
			_ = json.Unmarshal(args[1], &data)
			if got == name {
				return data
			}
		}
	}
	if p := next(); !strings.HasPrefix(p, "0{") {
		t.Fatalf("open: %q", p)
	}
	tok, _ := json.Marshal(map[string]string{"token": user})
	_ = ws.WriteMessage(websocket.TextMessage, append([]byte("40"), tok...))
	if p := next(); !strings.HasPrefix(p, `40{"sid":`) {
		t.Fatalf("connect: %q", p)
	}
	if n := event("unread_count"); n["count"] != float64(0) {
		t.Fatalf("first unread count %v", n)
	}

	// Created through A.
	res := ca.Do(http.MethodPost, "/api/v1/notifications", admin,
		map[string]any{"recipient": map[string]any{"user_ids": []string{me.ID}}, "title": "Across processes"},
		"X-Tenant-ID", tenant)
	if res.Status != http.StatusCreated && res.Status != http.StatusAccepted {
		t.Fatalf("create on A: %d %s", res.Status, res.Body)
	}
	n := event("notification")
	if n["title"] != "Across processes" {
		t.Fatalf("notification on B: %v", n)
	}
	if c := event("unread_count"); c["count"] != float64(1) {
		t.Fatalf("unread count on B: %v", c)
	}
	// Read through A: A publishes the new count itself, so it reaches B
	// only through Redis.
	res = ca.Do(http.MethodPost, "/api/v1/notifications/"+n["id"].(string)+"/read", user, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("read on A: %d %s", res.Status, res.Body)
	}
	if c := event("unread_count"); c["count"] != float64(0) {
		t.Fatalf("unread count on B after the read on A: %v", c)
	}
}
