package notifications_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contracts"
	"github.com/platform/platform/internal/modules/notifications"
)

// apiStep is one request of an API table and what it must answer.
type apiStep struct {
	name    string
	method  string
	path    string // {id} is replaced by the step's id()
	token   string
	body    any
	headers []string
	want    int
	code    string
	check   func(r *kerneltest.Response)
}

func run(t *testing.T, c *kerneltest.Client, steps []apiStep, id func() string) {
	t.Helper()
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			path := s.path
			if strings.Contains(path, "{id}") {
				path = strings.ReplaceAll(path, "{id}", id())
			}
			res := c.Do(s.method, "/api/v1/notifications"+path, s.token, s.body, s.headers...)
			if res.Status != s.want {
				t.Fatalf("%s %s: %d %s, want %d", s.method, path, res.Status, res.Body, s.want)
			}
			if s.code != "" && res.ErrorCode() != s.code {
				t.Fatalf("code %q, want %q: %s", res.ErrorCode(), s.code, res.Body)
			}
			if s.check != nil {
				s.check(res)
			}
		})
	}
}

// The inbox API: paging, unread count, read, read-all, archive and snooze,
// and nobody else's notifications.
func TestInboxAPI(t *testing.T) {
	f := newFixture(t)
	for i := 1; i <= 5; i++ {
		if _, err := f.m.Notify(asTenant(f.ta), contracts.Notification{Recipient: contracts.Recipient{UserIDs: []string{f.agentA.id}},
			Title: fmt.Sprintf("N%d", i), Category: map[bool]string{true: "even", false: "odd"}[i%2 == 0]}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.m.Notify(asTenant(f.tb), contracts.Notification{Recipient: contracts.Recipient{Tenant: true}, Title: "B's"}); err != nil {
		t.Fatal(err)
	}
	all := f.inbox(t, f.agentA, "")
	if titles(all.Items) != "[N5][N4][N3][N2][N1]" || all.Next != nil {
		t.Fatalf("inbox: %s next %v", titles(all.Items), all.Next)
	}
	idOf := func(title string) string {
		for _, it := range all.Items {
			if it.Title == title {
				return it.ID
			}
		}
		t.Fatalf("no %s", title)
		return ""
	}
	bOnes := f.inbox(t, f.ownerB, "").Items
	if len(bOnes) != 1 {
		t.Fatalf("B's inbox: %s", titles(bOnes))
	}
	var current string
	cur := func() string { return current }
	is := func(title string, read, archived, snoozed bool) func(r *kerneltest.Response) {
		return func(r *kerneltest.Response) {
			var it notifications.Item
			r.Decode(t, &it)
			if it.Title != title || it.Read != read || (it.ReadAt != nil) != read || (it.ArchivedAt != nil) != archived ||
				(it.SnoozedUntil != nil) != snoozed {
				t.Errorf("item: %s", r.Body)
			}
		}
	}
	unread := func(want int) func(r *kerneltest.Response) {
		return func(*kerneltest.Response) {
			if got := f.unread(t, f.agentA); got != want {
				t.Errorf("unread count %d, want %d", got, want)
			}
		}
	}

	t.Run("pages follow the cursor", func(t *testing.T) {
		p1 := f.inbox(t, f.agentA, "?limit=2")
		if titles(p1.Items) != "[N5][N4]" || p1.Next == nil {
			t.Fatalf("page 1: %s %v", titles(p1.Items), p1.Next)
		}
		p2 := f.inbox(t, f.agentA, "?limit=2&cursor="+*p1.Next)
		p3 := f.inbox(t, f.agentA, "?limit=2&cursor="+*p2.Next)
		if titles(p2.Items) != "[N3][N2]" || titles(p3.Items) != "[N1]" || p3.Next != nil {
			t.Fatalf("pages 2 and 3: %s %s %v", titles(p2.Items), titles(p3.Items), p3.Next)
		}
		if got := f.inbox(t, f.agentA, "?category=even").Items; titles(got) != "[N4][N2]" {
			t.Fatalf("category filter: %s", titles(got))
		}
	})

	current = idOf("N3")
	steps := []apiStep{
		{name: "the inbox needs a token", method: "GET", path: "", want: 401},
		{name: "unread count", method: "GET", path: "/unread-count", token: f.agentA.token, want: 200, check: unread(5)},
		{name: "bad limit and cursor", method: "GET", path: "?limit=1000&cursor=nope&status=new", token: f.agentA.token,
			want: 422, code: "invalid_query"},
		{name: "mark read", method: "POST", path: "/{id}/read", token: f.agentA.token, want: 200, check: is("N3", true, false, false)},
		{name: "mark read again changes nothing", method: "POST", path: "/{id}/read", token: f.agentA.token, want: 200,
			check: unread(4)},
		{name: "another user's notification is not found", method: "POST", path: "/{id}/read", token: f.agent2A.token,
			want: 404, code: "notifications.not_found"},
		{name: "another tenant's user cannot archive it", method: "POST", path: "/{id}/archive", token: f.ownerB.token,
			want: 404, code: "notifications.not_found"},
		{name: "the platform admin has no inbox here", method: "POST", path: "/{id}/archive", token: f.admin,
			headers: []string{"X-Tenant-ID", f.ta}, want: 404},
		{name: "not an id", method: "POST", path: "/xyz/read", token: f.agentA.token, want: 404},
		{name: "unread only", method: "GET", path: "?status=unread", token: f.agentA.token, want: 200,
			check: func(r *kerneltest.Response) {
				var p inbox
				r.Decode(t, &p)
				if titles(p.Items) != "[N5][N4][N2][N1]" {
					t.Errorf("unread: %s", titles(p.Items))
				}
			}},
		{name: "archive", method: "POST", path: "/{id}/archive", token: f.agentA.token, want: 200,
			check: is("N3", true, true, false)},
		{name: "archived ones leave the inbox", method: "GET", path: "", token: f.agentA.token, want: 200,
			check: func(r *kerneltest.Response) {
				var p inbox
				r.Decode(t, &p)
				if titles(p.Items) != "[N5][N4][N2][N1]" {
					t.Errorf("inbox: %s", titles(p.Items))
				}
				if a := f.inbox(t, f.agentA, "?archived=true").Items; titles(a) != "[N3]" {
					t.Errorf("archive: %s", titles(a))
				}
			}},
		{name: "snooze needs a body", method: "POST", path: "/{id}/snooze", token: f.agentA.token, body: "{", want: 400,
			code: "invalid_json"},
		{name: "snooze takes no other field", method: "POST", path: "/{id}/snooze", token: f.agentA.token,
			body: map[string]any{"until": time.Now().Add(time.Hour), "user_id": f.agent2A.id}, want: 400, code: "unknown_field"},
		{name: "snooze into the past", method: "POST", path: "/{id}/snooze", token: f.agentA.token,
			body: map[string]any{"until": time.Now().Add(-time.Hour)}, want: 422, code: "notifications.invalid_snooze"},
	}
	run(t, f.c, steps, cur)

	current = idOf("N5")
	until := f.clock.now().Add(2 * time.Hour).UTC()
	run(t, f.c, []apiStep{
		{name: "snooze", method: "POST", path: "/{id}/snooze", token: f.agentA.token, body: map[string]any{"until": until},
			want: 200, check: is("N5", false, false, true)},
		{name: "a snoozed one leaves the inbox and the count", method: "GET", path: "", token: f.agentA.token, want: 200,
			check: func(r *kerneltest.Response) {
				var p inbox
				r.Decode(t, &p)
				if titles(p.Items) != "[N4][N2][N1]" {
					t.Errorf("inbox: %s", titles(p.Items))
				}
				if got := f.unread(t, f.agentA); got != 3 {
					t.Errorf("unread %d", got)
				}
				if s := f.inbox(t, f.agentA, "?snoozed=true").Items; titles(s) != "[N5][N4][N2][N1]" {
					t.Errorf("with snoozed: %s", titles(s))
				}
			}},
	}, cur)

	t.Run("a snoozed one comes back when its time is up", func(t *testing.T) {
		f.clock.advance(3 * time.Hour)
		if got := f.inbox(t, f.agentA, "").Items; titles(got) != "[N5][N4][N2][N1]" {
			t.Fatalf("inbox: %s", titles(got))
		}
		if got := f.unread(t, f.agentA); got != 4 {
			t.Fatalf("unread %d", got)
		}
	})

	run(t, f.c, []apiStep{
		{name: "read all", method: "POST", path: "/read-all", token: f.agentA.token, want: 200,
			check: func(r *kerneltest.Response) {
				if r.JSON()["updated"] != 4.0 {
					t.Errorf("read-all: %s", r.Body)
				}
				if got := f.unread(t, f.agentA); got != 0 {
					t.Errorf("unread %d", got)
				}
				if got := f.unread(t, f.ownerB); got != 1 {
					t.Errorf("B's unread %d", got)
				}
			}},
		{name: "the new count went to the user's tabs", method: "GET", path: "/unread-count", token: f.agentA.token, want: 200,
			check: func(*kerneltest.Response) {
				evs := f.gw.pushed(f.agentA.id, notifications.EventUnreadCount)
				if len(evs) == 0 || string(evs[len(evs)-1].Data) != `{"count":0}` {
					t.Errorf("last count pushed: %+v", evs)
				}
			}},
	}, cur)
}

// Preferences: defaults, checks that store nothing, and a category
// without in-app that gets no inbox row.
func TestPreferencesAPI(t *testing.T) {
	f := newFixture(t)
	good := map[string]any{"time_zone": "Europe/Vienna", "phone": "+436641234567",
		"quiet_hours": map[string]any{"start": "22:00", "end": "07:00"},
		"default":     map[string]any{"in_app": true, "email": true, "sms": false},
		"categories":  map[string]any{"muted": map[string]any{"in_app": false, "email": false, "sms": false}}}
	nothingStored := func(r *kerneltest.Response) {
		if n := f.count(t, "notifications_preferences"); n != 0 {
			t.Errorf("bad input stored %d preferences", n)
		}
	}
	run(t, f.c, []apiStep{
		{name: "defaults", method: "GET", path: "/preferences", token: f.agentA.token, want: 200,
			check: func(r *kerneltest.Response) {
				var p notifications.Preferences
				r.Decode(t, &p)
				if p.TimeZone != "UTC" || p.Default == nil || !p.Default.InApp || !p.Default.Email || p.Default.SMS ||
					p.QuietHours != nil || p.UpdatedAt != nil {
					t.Errorf("defaults: %s", r.Body)
				}
			}},
		{name: "an API key has no preferences", method: "GET", path: "/preferences", token: "", want: 401},
		{name: "not JSON", method: "PUT", path: "/preferences", token: f.agentA.token, body: "[", want: 400},
		{name: "unknown field", method: "PUT", path: "/preferences", token: f.agentA.token,
			body: map[string]any{"default": map[string]any{"in_app": true}, "user_id": f.agent2A.id}, want: 400,
			code: "unknown_field", check: nothingStored},
		{name: "default is required", method: "PUT", path: "/preferences", token: f.agentA.token,
			body: map[string]any{"time_zone": "UTC"}, want: 422, check: nothingStored},
		{name: "bad zone, quiet hours, phone and category", method: "PUT", path: "/preferences", token: f.agentA.token,
			body: map[string]any{"time_zone": "Mars/Base", "phone": "0664", "quiet_hours": map[string]any{"start": "25:00", "end": "07:00"},
				"default": map[string]any{"in_app": true}, "categories": map[string]any{"Bad Name": map[string]any{"in_app": true}}},
			want: 422, code: "notifications.invalid_preferences",
			check: func(r *kerneltest.Response) {
				fields := map[string]bool{}
				for _, d := range r.JSON()["error"].(map[string]any)["details"].([]any) {
					fields[d.(map[string]any)["field"].(string)] = true
				}
				for _, want := range []string{"time_zone", "phone", "quiet_hours.start", "categories.Bad Name"} {
					if !fields[want] {
						t.Errorf("no detail for %s: %s", want, r.Body)
					}
				}
				nothingStored(r)
			}},
		{name: "SMS needs a phone", method: "PUT", path: "/preferences", token: f.agentA.token,
			body: map[string]any{"default": map[string]any{"in_app": true, "sms": true}}, want: 422,
			code: "notifications.invalid_preferences", check: nothingStored},
		{name: "put", method: "PUT", path: "/preferences", token: f.agentA.token, body: good, want: 200,
			check: func(r *kerneltest.Response) {
				var p notifications.Preferences
				r.Decode(t, &p)
				if p.TimeZone != "Europe/Vienna" || p.QuietHours == nil || p.QuietHours.Start != "22:00" || p.UpdatedAt == nil ||
					p.Categories["muted"].InApp {
					t.Errorf("put: %s", r.Body)
				}
			}},
		{name: "get", method: "GET", path: "/preferences", token: f.agentA.token, want: 200,
			check: func(r *kerneltest.Response) {
				var p notifications.Preferences
				r.Decode(t, &p)
				if p.Phone == nil || *p.Phone != "+436641234567" || p.QuietHours.End != "07:00" {
					t.Errorf("get: %s", r.Body)
				}
			}},
		{name: "another user still has the defaults", method: "GET", path: "/preferences", token: f.agent2A.token, want: 200,
			check: func(r *kerneltest.Response) {
				if r.JSON()["time_zone"] != "UTC" {
					t.Errorf("agent 2: %s", r.Body)
				}
			}},
	}, nil)

	t.Run("a category without in-app reaches no inbox", func(t *testing.T) {
		if _, err := f.m.Notify(asTenant(f.ta), contracts.Notification{Recipient: contracts.Recipient{Role: "agent"},
			Title: "Muted", Category: "muted"}); err != nil {
			t.Fatal(err)
		}
		if got := f.inbox(t, f.agentA, "").Items; len(got) != 0 {
			t.Fatalf("muted category in the inbox: %s", titles(got))
		}
		if got := f.inbox(t, f.agent2A, "").Items; titles(got) != "[Muted]" {
			t.Fatalf("agent 2: %s", titles(got))
		}
	})
}

// POST /api/v1/notifications: for tenant owners, platform admins and
// services with a credential for the module; never for agents.
func TestSendAPI(t *testing.T) {
	f := newFixture(t)
	body := func(recipient map[string]any) map[string]any {
		return map[string]any{"recipient": recipient, "title": "Heads up", "body": "Maintenance at noon",
			"category": "ops", "link": "/admin"}
	}
	sys := security.WithPrincipal(context.Background(), security.System(f.ta))
	svc, err := f.k.Security.IssueServiceCredential(sys, "helpdesk", notifications.Name, []string{string(notifications.PermSend)})
	if err != nil {
		t.Fatal(err)
	}
	wrongAudience, err := f.k.Security.IssueServiceCredential(sys, "helpdesk", "contact", []string{string(notifications.PermSend)})
	if err != nil {
		t.Fatal(err)
	}
	noScope, err := f.k.Security.IssueServiceCredential(sys, "helpdesk", notifications.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	nothingWritten := func(*kerneltest.Response) {
		if n := f.count(t, "notifications_messages") + f.count(t, "notifications_inbox"); n != 0 {
			t.Errorf("bad input wrote %d rows", n)
		}
	}
	created := func(recipients int) func(r *kerneltest.Response) {
		return func(r *kerneltest.Response) {
			if r.JSON()["recipients"] != float64(recipients) || r.JSON()["id"] == "" {
				t.Errorf("created: %s", r.Body)
			}
		}
	}
	toAgent := body(map[string]any{"user_ids": []string{f.agentA.id}})
	run(t, f.c, []apiStep{
		{name: "needs a token", method: "POST", path: "", body: toAgent, want: 401},
		{name: "an agent may not send", method: "POST", path: "", token: f.agentA.token, body: toAgent, want: 403, check: nothingWritten},
		{name: "a customer may not send", method: "POST", path: "", token: f.cA.token, body: toAgent, want: 403},
		{name: "a credential for another module", method: "POST", path: "", token: wrongAudience, body: toAgent, want: 403,
			check: nothingWritten},
		{name: "a credential without the scope", method: "POST", path: "", token: noScope, body: toAgent, want: 403},
		{name: "not JSON", method: "POST", path: "", token: f.ownerA.token, body: "{", want: 400, code: "invalid_json",
			check: nothingWritten},
		{name: "unknown field", method: "POST", path: "", token: f.ownerA.token,
			body: map[string]any{"recipient": map[string]any{"tenant": true}, "title": "x", "tenant_id": f.tb}, want: 400,
			code: "unknown_field", check: nothingWritten},
		{name: "wrong type", method: "POST", path: "", token: f.ownerA.token,
			body: map[string]any{"recipient": map[string]any{"tenant": "yes"}, "title": "x"}, want: 400, check: nothingWritten},
		{name: "no recipient, no title", method: "POST", path: "", token: f.ownerA.token, body: map[string]any{"body": "x"},
			want: 422, code: "notifications.invalid_notification", check: nothingWritten},
		{name: "an unknown user", method: "POST", path: "", token: f.ownerA.token,
			body: body(map[string]any{"user_ids": []string{f.agentA.id, f.ownerB.id}}), want: 422,
			code: "notifications.invalid_notification", check: nothingWritten},
		{name: "an owner sends to users", method: "POST", path: "", token: f.ownerA.token, body: toAgent, want: 201,
			check: created(1)},
		{name: "a platform admin sends to a role", method: "POST", path: "", token: f.admin,
			headers: []string{"X-Tenant-ID", f.ta}, body: body(map[string]any{"role": "agent"}), want: 201, check: created(2)},
		{name: "a service sends to the tenant", method: "POST", path: "", token: svc,
			body: map[string]any{"recipient": map[string]any{"tenant": true}, "title": "All hands", "idempotency_key": "svc-1"},
			want: 201, check: created(4)},
		{name: "a replayed key answers 200 with the same notification", method: "POST", path: "", token: f.ownerA.token,
			body: map[string]any{"recipient": map[string]any{"tenant": true}, "title": "All hands", "idempotency_key": "svc-1"},
			want: 200, check: created(4)},
		{name: "the same key with other content", method: "POST", path: "", token: f.ownerA.token,
			body: map[string]any{"recipient": map[string]any{"tenant": true}, "title": "Other", "idempotency_key": "svc-1"},
			want: 422, code: "notifications.idempotency_mismatch"},
		{name: "the service has no inbox", method: "GET", path: "", token: svc, want: 403, code: "notifications.user_only"},
	}, nil)
	if got := f.inbox(t, f.agentA, "").Items; titles(got) != "[All hands][Heads up][Heads up]" {
		t.Fatalf("agent's inbox: %s", titles(got))
	}
	if got := f.inbox(t, f.ownerB, "").Items; len(got) != 0 {
		t.Fatalf("tenant B got %s", titles(got))
	}
}
