package helpdesk_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/platform/platform/internal/modules/helpdesk"
)

// fakeClock is the module's clock in these tests; set moves it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var vienna, _ = time.LoadLocation("Europe/Vienna")

// wien is a wall-clock time in Vienna in December 2026 (UTC+1).
func wien(day, hour, minute int) time.Time {
	return time.Date(2026, 12, day, hour, minute, 0, 0, vienna)
}

type slaJSON struct {
	PolicyID           string     `json:"policy_id"`
	FirstResponseDueAt *time.Time `json:"first_response_due_at"`
	ResolutionDueAt    *time.Time `json:"resolution_due_at"`
	FirstRespondedAt   *time.Time `json:"first_responded_at"`
	Paused             bool       `json:"paused"`
	Breached           []string   `json:"breached"`
}

type slaTicket struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	Version   int       `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	SLA       *slaJSON  `json:"sla"`
}

func (f *fixture) slaTicket(t *testing.T, id string) slaTicket {
	t.Helper()
	var tk slaTicket
	f.do(t, "GET", "/tickets/"+id, f.agentA, nil, 200, "").Decode(t, &tk)
	return tk
}

// breaches are the helpdesk.sla_breached events published so far.
func (f *fixture) breaches(t *testing.T) []helpdesk.SLABreach {
	t.Helper()
	var out []helpdesk.SLABreach
	for _, m := range f.bus.Sent() {
		if m.Topic == helpdesk.TopicSLABreached {
			var b helpdesk.SLABreach
			if err := m.Decode(&b); err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return out
}

func (f *fixture) sweep(t *testing.T) {
	t.Helper()
	if err := f.hd.SweepSLA(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func wantTime(t *testing.T, what string, got *time.Time, want time.Time) {
	t.Helper()
	if got == nil || !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want.UTC())
	}
}

// TestSLAClock follows one ticket's SLA clocks on a Vienna calendar over
// Christmas 2026 (24 and 25 December are holidays, a Thursday and a
// Friday) with a fake clock.
func TestSLAClock(t *testing.T) {
	clock := &fakeClock{t: wien(23, 16, 0)} // Wednesday, one working hour left
	f := newFixture(t, helpdesk.WithClock(clock.now))

	var cal helpdesk.Calendar
	f.do(t, "POST", "/calendars", f.ownerA, map[string]any{"name": "Vienna office", "zone": "Europe/Vienna",
		"week": map[string][]string{"mon": {"09:00-17:00"}, "tue": {"09:00-17:00"}, "wed": {"09:00-17:00"},
			"thu": {"09:00-17:00"}, "fri": {"09:00-17:00"}},
		"holidays": []string{"2026-12-24", "12-25"}}, 201, "").Decode(t, &cal)
	if !cal.Default {
		t.Errorf("the first calendar is not the default: %+v", cal)
	}
	var pol helpdesk.SLAPolicy
	f.do(t, "POST", "/sla-policies", f.ownerA, map[string]any{"name": "Standard", "pause_when_pending": true,
		"targets": map[string]any{"normal": map[string]any{"first_response": 120, "resolution": 960},
			"urgent": map[string]any{"first_response": 30, "resolution": 240}}}, 201, "").Decode(t, &pol)
	if !pol.Default || pol.CalendarID != nil {
		t.Errorf("the first policy: %+v", pol)
	}

	// A customer's ticket: two business hours to answer are Wednesday's
	// last hour and Monday's first; sixteen to solve end Tuesday 16:00.
	var tk slaTicket
	f.do(t, "POST", "/tickets", f.custA, map[string]any{"subject": "Over the holidays", "message": "Help"}, 201, "").
		Decode(t, &tk)
	if tk.SLA == nil || tk.SLA.PolicyID != pol.ID || tk.Status != "new" {
		t.Fatalf("created: %+v", tk)
	}
	wantTime(t, "first response due", tk.SLA.FirstResponseDueAt, wien(28, 10, 0))
	wantTime(t, "resolution due", tk.SLA.ResolutionDueAt, wien(29, 16, 0))
	if tk.SLA.FirstRespondedAt != nil || tk.SLA.Paused || len(tk.SLA.Breached) != 0 {
		t.Errorf("a new ticket's SLA: %+v", tk.SLA)
	}

	// Urgent: due times are counted again from created_at.
	clock.set(wien(23, 16, 10))
	f.do(t, "PATCH", "/tickets/"+tk.ID, f.agentA, map[string]any{"version": tk.Version, "priority": "urgent"}, 200, "").
		Decode(t, &tk)
	wantTime(t, "urgent first response due", tk.SLA.FirstResponseDueAt, wien(23, 16, 30))
	wantTime(t, "urgent resolution due", tk.SLA.ResolutionDueAt, wien(28, 12, 0))

	clock.set(wien(23, 16, 30)) // due, not yet past
	f.sweep(t)
	if b := f.breaches(t); len(b) != 0 {
		t.Fatalf("breach at the due instant: %+v", b)
	}
	clock.set(wien(23, 16, 31))
	hist := f.count(t, "helpdesk_ticket_history")
	f.sweep(t)
	f.sweep(t) // marks once
	b := f.breaches(t)
	if len(b) != 1 || b[0].TicketID != tk.ID || b[0].Kind != "first_response" || !b[0].DueAt.Equal(wien(23, 16, 30)) {
		t.Fatalf("breaches: %+v", b)
	}
	if n := f.count(t, "helpdesk_ticket_history"); n != hist+1 {
		t.Errorf("history rows %d -> %d, want one for the breach", hist, n)
	}
	if got := f.slaTicket(t, tk.ID); !slices.Equal(got.SLA.Breached, []string{"first_response"}) || got.Version != tk.Version ||
		!got.UpdatedAt.Equal(wien(23, 16, 10)) {
		t.Errorf("after the sweep: %+v (version %d, was %d; updated_at %v)", got.SLA, got.Version, tk.Version, got.UpdatedAt)
	}

	// An internal note is no response; a public reply is.
	clock.set(wien(23, 16, 35))
	f.do(t, "POST", "/tickets/"+tk.ID+"/messages", f.agentA, map[string]any{"body": "note", "internal": true}, 201, "")
	if got := f.slaTicket(t, tk.ID); got.SLA.FirstRespondedAt != nil {
		t.Errorf("a note counted as the first response")
	}
	clock.set(wien(23, 16, 40))
	f.do(t, "POST", "/tickets/"+tk.ID+"/messages", f.agentA, map[string]any{"body": "On it"}, 201, "")
	clock.set(wien(23, 16, 45))
	f.do(t, "POST", "/tickets/"+tk.ID+"/messages", f.agentA, map[string]any{"body": "Still on it"}, 201, "")
	tk = f.slaTicket(t, tk.ID)
	wantTime(t, "first responded", tk.SLA.FirstRespondedAt, wien(23, 16, 40))

	// Pending pauses the resolution clock: Wednesday 16:50 to Monday 10:00
	// is 70 business minutes, which move the due time from 12:00 to 13:10.
	clock.set(wien(23, 16, 50))
	f.do(t, "PATCH", "/tickets/"+tk.ID, f.agentA, map[string]any{"version": tk.Version, "status": "pending"}, 200, "").
		Decode(t, &tk)
	if !tk.SLA.Paused {
		t.Errorf("pending did not pause: %+v", tk.SLA)
	}
	clock.set(wien(28, 13, 0)) // past the unpaused due time
	f.sweep(t)
	if n := len(f.breaches(t)); n != 1 {
		t.Fatalf("a paused clock breached: %d events", n)
	}
	clock.set(wien(28, 10, 0))
	f.do(t, "PATCH", "/tickets/"+tk.ID, f.agentA, map[string]any{"version": tk.Version, "status": "open"}, 200, "").
		Decode(t, &tk)
	wantTime(t, "resolution due after the pause", tk.SLA.ResolutionDueAt, wien(28, 13, 10))
	if tk.SLA.Paused {
		t.Errorf("open is still paused")
	}

	// Solved stops the clock, reopening resumes it: 30 more minutes.
	clock.set(wien(28, 11, 0))
	f.do(t, "PATCH", "/tickets/"+tk.ID, f.agentA, map[string]any{"version": tk.Version, "status": "solved"}, 200, "").
		Decode(t, &tk)
	clock.set(wien(28, 11, 30))
	f.do(t, "PATCH", "/tickets/"+tk.ID, f.agentA, map[string]any{"version": tk.Version, "status": "open"}, 200, "").
		Decode(t, &tk)
	wantTime(t, "resolution due after reopening", tk.SLA.ResolutionDueAt, wien(28, 13, 40))

	clock.set(wien(28, 13, 41))
	f.sweep(t)
	b = f.breaches(t)
	if len(b) != 2 || b[1].Kind != "resolution" || !b[1].DueAt.Equal(wien(28, 13, 40)) {
		t.Fatalf("breaches: %+v", b)
	}
	tk = f.slaTicket(t, tk.ID)
	if !slices.Equal(tk.SLA.Breached, []string{"first_response", "resolution"}) {
		t.Errorf("breached = %v", tk.SLA.Breached)
	}

	t.Run("a late solve is marked by the change itself", func(t *testing.T) {
		clock.set(wien(28, 9, 0))
		tk := f.open(t, f.custA, "late", "")
		f.patch(t, &tk, map[string]any{"priority": "urgent"}, 200, "") // due 13:00
		clock.set(wien(28, 13, 5))
		f.do(t, "POST", "/tickets/"+tk.ID+"/messages", f.agentA, map[string]any{"body": "Sorry"}, 201, "")
		f.patch(t, &tk, map[string]any{"status": "solved"}, 200, "")
		var kinds []string
		for _, b := range f.breaches(t) {
			if b.TicketID == tk.ID {
				kinds = append(kinds, b.Kind)
			}
		}
		if !slices.Equal(kinds, []string{"first_response", "resolution"}) {
			t.Errorf("events of a late ticket: %v", kinds)
		}
		clock.set(wien(30, 9, 0))
		before := len(f.breaches(t))
		f.sweep(t)
		if n := len(f.breaches(t)); n != before {
			t.Errorf("the sweep marked a solved ticket again")
		}
	})

	t.Run("lowering the priority clears a breach that no longer holds", func(t *testing.T) {
		clock.set(wien(29, 9, 0))
		tk := f.open(t, f.custA, "lowered", "")
		f.patch(t, &tk, map[string]any{"priority": "urgent"}, 200, "")
		clock.set(wien(29, 9, 45))
		f.sweep(t)
		if got := f.slaTicket(t, tk.ID); !slices.Equal(got.SLA.Breached, []string{"first_response"}) {
			t.Fatalf("not breached: %+v", got.SLA)
		}
		f.patch(t, &tk, map[string]any{"priority": "normal"}, 200, "")
		got := f.slaTicket(t, tk.ID)
		if len(got.SLA.Breached) != 0 {
			t.Errorf("still breached after lowering: %+v", got.SLA)
		}
		wantTime(t, "normal first response due", got.SLA.FirstResponseDueAt, wien(29, 11, 0))
	})

	t.Run("a staff user's ticket starts answered", func(t *testing.T) {
		clock.set(wien(29, 10, 0))
		var tk slaTicket
		f.do(t, "POST", "/tickets", f.agentA, map[string]any{"subject": "Phone call", "message": "Called about X",
			"requester": map[string]string{"email": "caller@x.test"}}, 201, "").Decode(t, &tk)
		wantTime(t, "first responded", tk.SLA.FirstRespondedAt, wien(29, 10, 0))
	})

	t.Run("a policy without pause counts pending; conditions pick the policy", func(t *testing.T) {
		var mail helpdesk.SLAPolicy
		f.do(t, "POST", "/sla-policies", f.ownerA, map[string]any{"name": "E-mail VIP", "channels": []string{"email"},
			"tags": []string{"vip"}, "calendar_id": cal.ID,
			"targets": map[string]any{"normal": map[string]any{"resolution": 60}}}, 201, "").Decode(t, &mail)
		if mail.Default {
			t.Errorf("a second policy became the default")
		}
		clock.set(wien(29, 10, 0))
		var tk slaTicket
		f.do(t, "POST", "/tickets", f.agentA, map[string]any{"subject": "Mail", "message": "From mail",
			"channel": "email", "requester": map[string]string{"email": "mailer@x.test"}}, 201, "").Decode(t, &tk)
		if tk.SLA.PolicyID != pol.ID {
			t.Errorf("an untagged e-mail ticket got policy %s", tk.SLA.PolicyID)
		}
		f.do(t, "PATCH", "/tickets/"+tk.ID, f.agentA, map[string]any{"version": tk.Version, "tags": []string{"VIP"}}, 200, "").
			Decode(t, &tk)
		if tk.SLA.PolicyID != mail.ID || tk.SLA.FirstResponseDueAt != nil {
			t.Fatalf("a VIP e-mail ticket: %+v", tk.SLA)
		}
		wantTime(t, "VIP resolution due", tk.SLA.ResolutionDueAt, wien(29, 11, 0))
		clock.set(wien(29, 10, 30))
		f.do(t, "PATCH", "/tickets/"+tk.ID, f.agentA, map[string]any{"version": tk.Version, "status": "pending"}, 200, "").
			Decode(t, &tk)
		if tk.SLA.Paused {
			t.Errorf("pending paused a policy without pause_when_pending")
		}
	})

	t.Run("without a calendar the clock runs around the clock", func(t *testing.T) {
		clock.set(time.Date(2026, 12, 26, 22, 0, 0, 0, time.UTC)) // a Saturday night
		var pb helpdesk.SLAPolicy
		f.do(t, "POST", "/sla-policies", f.ownerB, map[string]any{"name": "B",
			"targets": map[string]any{"normal": map[string]any{"first_response": 180}}}, 201, "").Decode(t, &pb)
		var tk slaTicket
		f.do(t, "POST", "/tickets", f.ownerB, map[string]any{"subject": "B", "message": "m",
			"requester": map[string]string{"email": "r@b.test"}}, 201, "").Decode(t, &tk)
		wantTime(t, "first response due", tk.SLA.FirstResponseDueAt, time.Date(2026, 12, 27, 1, 0, 0, 0, time.UTC))
	})
}

// Several processes sweep at once: each breach is marked and published
// exactly once.
func TestSLASweepConcurrent(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
	f := newFixture(t, helpdesk.WithClock(clock.now))
	f.do(t, "POST", "/sla-policies", f.ownerA, map[string]any{"name": "Fast",
		"targets": map[string]any{"normal": map[string]any{"first_response": 5, "resolution": 10}}}, 201, "")
	var ids []string
	for range 5 {
		ids = append(ids, f.open(t, f.custA, "race", "").ID)
	}
	clock.set(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = f.hd.SweepSLA(context.Background()) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	for _, b := range f.breaches(t) {
		seen[b.TicketID+" "+b.Kind]++
	}
	for _, id := range ids {
		for _, k := range []string{"first_response", "resolution"} {
			if seen[id+" "+k] != 1 {
				t.Errorf("%s %s published %d times", id, k, seen[id+" "+k])
			}
		}
	}
	for i, inTx := range f.bus.inTx {
		if !inTx {
			t.Errorf("publish %d ran outside a transaction", i)
		}
	}
}

// settings is a snapshot of the SLA settings tables: rows and content.
func (f *fixture) settings(t *testing.T) string {
	t.Helper()
	var out []string
	for _, tb := range []string{"helpdesk_calendars", "helpdesk_sla_policies"} {
		var rows []map[string]any
		if err := f.k.DB.Conn(context.Background()).Table(tb).Order("id").Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(rows))
	}
	return strings.Join(out, "\n")
}

// TestSLASettingsAPI covers the calendar and policy routes: CRUD, the
// default, who may do what, other tenants and bad input.
func TestSLASettingsAPI(t *testing.T) {
	f := newFixture(t)
	week := map[string][]string{"mon": {"08:00-12:00", "13:00-17:00"}, "fri": {"08:00-12:00"}}

	var c1, c2 helpdesk.Calendar
	f.do(t, "POST", "/calendars", f.ownerA, map[string]any{"name": "Office", "zone": "Europe/Vienna", "week": week}, 201, "").
		Decode(t, &c1)
	f.do(t, "POST", "/calendars", f.ownerA, map[string]any{"name": "Night", "zone": "America/New_York",
		"week": map[string][]string{"sat": {"22:00-24:00"}, "sun": {"00:00-06:00"}}, "holidays": []string{"12-25", "2026-07-04", "12-25"}},
		201, "").Decode(t, &c2)
	if !c1.Default || c2.Default || len(c1.Week) != 7 || len(c1.Week["tue"]) != 0 || len(c1.Week["mon"]) != 2 {
		t.Errorf("calendars: %+v %+v", c1, c2)
	}
	if !slices.Equal(c2.Holidays, []string{"12-25", "2026-07-04"}) {
		t.Errorf("holidays = %v", c2.Holidays)
	}
	// Making the second the default unmakes the first.
	f.do(t, "PATCH", "/calendars/"+c2.ID, f.ownerA, map[string]any{"default": true}, 200, "").Decode(t, &c2)
	f.do(t, "GET", "/calendars/"+c1.ID, f.agentA, nil, 200, "").Decode(t, &c1)
	if !c2.Default || c1.Default || c2.Name != "Night" {
		t.Errorf("after switching the default: %+v %+v", c1, c2)
	}
	var cl struct{ Items []helpdesk.Calendar }
	f.do(t, "GET", "/calendars", f.agentA, nil, 200, "").Decode(t, &cl)
	if len(cl.Items) != 2 || cl.Items[0].Name != "Night" || cl.Items[1].Name != "Office" {
		t.Errorf("calendar list: %+v", cl.Items)
	}

	var p1, p2 helpdesk.SLAPolicy
	f.do(t, "POST", "/sla-policies", f.ownerA, map[string]any{"name": "Base", "calendar_id": c1.ID,
		"targets": map[string]any{"high": map[string]any{"first_response": 60, "resolution": nil}}}, 201, "").Decode(t, &p1)
	if !p1.Default || p1.CalendarID == nil || *p1.CalendarID != c1.ID || len(p1.Targets) != 4 ||
		*p1.Targets["high"].FirstResponse != 60 || p1.Targets["high"].Resolution != nil || p1.Targets["low"].FirstResponse != nil {
		t.Errorf("policy: %+v", p1)
	}
	f.do(t, "POST", "/sla-policies", f.ownerA, map[string]any{"name": "Mail", "channels": []string{"email", "email"},
		"tags": []string{" VIP "}, "position": 3, "pause_when_pending": true}, 201, "").Decode(t, &p2)
	if p2.Default || !slices.Equal(p2.Channels, []string{"email"}) || !slices.Equal(p2.Tags, []string{"vip"}) || !p2.PauseWhenPending {
		t.Errorf("policy: %+v", p2)
	}
	// calendar_id: absent leaves it, null clears it.
	f.do(t, "PATCH", "/sla-policies/"+p1.ID, f.ownerA, map[string]any{"name": "Base 2"}, 200, "").Decode(t, &p1)
	if p1.CalendarID == nil || p1.Name != "Base 2" {
		t.Errorf("a PATCH without calendar_id changed it: %+v", p1)
	}
	f.do(t, "DELETE", "/calendars/"+c1.ID, f.ownerA, nil, 409, "helpdesk.calendar_in_use")
	f.do(t, "PATCH", "/sla-policies/"+p1.ID, f.ownerA, map[string]any{"calendar_id": nil}, 200, "").Decode(t, &p1)
	if p1.CalendarID != nil {
		t.Errorf("calendar_id null did not clear: %+v", p1)
	}
	var pl struct{ Items []helpdesk.SLAPolicy }
	f.do(t, "GET", "/sla-policies", f.agentA, nil, 200, "").Decode(t, &pl)
	if len(pl.Items) != 2 || pl.Items[0].ID != p2.ID || pl.Items[1].ID != p1.ID {
		t.Errorf("policies are not in the order they are tried (default last): %+v", pl.Items)
	}

	t.Run("who may", func(t *testing.T) {
		before := f.settings(t)
		for _, r := range []struct {
			method, path, token string
			body                any
			want                int
		}{
			{"POST", "/calendars", f.agentA, map[string]any{"name": "X", "zone": "UTC", "week": week}, 403},
			{"PATCH", "/calendars/" + c1.ID, f.agentA, map[string]any{"name": "X"}, 403},
			{"DELETE", "/calendars/" + c1.ID, f.agentA, nil, 403},
			{"POST", "/sla-policies", f.agentA, map[string]any{"name": "X"}, 403},
			{"PATCH", "/sla-policies/" + p1.ID, f.agentA, map[string]any{"name": "X"}, 403},
			{"DELETE", "/sla-policies/" + p1.ID, f.agentA, nil, 403},
			{"GET", "/calendars", f.custA, nil, 403},
			{"GET", "/sla-policies/" + p1.ID, f.custA, nil, 403},
			{"GET", "/calendars", "", nil, 401},
		} {
			f.do(t, r.method, r.path, r.token, r.body, r.want, "")
		}
		if after := f.settings(t); after != before {
			t.Errorf("a refused request wrote:\n%s\n%s", before, after)
		}
	})

	t.Run("cross-tenant 404 on every route", func(t *testing.T) {
		before := f.settings(t)
		for _, r := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/calendars/" + c1.ID, nil},
			{"PATCH", "/calendars/" + c1.ID, map[string]any{"name": "stolen"}},
			{"DELETE", "/calendars/" + c2.ID, nil},
			{"GET", "/sla-policies/" + p1.ID, nil},
			{"PATCH", "/sla-policies/" + p1.ID, map[string]any{"name": "stolen"}},
			{"DELETE", "/sla-policies/" + p2.ID, nil},
		} {
			f.do(t, r.method, r.path, f.ownerB, r.body, 404, "")
		}
		// Nor can B's policy name A's calendar.
		f.do(t, "POST", "/sla-policies", f.ownerB, map[string]any{"name": "B", "calendar_id": c1.ID}, 422, "validation_failed")
		var l struct{ Items []any }
		f.do(t, "GET", "/calendars", f.ownerB, nil, 200, "").Decode(t, &l)
		var pl struct{ Items []any }
		f.do(t, "GET", "/sla-policies", f.ownerB, nil, 200, "").Decode(t, &pl)
		if len(l.Items) != 0 || len(pl.Items) != 0 {
			t.Errorf("B lists A's settings: %v %v", l.Items, pl.Items)
		}
		if after := f.settings(t); after != before {
			t.Errorf("another tenant wrote:\n%s\n%s", before, after)
		}
	})

	t.Run("bad input writes nothing", func(t *testing.T) {
		before := f.settings(t)
		cal := func(kv ...any) map[string]any {
			m := map[string]any{"name": "New", "zone": "UTC", "week": week}
			for i := 0; i < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return m
		}
		for _, r := range []struct {
			method, path string
			body         any
			want         int
			code         string
		}{
			{"POST", "/calendars", `{"name": "x"`, 400, ""},
			{"POST", "/calendars", cal("colour", "red"), 400, ""},
			{"POST", "/calendars", cal("week", []string{"mon"}), 400, ""},
			{"POST", "/calendars", cal("name", ""), 422, "validation_failed"},
			{"POST", "/calendars", map[string]any{"name": "x", "week": week}, 422, "validation_failed"},
			{"POST", "/calendars", cal("zone", "Mars/Olympus"), 422, "validation_failed"},
			{"POST", "/calendars", cal("zone", "Local"), 422, "validation_failed"},
			{"POST", "/calendars", cal("week", map[string][]string{"monday": {"09:00-17:00"}}), 422, "validation_failed"},
			{"POST", "/calendars", cal("week", map[string][]string{"mon": {"9-5"}}), 422, "validation_failed"},
			{"POST", "/calendars", cal("week", map[string][]string{"mon": {"17:00-09:00"}}), 422, "validation_failed"},
			{"POST", "/calendars", cal("week", map[string][]string{"mon": {"09:00-12:00", "11:00-17:00"}}), 422, "validation_failed"},
			{"POST", "/calendars", cal("week", map[string][]string{}), 422, "validation_failed"},
			{"POST", "/calendars", cal("holidays", []string{"2026-02-30"}), 422, "validation_failed"},
			{"POST", "/calendars", cal("holidays", []string{"christmas"}), 422, "validation_failed"},
			{"POST", "/calendars", cal("name", "Office"), 409, "helpdesk.calendar_name_taken"},
			{"PATCH", "/calendars/" + c1.ID, map[string]any{"zone": "Nowhere"}, 422, "validation_failed"},
			{"PATCH", "/calendars/" + c1.ID, map[string]any{"name": "Night", "default": true}, 409, "helpdesk.calendar_name_taken"},
			{"PATCH", "/calendars/" + c1.ID, map[string]any{"default": "yes"}, 400, ""},
			{"PATCH", "/calendars/not-a-uuid", map[string]any{"name": "x"}, 404, "helpdesk.calendar_not_found"},
			{"DELETE", "/calendars/00000000-0000-7000-8000-000000000000", nil, 404, "helpdesk.calendar_not_found"},
			{"POST", "/sla-policies", map[string]any{}, 422, "validation_failed"},
			{"POST", "/sla-policies", map[string]any{"name": "x", "targets": map[string]any{"asap": map[string]any{"resolution": 5}}}, 422, "validation_failed"},
			{"POST", "/sla-policies", map[string]any{"name": "x", "targets": map[string]any{"low": map[string]any{"resolution": 0}}}, 422, "validation_failed"},
			{"POST", "/sla-policies", map[string]any{"name": "x", "targets": map[string]any{"low": map[string]any{"resolution": 600000}}}, 422, "validation_failed"},
			{"POST", "/sla-policies", map[string]any{"name": "x", "targets": map[string]any{"low": map[string]any{"reply": 5}}}, 400, ""},
			{"POST", "/sla-policies", map[string]any{"name": "x", "targets": map[string]any{"low": map[string]any{"resolution": "5"}}}, 400, ""},
			{"POST", "/sla-policies", map[string]any{"name": "x", "channels": []string{"fax"}}, 422, "validation_failed"},
			{"POST", "/sla-policies", map[string]any{"name": "x", "position": -1}, 422, "validation_failed"},
			{"POST", "/sla-policies", map[string]any{"name": "x", "calendar_id": "00000000-0000-7000-8000-000000000000"}, 422, "validation_failed"},
			{"POST", "/sla-policies", map[string]any{"name": "x", "calendar_id": 7}, 400, ""},
			{"POST", "/sla-policies", map[string]any{"name": "Mail"}, 409, "helpdesk.sla_policy_name_taken"},
			{"PATCH", "/sla-policies/" + p1.ID, map[string]any{"name": "Mail", "default": false}, 409, "helpdesk.sla_policy_name_taken"},
			{"PATCH", "/sla-policies/" + p1.ID, map[string]any{"pause_when_pending": true, "tags": make([]string, 51)}, 422, "validation_failed"},
			{"PATCH", "/sla-policies/not-a-uuid", map[string]any{"name": "x"}, 404, "helpdesk.sla_policy_not_found"},
		} {
			t.Run(fmt.Sprintf("%s %s %v", r.method, r.path, r.body), func(t *testing.T) {
				f.do(t, r.method, r.path, f.ownerA, r.body, r.want, r.code)
			})
		}
		if after := f.settings(t); after != before {
			t.Errorf("bad input wrote:\n%s\n%s", before, after)
		}
	})

	t.Run("tickets show their SLA in every view", func(t *testing.T) {
		tk := f.open(t, f.custA, "shown", "")
		var got struct {
			SLA *struct {
				PolicyID string `json:"policy_id"`
			} `json:"sla"`
		}
		f.do(t, "GET", "/tickets/"+tk.ID, f.custA, nil, 200, "").Decode(t, &got)
		if got.SLA == nil || got.SLA.PolicyID != p1.ID {
			t.Errorf("GET: sla = %+v", got.SLA)
		}
		var l struct {
			Items []struct {
				ID  string         `json:"id"`
				SLA map[string]any `json:"sla"`
			}
		}
		f.do(t, "GET", "/tickets?q=shown", f.agentA, nil, 200, "").Decode(t, &l)
		if len(l.Items) != 1 || l.Items[0].SLA["policy_id"] != p1.ID {
			t.Errorf("list: %+v", l.Items)
		}
		// B has no policy: its tickets' sla is null.
		var b struct {
			SLA *json.RawMessage `json:"sla"`
		}
		f.do(t, "POST", "/tickets", f.ownerB, map[string]any{"subject": "b", "message": "m",
			"requester": map[string]string{"email": "r@b.test"}}, 201, "").Decode(t, &b)
		if b.SLA != nil {
			t.Errorf("a ticket without a policy: sla = %s", *b.SLA)
		}
	})

	t.Run("delete", func(t *testing.T) {
		f.do(t, "DELETE", "/sla-policies/"+p2.ID, f.ownerA, nil, 204, "")
		f.do(t, "GET", "/sla-policies/"+p2.ID, f.ownerA, nil, 404, "helpdesk.sla_policy_not_found")
		f.do(t, "DELETE", "/calendars/"+c1.ID, f.ownerA, nil, 204, "") // no policy names it any more
		f.do(t, "GET", "/calendars/"+c1.ID, f.ownerA, nil, 404, "helpdesk.calendar_not_found")
		f.do(t, "DELETE", "/calendars/"+c1.ID, f.ownerA, nil, 404, "helpdesk.calendar_not_found")
	})
}
