package helpdesk_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/platform/platform/internal/modules/helpdesk"
)

// Tickets solved for close_solved_after (4 days by default) close on their
// own, in every tenant, as the system's update: with history and an event.
// One solved later, or reopened meanwhile, stays; a second sweep changes
// nothing; a closed ticket takes no more replies.
func TestSolvedTicketsClose(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	f := newFixture(t, helpdesk.WithClock(clock.now))
	get := func(token, id string) ticket {
		var tk ticket
		f.do(t, "GET", "/tickets/"+id, token, nil, 200, "").Decode(t, &tk)
		return tk
	}
	solve := func(tk ticket) {
		f.patch(t, &tk, map[string]any{"status": "solved"}, 200, "")
	}
	old := f.open(t, f.custA, "Old", "")
	reopened := f.open(t, f.custA, "Reopened", "")
	recent := f.open(t, f.custA, "Recent", "")
	var other ticket
	f.do(t, "POST", "/tickets", f.ownerB, map[string]any{"subject": "B's", "message": "x",
		"requester": map[string]string{"email": "b@b.test"}}, 201, "").Decode(t, &other)
	solve(old)
	solve(reopened)
	f.do(t, "PATCH", "/tickets/"+other.ID, f.ownerB, map[string]any{"status": "solved", "version": other.Version}, 200, "")
	clock.set(t0.Add(24 * time.Hour))
	f.do(t, "POST", "/tickets/"+reopened.ID+"/messages", f.custA, map[string]any{"body": "Not fixed."}, 201, "")
	clock.set(t0.Add(3 * 24 * time.Hour))
	solve(get(f.agentA, recent.ID))

	sweep := func() {
		t.Helper()
		if err := f.hd.CloseSolved(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	clock.set(t0.Add(4*24*time.Hour - time.Minute))
	sweep()
	if s := get(f.agentA, old.ID).Status; s != "solved" {
		t.Fatalf("closed a minute early: %s", s)
	}
	clock.set(t0.Add(4*24*time.Hour + time.Minute))
	before := len(f.bus.topics())
	sweep()
	for _, c := range []struct {
		token, id, want string
	}{{f.agentA, old.ID, "closed"}, {f.ownerB, other.ID, "closed"}, {f.agentA, reopened.ID, "open"}, {f.agentA, recent.ID, "solved"}} {
		if got := get(c.token, c.id); got.Status != c.want || (c.want == "closed") != (got.ClosedAt != nil) {
			t.Errorf("ticket %s: %s (closed_at %v), want %s", c.id, got.Status, got.ClosedAt, c.want)
		}
	}
	if got := f.bus.topics()[before:]; len(got) != 2 || got[0] != helpdesk.TopicTicketUpdated || got[1] != helpdesk.TopicTicketUpdated {
		t.Errorf("events of the sweep: %v, want two ticket_updated", got)
	}
	if !slices.ContainsFunc(f.history(t, old.ID), func(h historyItem) bool {
		return h.Actor == "system:auto_close" && h.Field == "status" && *h.Old == "solved" && *h.New == "closed"
	}) {
		t.Errorf("no history of the close: %+v", f.history(t, old.ID))
	}
	after := len(f.bus.topics())
	sweep()
	if len(f.bus.topics()) != after {
		t.Errorf("a second sweep published %v", f.bus.topics()[after:])
	}
	f.do(t, "POST", "/tickets/"+old.ID+"/messages", f.custA, map[string]any{"body": "One more thing"}, 422, "helpdesk.ticket_closed")
}
