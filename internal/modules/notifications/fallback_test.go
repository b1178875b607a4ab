package notifications_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/platform/platform/internal/modules/contracts"
	"github.com/platform/platform/internal/modules/notifications"
)

// The e-mail and SMS fallback: scheduled after the delay, sent only to a
// recipient who has not read the notification, is offline and wants it,
// held back by quiet hours, and sent once per channel.
func TestFallback(t *testing.T) {
	f := newFixture(t)
	ctx := asTenant(f.ta)
	notify := func(t *testing.T, title string, to user, fallback bool) string {
		t.Helper()
		id, err := f.m.Notify(ctx, contracts.Notification{Recipient: contracts.Recipient{UserIDs: []string{to.id}},
			Title: title, Body: "Body of " + title, Link: "/admin/x", Category: "ops", Fallback: fallback,
			FallbackAfter: 30 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return string(id)
	}
	check := func(t *testing.T, id string, u user, want string) {
		t.Helper()
		got, err := notifications.CheckFallback(ctx, f.m, id, u.id)
		if err != nil || got != want {
			t.Fatalf("fallback check: %q %v, want %q", got, err, want)
		}
	}
	sentTo := func(to string) []contracts.ContactMessage {
		var out []contracts.ContactMessage
		for _, s := range f.sender.Messages() {
			if s.Message.To == to {
				out = append(out, s.Message)
			}
		}
		return out
	}

	t.Run("the delivery schedules the check after the delay", func(t *testing.T) {
		before := f.clock.now()
		id := notify(t, "Scheduled", f.agentA, true)
		notify(t, "No fallback", f.agentA, false)
		eventually(t, "the fallback job", func() (bool, string) {
			return f.jobs(t, "notifications:fallback") == 1, ""
		})
		at := f.runAts(t, "notifications:fallback", id)[0]
		if at.Before(before.Add(30*time.Minute-time.Second)) || at.After(f.clock.now().Add(30*time.Minute+time.Second)) {
			t.Fatalf("fallback due at %s, want 30 minutes after %s", at, before)
		}
	})

	t.Run("unread and offline: an e-mail, once", func(t *testing.T) {
		id := notify(t, "Unread", f.agentA, true)
		check(t, id, f.agentA, "sent")
		mails := sentTo("agent@a.test")
		if len(mails) != 1 || mails[0].Channel != contracts.ChannelEmail || mails[0].Subject != "Unread" ||
			!strings.Contains(mails[0].Body, "Body of Unread") || !strings.Contains(mails[0].Body, "/admin/x") ||
			mails[0].IdempotencyKey == "" {
			t.Fatalf("sent: %+v", mails)
		}
		check(t, id, f.agentA, "not_due")
		if n := len(sentTo("agent@a.test")); n != 1 {
			t.Fatalf("a second check sent again: %d", n)
		}
		if n := f.count(t, "notifications_fallbacks"); n != 1 {
			t.Fatalf("fallbacks recorded: %d", n)
		}
	})

	t.Run("read, archived or online: nothing", func(t *testing.T) {
		read := notify(t, "Read", f.agent2A, true)
		archived := notify(t, "Archived", f.agent2A, true)
		online := notify(t, "Online", f.agent2A, true)
		for _, it := range f.inbox(t, f.agent2A, "").Items {
			switch it.Title {
			case "Read":
				f.c.Do(http.MethodPost, "/api/v1/notifications/"+it.ID+"/read", f.agent2A.token, nil)
			case "Archived":
				f.c.Do(http.MethodPost, "/api/v1/notifications/"+it.ID+"/archive", f.agent2A.token, nil)
			}
		}
		check(t, read, f.agent2A, "not_due")
		check(t, archived, f.agent2A, "not_due")
		f.gw.setOnline(f.ta, f.agent2A.id, true)
		check(t, online, f.agent2A, "not_due")
		f.gw.setOnline(f.ta, f.agent2A.id, false)
		if got := sentTo("agent2@a.test"); len(got) != 0 {
			t.Fatalf("sent: %+v", got)
		}
		check(t, online, f.agent2A, "sent") // offline again
	})

	t.Run("preferences without e-mail: nothing; with SMS: a text", func(t *testing.T) {
		res := f.c.Do(http.MethodPut, "/api/v1/notifications/preferences", f.ownerA.token, map[string]any{
			"phone": "+14155550123", "default": map[string]any{"in_app": true, "email": false, "sms": false},
			"categories": map[string]any{"ops": map[string]any{"in_app": true, "email": false, "sms": true}}})
		if res.Status != http.StatusOK {
			t.Fatalf("preferences: %d %s", res.Status, res.Body)
		}
		id, err := f.m.Notify(ctx, contracts.Notification{Recipient: contracts.Recipient{UserIDs: []string{f.ownerA.id}},
			Title: "Other category", Category: "other", Fallback: true})
		if err != nil {
			t.Fatal(err)
		}
		check(t, string(id), f.ownerA, "not_due")
		id2 := notify(t, "By text", f.ownerA, true)
		check(t, id2, f.ownerA, "sent")
		texts := sentTo("+14155550123")
		if len(texts) != 1 || texts[0].Channel != contracts.ChannelSMS || !strings.HasPrefix(texts[0].Body, "By text") {
			t.Fatalf("texts: %+v", texts)
		}
		if got := sentTo("owner@a.test"); len(got) != 0 {
			t.Fatalf("e-mail against the preferences: %+v", got)
		}
	})

	t.Run("quiet hours hold it back until they end", func(t *testing.T) {
		// Quiet hours around the module's now, in New York.
		loc, _ := time.LoadLocation("America/New_York")
		now := f.clock.now().In(loc)
		start, end := now.Add(-time.Hour), now.Add(2*time.Hour)
		res := f.c.Do(http.MethodPut, "/api/v1/notifications/preferences", f.cA.token, map[string]any{
			"time_zone": "America/New_York", "default": map[string]any{"in_app": true, "email": true},
			"quiet_hours": map[string]any{"start": start.Format("15:04"), "end": end.Format("15:04")}})
		if res.Status != http.StatusOK {
			t.Fatalf("preferences: %d %s", res.Status, res.Body)
		}
		id := notify(t, "Quiet", f.cA, true)
		eventually(t, "the scheduled check", func() (bool, string) {
			return len(f.runAts(t, "notifications:fallback", id)) == 1, ""
		})
		check(t, id, f.cA, "deferred")
		if got := sentTo("customer@a.test"); len(got) != 0 {
			t.Fatalf("sent in quiet hours: %+v", got)
		}
		// The deferred check is due when the quiet hours end, in New York.
		wantEnd := time.Date(end.Year(), end.Month(), end.Day(), end.Hour(), end.Minute(), 0, 0, loc)
		eventually(t, "a check due at "+wantEnd.String(), func() (bool, string) {
			ats := f.runAts(t, "notifications:fallback", id)
			return len(ats) == 2 && ats[1].Equal(wantEnd), fmt.Sprint(ats)
		})
		f.clock.advance(3 * time.Hour)
		check(t, id, f.cA, "sent")
		if got := sentTo("customer@a.test"); len(got) != 1 {
			t.Fatalf("after quiet hours: %+v", got)
		}
	})

	t.Run("a category without in-app goes by e-mail at once", func(t *testing.T) {
		res := f.c.Do(http.MethodPut, "/api/v1/notifications/preferences", f.agent2A.token, map[string]any{
			"default":    map[string]any{"in_app": true, "email": true},
			"categories": map[string]any{"mail.only": map[string]any{"in_app": false, "email": true}}})
		if res.Status != http.StatusOK {
			t.Fatalf("preferences: %d %s", res.Status, res.Body)
		}
		before := len(sentTo("agent2@a.test"))
		if _, err := f.m.Notify(ctx, contracts.Notification{Recipient: contracts.Recipient{UserIDs: []string{f.agent2A.id}},
			Title: "Mail only", Category: "mail.only", Fallback: true}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the e-mail", func() (bool, string) {
			return len(sentTo("agent2@a.test")) == before+1, ""
		})
		for _, it := range f.inbox(t, f.agent2A, "?snoozed=true").Items {
			if it.Title == "Mail only" {
				t.Fatal("a category without in-app reached the inbox")
			}
		}
	})
}
