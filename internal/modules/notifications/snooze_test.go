package notifications_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/platform/platform/internal/modules/contracts"
)

// A snoozed notification comes back to its user's tabs when the snooze
// ends: pushed again, with the unread count that counts it again. One
// snoozed again meanwhile, or archived, stays quiet until its own time.
// An archived one can be brought back.
func TestSnoozedNotificationsComeBackLive(t *testing.T) {
	f := newFixture(t)
	for _, title := range []string{"Back soon", "Snoozed twice", "Archived"} {
		if _, err := f.m.Notify(asTenant(f.ta), contracts.Notification{Title: title,
			Recipient: contracts.Recipient{UserIDs: []string{f.agentA.id}}}); err != nil {
			t.Fatal(err)
		}
	}
	items := f.inbox(t, f.agentA, "").Items
	id := map[string]string{}
	for _, it := range items {
		id[it.Title] = it.ID
	}
	pushedIDs := func() map[string]int {
		out := map[string]int{}
		for _, ev := range f.gw.pushed(f.agentA.id, "notification") {
			var it struct{ ID string }
			if err := json.Unmarshal(ev.Data, &it); err != nil {
				t.Fatal(err)
			}
			out[it.ID]++
		}
		return out
	}
	eventually(t, "the three deliveries", func() (bool, string) {
		p := pushedIDs()
		return len(p) == 3, fmt.Sprint(p)
	})
	post := func(path string, body any, want int) {
		t.Helper()
		if res := f.c.Do(http.MethodPost, "/api/v1/notifications/"+path, f.agentA.token, body); res.Status != want {
			t.Fatalf("POST %s: %d %s, want %d", path, res.Status, res.Body, want)
		}
	}
	soon := f.clock.now().Add(time.Second)
	post(id["Back soon"]+"/snooze", map[string]any{"until": soon}, 200)
	post(id["Snoozed twice"]+"/snooze", map[string]any{"until": soon}, 200)
	post(id["Snoozed twice"]+"/snooze", map[string]any{"until": f.clock.now().Add(time.Hour)}, 200)
	post(id["Archived"]+"/snooze", map[string]any{"until": soon}, 200)
	post(id["Archived"]+"/archive", nil, 200)
	if n := f.unread(t, f.agentA); n != 0 {
		t.Fatalf("unread while snoozed: %d", n)
	}

	f.clock.advance(2 * time.Second)
	eventually(t, "the first snooze's return to be pushed", func() (bool, string) {
		p := pushedIDs()
		return p[id["Back soon"]] == 2, fmt.Sprint(p)
	})
	counts := f.gw.pushed(f.agentA.id, "unread_count")
	if last := string(counts[len(counts)-1].Data); last != `{"count":1}` {
		t.Errorf("the count pushed with the return: %s, want 1", last)
	}
	// Every return job has run; the one of a snooze replaced by another and
	// the archived one's pushed nothing.
	eventually(t, "every return job to be done", func() (bool, string) {
		var states []string
		f.k.DB.Conn(asTenant(f.ta)).Table("kernel_jobs").Where("type = ?", "notifications:snooze_ended").Pluck("state", &states)
		done := 0
		for _, s := range states {
			if s == "done" {
				done++
			}
		}
		return len(states) == 4 && done == 3, fmt.Sprint(states)
	})
	if p := pushedIDs(); p[id["Snoozed twice"]] != 1 || p[id["Archived"]] != 1 {
		t.Errorf("pushes %v: the re-snoozed and the archived notification came back early", p)
	}

	// Unarchive: back in the inbox (its snooze over), once, and idempotent.
	post(id["Archived"]+"/unarchive", nil, 200)
	post(id["Archived"]+"/unarchive", nil, 200)
	if got := titles(f.inbox(t, f.agentA, "").Items); got != "[Archived][Back soon]" {
		t.Errorf("inbox after unarchive: %s", got)
	}
	if n := f.unread(t, f.agentA); n != 2 {
		t.Errorf("unread after unarchive: %d, want 2", n)
	}
	post("00000000-0000-7000-8000-000000000000/unarchive", nil, 404)
}
