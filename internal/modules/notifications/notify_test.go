package notifications_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/modules/contracts"
	"github.com/platform/platform/internal/modules/notifications"
)

// Notify joins the caller's transaction, pushes after the commit, and
// resolves roles and the tenant to their users.
func TestNotify(t *testing.T) {
	f := newFixture(t)

	t.Run("a rolled-back transaction writes and pushes nothing", func(t *testing.T) {
		ctx := asTenant(f.ta)
		boom := errors.New("boom")
		err := f.k.DB.InTx(ctx, func(ctx context.Context) error {
			if _, err := f.m.Notify(ctx, contracts.Notification{Recipient: contracts.Recipient{UserIDs: []string{f.agentA.id}},
				Title: "Rolled back"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("tx: %v", err)
		}
		if n := f.count(t, "notifications_messages") + f.count(t, "notifications_inbox"); n != 0 {
			t.Fatalf("a rollback left %d rows", n)
		}
		if n := f.jobs(t, "notifications:deliver"); n != 0 {
			t.Fatalf("a rollback left %d delivery jobs", n)
		}
		if got := f.inbox(t, f.agentA, "").Items; len(got) != 0 {
			t.Fatalf("inbox after rollback: %s", titles(got))
		}
	})

	t.Run("a committed one reaches the inbox and the user's tabs", func(t *testing.T) {
		id, err := f.m.Notify(asTenant(f.ta), contracts.Notification{Recipient: contracts.Recipient{UserIDs: []string{f.agentA.id}},
			Title: "Hello", Body: "World", Link: "/admin/helpdesk", Data: map[string]any{"n": 1.0}, Category: "test.hello"})
		if err != nil {
			t.Fatal(err)
		}
		got := f.inbox(t, f.agentA, "").Items
		if len(got) != 1 || got[0].NotificationID != string(id) || got[0].Title != "Hello" || got[0].Read ||
			got[0].Category != "test.hello" || got[0].Priority != "normal" || string(got[0].Data) != `{"n":1}` {
			t.Fatalf("inbox: %+v", got)
		}
		eventually(t, "the push", func() (bool, string) {
			ev := f.gw.pushed(f.agentA.id, notifications.EventNotification)
			cnt := f.gw.pushed(f.agentA.id, notifications.EventUnreadCount)
			return len(ev) == 1 && len(cnt) >= 1, ""
		})
		ev := f.gw.pushed(f.agentA.id, notifications.EventNotification)[0]
		var item notifications.Item
		if err := json.Unmarshal(ev.Data, &item); err != nil || item.ID != got[0].ID || ev.Tenant != f.ta {
			t.Fatalf("pushed %+v: %s", ev, ev.Data)
		}
		cnt := f.gw.pushed(f.agentA.id, notifications.EventUnreadCount)
		if string(cnt[len(cnt)-1].Data) != `{"count":1}` {
			t.Fatalf("unread count pushed: %s", cnt[len(cnt)-1].Data)
		}
		if got := f.inbox(t, f.agent2A, "").Items; len(got) != 0 {
			t.Fatalf("another user sees %s", titles(got))
		}
	})

	t.Run("idempotency", func(t *testing.T) {
		n := contracts.Notification{Recipient: contracts.Recipient{UserIDs: []string{f.agent2A.id}}, Title: "Once",
			IdempotencyKey: "k-1"}
		first, err := f.m.Notify(asTenant(f.ta), n)
		if err != nil {
			t.Fatal(err)
		}
		again, err := f.m.Notify(asTenant(f.ta), n)
		if err != nil || again != first {
			t.Fatalf("replay: %q %v, want %q", again, err, first)
		}
		if got := f.inbox(t, f.agent2A, "").Items; len(got) != 1 {
			t.Fatalf("a replay wrote again: %s", titles(got))
		}
		n.Title = "Twice"
		if _, err := f.m.Notify(asTenant(f.ta), n); !errors.Is(err, contracts.ErrNotificationMismatch) {
			t.Fatalf("other content, same key: %v", err)
		}
		// Keys are per tenant.
		other, err := f.m.Notify(asTenant(f.tb), contracts.Notification{Recipient: contracts.Recipient{Tenant: true},
			Title: "Once", IdempotencyKey: "k-1"})
		if err != nil || other == first {
			t.Fatalf("tenant B's key: %q %v", other, err)
		}
	})

	t.Run("concurrent twins store one notification", func(t *testing.T) {
		n := contracts.Notification{Recipient: contracts.Recipient{Role: "owner"}, Title: "Twins", IdempotencyKey: "twins"}
		ids := make(chan contracts.NotificationID, 10)
		errc := make(chan error, 10)
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id, err := f.m.Notify(asTenant(f.ta), n)
				ids <- id
				errc <- err
			}()
		}
		wg.Wait()
		close(ids)
		close(errc)
		for err := range errc {
			if err != nil {
				t.Fatal(err)
			}
		}
		var first contracts.NotificationID
		for id := range ids {
			if first == "" {
				first = id
			}
			if id != first {
				t.Fatalf("twins got %s and %s", first, id)
			}
		}
		if got := f.inbox(t, f.ownerA, "").Items; titles(got) != "[Twins]" {
			t.Fatalf("owner's inbox: %s", titles(got))
		}
	})

	t.Run("roles and the tenant resolve to their users", func(t *testing.T) {
		if _, err := f.m.Notify(asTenant(f.ta), contracts.Notification{Recipient: contracts.Recipient{Role: "agent"},
			Title: "To agents"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.m.Notify(asTenant(f.ta), contracts.Notification{Recipient: contracts.Recipient{Tenant: true},
			Title: "To everyone"}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			who  user
			want []string
		}{
			{f.agentA, []string{"To everyone", "To agents", "Hello"}},
			{f.agent2A, []string{"To everyone", "To agents", "Once"}},
			{f.ownerA, []string{"To everyone", "Twins"}},
			{f.cA, []string{"To everyone"}},
			{f.ownerB, []string{"Once"}},
		} {
			got := f.inbox(t, c.who, "").Items
			var titlesGot []string
			for _, it := range got {
				titlesGot = append(titlesGot, it.Title)
			}
			if len(titlesGot) != len(c.want) {
				t.Fatalf("inbox: %v, want %v", titlesGot, c.want)
			}
			for i := range c.want {
				if titlesGot[i] != c.want[i] {
					t.Fatalf("inbox: %v, want %v", titlesGot, c.want)
				}
			}
		}
	})

	t.Run("bad notifications are refused and write nothing", func(t *testing.T) {
		before := f.count(t, "notifications_messages")
		for name, c := range map[string]struct {
			ctx    context.Context
			n      contracts.Notification
			fields []string
		}{
			"no tenant":    {ctx: context.Background(), n: contracts.Notification{Recipient: contracts.Recipient{Tenant: true}, Title: "x"}},
			"no recipient": {ctx: asTenant(f.ta), n: contracts.Notification{Title: "x"}, fields: []string{"recipient"}},
			"two recipients": {ctx: asTenant(f.ta), n: contracts.Notification{Recipient: contracts.Recipient{Tenant: true, Role: "agent"},
				Title: "x"}, fields: []string{"recipient"}},
			"another tenant's user": {ctx: asTenant(f.ta), n: contracts.Notification{
				Recipient: contracts.Recipient{UserIDs: []string{f.ownerB.id}}, Title: "x"}, fields: []string{"recipient.user_ids[0]"}},
			"bad role, no title, bad link, category and priority": {ctx: asTenant(f.ta), n: contracts.Notification{
				Recipient: contracts.Recipient{Role: "king"}, Link: "javascript:alert(1)", Category: "Bad Cat", Priority: "max"},
				fields: []string{"recipient.role", "title", "link", "category", "priority"}},
			"past expiry": {ctx: asTenant(f.ta), n: contracts.Notification{Recipient: contracts.Recipient{Tenant: true}, Title: "x",
				ExpiresAt: time.Now().Add(-time.Hour)}, fields: []string{"expires_at"}},
		} {
			t.Run(name, func(t *testing.T) {
				_, err := f.m.Notify(c.ctx, c.n)
				e, ok := errs.As(err)
				if !ok || e.Kind != errs.Invalid {
					t.Fatalf("err %v", err)
				}
				got := map[string]bool{}
				for _, d := range e.Details {
					got[d.Field] = true
				}
				for _, want := range c.fields {
					if !got[want] {
						t.Errorf("no detail for %s: %+v", want, e.Details)
					}
				}
			})
		}
		if n := f.count(t, "notifications_messages"); n != before {
			t.Fatalf("bad input stored %d notifications", n-before)
		}
	})
}

// Expired notifications leave the inbox at once and are deleted by the
// cleanup.
func TestExpiry(t *testing.T) {
	f := newFixture(t)
	soon := f.clock.now().Add(2 * time.Hour)
	if _, err := f.m.Notify(asTenant(f.ta), contracts.Notification{Recipient: contracts.Recipient{Role: "agent"},
		Title: "Short-lived", ExpiresAt: soon}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Notify(asTenant(f.ta), contracts.Notification{Recipient: contracts.Recipient{Role: "agent"},
		Title: "Long-lived"}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.m.Cleanup(context.Background()); err != nil || n != 0 {
		t.Fatalf("cleanup before expiry: %d %v", n, err)
	}
	if got := f.unread(t, f.agentA); got != 2 {
		t.Fatalf("unread before expiry: %d", got)
	}
	f.clock.advance(3 * time.Hour)
	if got := f.inbox(t, f.agentA, "").Items; len(got) != 1 || got[0].Title != "Long-lived" {
		t.Fatalf("inbox after expiry: %s", titles(got))
	}
	if got := f.unread(t, f.agentA); got != 1 {
		t.Fatalf("unread after expiry: %d", got)
	}
	if n, err := f.m.Cleanup(context.Background()); err != nil || n != 3 { // two inbox rows and their notification
		t.Fatalf("cleanup: %d %v", n, err)
	}
	if n := f.count(t, "notifications_inbox"); n != 2 {
		t.Fatalf("inbox rows left: %d", n)
	}
	if n := f.count(t, "notifications_messages"); n != 1 {
		t.Fatalf("notifications left: %d", n)
	}
}

// Missed, the gateway's catch-up, pages oldest first from an id, over more
// than an API page.
func TestMissed(t *testing.T) {
	f := newFixture(t)
	ctx := asTenant(f.ta)
	for range 130 {
		if _, err := f.m.Notify(ctx, contracts.Notification{Recipient: contracts.Recipient{UserIDs: []string{f.agentA.id}},
			Title: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := f.m.Missed(ctx, f.ta, f.agentA.id, "", 200)
	if err != nil || len(all) != 130 {
		t.Fatalf("missed: %d %v", len(all), err)
	}
	var first, tenth notifications.Item
	_ = json.Unmarshal(all[0], &first)
	_ = json.Unmarshal(all[9], &tenth)
	rest, err := f.m.Missed(ctx, f.ta, f.agentA.id, tenth.ID, 200)
	if err != nil || len(rest) != 120 {
		t.Fatalf("after the tenth: %d %v", len(rest), err)
	}
	if !(first.ID < tenth.ID) {
		t.Fatalf("not oldest first: %s %s", first.ID, tenth.ID)
	}
	if other, err := f.m.Missed(ctx, f.ta, f.agent2A.id, "", 200); err != nil || len(other) != 0 {
		t.Fatalf("another user's: %d %v", len(other), err)
	}
	if other, err := f.m.Missed(ctx, f.tb, f.agentA.id, "", 200); err != nil || len(other) != 0 {
		t.Fatalf("another tenant's: %d %v", len(other), err)
	}
	if n, err := f.m.UnreadCount(ctx, f.ta, f.agentA.id); err != nil || n != 130 {
		t.Fatalf("unread: %d %v", n, err)
	}
}
