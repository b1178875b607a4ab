package notifications_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/platform/platform/internal/modules/contracts"
	"github.com/platform/platform/internal/modules/notifications"
)

// sse reads a Server-Sent Events stream.
type sse struct {
	t    *testing.T
	res  *http.Response
	r    *bufio.Reader
	done context.CancelFunc
}

func openStream(t *testing.T, base, token, lastID string) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/notifications/stream?access_token="+token, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("stream: %d", res.StatusCode)
	}
	s := &sse{t: t, res: res, r: bufio.NewReader(res.Body), done: cancel}
	t.Cleanup(s.close)
	return s
}

func (s *sse) close() { s.done(); s.res.Body.Close() }

// next is the stream's next event: its name and data.
func (s *sse) next() (string, string) {
	s.t.Helper()
	var name, data string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("stream ended: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		case line == "" && name != "":
			return name, data
		}
	}
}

// The module wires the real gateway: a new notification reaches the
// user's open stream with the new count, a reconnect with the last id
// gets what it missed, and the user counts as online for the fallback.
func TestRealtimeGateway(t *testing.T) {
	f := newFixtureWith(t, false)
	ctx := asTenant(f.ta)
	st := openStream(t, f.url, f.agentA.token, "")
	if name, data := st.next(); name != "unread_count" || data != `{"count":0}` {
		t.Fatalf("first event: %s %s", name, data)
	}
	id, err := f.m.Notify(ctx, contracts.Notification{Recipient: contracts.Recipient{UserIDs: []string{f.agentA.id}},
		Title: "Live", Fallback: true})
	if err != nil {
		t.Fatal(err)
	}
	name, data := st.next()
	if name != "notification" || !strings.Contains(data, `"title":"Live"`) || !strings.Contains(data, string(id)) {
		t.Fatalf("pushed: %s %s", name, data)
	}
	if name, data := st.next(); name != "unread_count" || data != `{"count":1}` {
		t.Fatalf("count: %s %s", name, data)
	}
	if got, err := notifications.CheckFallback(ctx, f.m, string(id), f.agentA.id); err != nil || got != "not_due" {
		t.Fatalf("fallback while online: %q %v", got, err)
	}
	first := f.inbox(t, f.agentA, "").Items[0].ID
	st.close()

	// Offline now: the fallback goes out.
	deadline := time.Now().Add(waitLimit)
	for {
		got, err := notifications.CheckFallback(ctx, f.m, string(id), f.agentA.id)
		if err != nil {
			t.Fatal(err)
		}
		if got == "sent" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still online after the stream closed: %q", got)
		}
		time.Sleep(50 * time.Millisecond)
	}

	if _, err := f.m.Notify(ctx, contracts.Notification{Recipient: contracts.Recipient{UserIDs: []string{f.agentA.id}},
		Title: "Missed"}); err != nil {
		t.Fatal(err)
	}
	again := openStream(t, f.url, f.agentA.token, first)
	if name, data := again.next(); name != "notification" || !strings.Contains(data, `"title":"Missed"`) {
		t.Fatalf("catch-up: %s %s", name, data)
	}
	if name, data := again.next(); name != "unread_count" || data != `{"count":2}` {
		t.Fatalf("count after the catch-up: %s %s", name, data)
	}
}
