package helpdesk_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/modules/helpdesk"
)

// flowFixture is the fixture with two more agents in tenant A.
type flowFixture struct {
	*fixture
	agent2, agent3     string // tokens
	agent2ID, agent3ID string
	ownerAID           string
}

func newFlowFixture(t *testing.T) *flowFixture {
	t.Helper()
	f := &flowFixture{fixture: newFixture(t)}
	admin := f.c.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
	f.agent2 = f.c.CreateUser(admin, f.ta, "agent2@a.test", "agent")
	f.agent3 = f.c.CreateUser(admin, f.ta, "agent3@a.test", "agent")
	f.agent2ID, f.agent3ID, f.ownerAID = f.userID(t, f.agent2), f.userID(t, f.agent3), f.userID(t, f.ownerA)
	return f
}

func (f *fixture) userID(t *testing.T, token string) string {
	t.Helper()
	var who struct{ ID string }
	f.c.Do(http.MethodGet, "/api/v1/auth/me", token, nil).Decode(t, &who)
	return who.ID
}

type group struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	RoundRobin bool   `json:"round_robin"`
	Members    []struct {
		UserID string `json:"user_id"`
		Email  string `json:"email"`
		Away   bool   `json:"away"`
	} `json:"members"`
}

type groupTicket struct {
	ticket
	GroupID *string `json:"group_id"`
}

func (f *flowFixture) group(t *testing.T, name string, rr bool, members ...string) group {
	t.Helper()
	var g group
	f.do(t, "POST", "/groups", f.ownerA, map[string]any{"name": name, "round_robin": rr, "members": members}, 201, "").Decode(t, &g)
	return g
}

func (f *flowFixture) openIn(t *testing.T, groupID, subject string) groupTicket {
	t.Helper()
	var tk groupTicket
	f.do(t, "POST", "/tickets", f.agentA, map[string]any{"subject": subject, "message": "m", "group_id": groupID,
		"requester": map[string]string{"email": "rr@x.test"}}, 201, "").Decode(t, &tk)
	return tk
}

func (f *flowFixture) away(t *testing.T, token string, away bool) {
	t.Helper()
	f.do(t, "PUT", "/agents/me/status", token, map[string]any{"away": away}, 200, "")
}

// secondProcess serves another kernel with the helpdesk on the fixture's
// database (and bus), as a second process would, and returns its client.
func (f *flowFixture) secondProcess(t *testing.T) *kerneltest.Client {
	t.Helper()
	k, err := kernel.New(context.Background(), f.cfg, kerneltest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	if err := k.Register(helpdesk.New(k, f.bus)); err != nil {
		t.Fatal(err)
	}
	if err := k.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	return kerneltest.NewClient(t, kerneltest.Server(t, k).URL)
}

// assignedSince is the assignee of each ticket_assigned event published
// since the sent-th message, in publish order.
func (f *flowFixture) assignedSince(t *testing.T, sent int) []helpdesk.AssignedEvent {
	t.Helper()
	var out []helpdesk.AssignedEvent
	for _, m := range f.bus.Sent()[sent:] {
		if m.Topic != helpdesk.TopicTicketAssigned {
			continue
		}
		var ev helpdesk.AssignedEvent
		if err := m.Decode(&ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func TestGroupsAndAssignment(t *testing.T) {
	f := newFlowFixture(t)

	t.Run("groups: create, read, change, members must be staff", func(t *testing.T) {
		g := f.group(t, "Billing", false, f.agentAID, f.agent2ID, f.agentAID)
		if len(g.Members) != 2 || g.RoundRobin {
			t.Fatalf("group = %+v", g)
		}
		f.do(t, "POST", "/groups", f.ownerA, map[string]any{"name": "Billing"}, 409, "helpdesk.group_name_taken")
		var got group
		f.do(t, "PATCH", "/groups/"+g.ID, f.ownerA, map[string]any{"round_robin": true, "members": []string{f.agent3ID}}, 200, "").Decode(t, &got)
		if !got.RoundRobin || len(got.Members) != 1 || got.Members[0].UserID != f.agent3ID || got.Name != "Billing" {
			t.Errorf("patched group = %+v", got)
		}
		var l struct{ Items []group }
		f.do(t, "GET", "/groups", f.agentA, nil, 200, "").Decode(t, &l)
		if len(l.Items) != 1 {
			t.Errorf("groups = %+v", l.Items)
		}
		f.do(t, "GET", "/groups", f.ownerB, nil, 200, "").Decode(t, &l)
		if len(l.Items) != 0 {
			t.Errorf("tenant B lists A's groups: %+v", l.Items)
		}
		f.do(t, "GET", "/groups/"+g.ID, f.ownerB, nil, 404, "helpdesk.group_not_found")
		f.do(t, "PATCH", "/groups/"+g.ID, f.ownerB, map[string]any{"name": "x"}, 404, "")
		// Not there is 404 even with a body that would be refused.
		f.do(t, "PATCH", "/groups/"+g.ID, f.ownerB, map[string]any{"name": "", "members": []string{"nobody"}}, 404, "helpdesk.group_not_found")
		f.do(t, "DELETE", "/groups/"+g.ID, f.ownerB, nil, 404, "")
	})

	t.Run("bad input and forbidden callers write nothing", func(t *testing.T) {
		g := f.group(t, "Guarded", true, f.agentAID)
		tk := f.open(t, f.agentA, "guarded", "guard@x.test")
		before := f.counts(t)
		groupsBefore := f.count(t, "helpdesk_groups")
		membersBefore := f.count(t, "helpdesk_group_members")
		custID := f.userID(t, f.custA)
		for _, r := range []struct {
			method, path, token string
			body                any
			want                int
			code                string
		}{
			{"POST", "/groups", f.ownerA, `{"name": "x"`, 400, ""},
			{"POST", "/groups", f.ownerA, map[string]any{"name": "x", "extra": 1}, 400, ""},
			{"POST", "/groups", f.ownerA, map[string]any{"name": " "}, 422, "validation_failed"},
			{"POST", "/groups", f.ownerA, map[string]any{"name": "x", "members": []string{custID}}, 422, "validation_failed"},
			{"POST", "/groups", f.ownerA, map[string]any{"name": "x", "members": []string{"nope"}}, 422, "validation_failed"},
			{"PATCH", "/groups/" + g.ID, f.ownerA, map[string]any{"members": []string{custID}}, 422, "validation_failed"},
			{"POST", "/groups", f.agentA, map[string]any{"name": "agents cannot"}, 403, ""},
			{"PATCH", "/groups/" + g.ID, f.agentA, map[string]any{"name": "agents cannot"}, 403, ""},
			{"DELETE", "/groups/" + g.ID, f.agentA, nil, 403, ""},
			{"GET", "/groups", f.custA, nil, 403, ""},
			{"GET", "/groups/" + g.ID, f.custA, nil, 403, ""},
			{"POST", "/groups", f.custA, map[string]any{"name": "x"}, 403, ""},
			{"GET", "/agents", f.custA, nil, 403, ""},
			{"PUT", "/agents/me/status", f.custA, map[string]any{"away": true}, 403, ""},
			{"PUT", "/agents/me/status", f.agentA, map[string]any{}, 422, "validation_failed"},
			{"PUT", "/agents/me/status", f.agentA, map[string]any{"away": "yes"}, 400, ""},
			{"POST", "/tickets/" + tk.ID + "/assign", f.custA, map[string]any{"strategy": "round_robin"}, 403, ""},
			{"POST", "/tickets/" + tk.ID + "/assign", f.agentA, map[string]any{"strategy": "random"}, 422, "validation_failed"},
			{"POST", "/tickets/" + tk.ID + "/assign", f.agentA, map[string]any{"strategy": "round_robin"}, 422, "helpdesk.no_group"},
			{"POST", "/tickets/" + tk.ID + "/assign", f.ownerB, map[string]any{"strategy": "round_robin"}, 404, ""},
			{"PATCH", "/tickets/" + tk.ID, f.agentA, map[string]any{"version": 1, "group_id": "00000000-0000-7000-8000-000000000000"}, 422, "helpdesk.invalid_ticket"},
			{"PATCH", "/tickets/" + tk.ID, f.agentA, map[string]any{"version": 1, "group_id": 7}, 422, "helpdesk.invalid_ticket"},
			{"PATCH", "/tickets/" + tk.ID, f.ownerB, map[string]any{"version": 1, "group_id": g.ID}, 404, ""},
			{"POST", "/tickets", f.agentA, map[string]any{"subject": "s", "message": "m", "group_id": "nope",
				"requester": map[string]string{"email": "brand-new@x.test"}}, 422, "helpdesk.invalid_ticket"},
			{"POST", "/tickets", f.custA, map[string]any{"subject": "s", "message": "m", "group_id": g.ID}, 422, "helpdesk.invalid_ticket"},
			{"POST", "/tickets", f.ownerB, map[string]any{"subject": "s", "message": "m", "group_id": g.ID,
				"requester": map[string]string{"email": "b@x.test"}}, 422, "helpdesk.invalid_ticket"},
		} {
			f.do(t, r.method, r.path, r.token, r.body, r.want, r.code)
		}
		if after := f.counts(t); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("rows %v -> %v", before, after)
		}
		if f.count(t, "helpdesk_groups") != groupsBefore || f.count(t, "helpdesk_group_members") != membersBefore ||
			f.count(t, "helpdesk_agents") != 0 {
			t.Errorf("groups, members or presence written")
		}
	})

	t.Run("a group set on create or by PATCH assigns round-robin, skipping the away", func(t *testing.T) {
		g := f.group(t, "Support", true, f.agentAID, f.agent2ID, f.agent3ID)
		f.away(t, f.agent3, true)
		defer f.away(t, f.agent3, false)
		sent := len(f.bus.Sent())
		var got []string
		for i := range 4 {
			tk := f.openIn(t, g.ID, fmt.Sprintf("rr create %d", i))
			if tk.AssigneeID == nil || tk.GroupID == nil || *tk.GroupID != g.ID {
				t.Fatalf("created %+v", tk)
			}
			got = append(got, *tk.AssigneeID)
		}
		if got[0] == got[1] || got[0] != got[2] || got[1] != got[3] || slices.Contains(got, f.agent3ID) {
			t.Errorf("assignees %v: want alternating agentA/agent2, never agent3 (%s)", got, f.agent3ID)
		}
		evs := f.assignedSince(t, sent)
		if len(evs) != 4 || evs[0].AssigneeID != got[0] || evs[0].GroupID == nil || *evs[0].GroupID != g.ID ||
			evs[0].PreviousAssigneeID != nil || evs[0].By != "user:"+f.agentAID {
			t.Errorf("ticket_assigned events = %+v", evs)
		}

		// PATCH into the group with nobody assigned: round-robin; with an
		// assignee named: that one.
		tk := f.open(t, f.agentA, "rr patch", "rr@x.test")
		f.patch(t, &tk, map[string]any{"group_id": g.ID}, 200, "")
		if tk.AssigneeID == nil || *tk.AssigneeID == f.agent3ID {
			t.Errorf("PATCH into a round-robin group assigned %v", tk.AssigneeID)
		}
		tk2 := f.open(t, f.agentA, "rr patch named", "rr@x.test")
		f.patch(t, &tk2, map[string]any{"group_id": g.ID, "assignee_id": f.agent3ID}, 200, "")
		if tk2.AssigneeID == nil || *tk2.AssigneeID != f.agent3ID {
			t.Errorf("a named assignee was overridden: %v", tk2.AssigneeID)
		}
		var h struct{ Items []struct{ Field string } }
		f.do(t, "GET", "/tickets/"+tk.ID+"/history", f.agentA, nil, 200, "").Decode(t, &h)
		var fields []string
		for _, it := range h.Items {
			fields = append(fields, it.Field)
		}
		if fmt.Sprint(fields) != "[status group_id assignee_id]" {
			t.Errorf("history fields = %v", fields)
		}

		// Everyone away: the ticket joins the group unassigned, and an
		// explicit round-robin is 422.
		f.away(t, f.agentA, true)
		f.away(t, f.agent2, true)
		defer f.away(t, f.agentA, false)
		defer f.away(t, f.agent2, false)
		lone := f.openIn(t, g.ID, "nobody home")
		if lone.AssigneeID != nil {
			t.Errorf("assigned to %s while everyone is away", *lone.AssigneeID)
		}
		f.do(t, "POST", "/tickets/"+lone.ID+"/assign", f.agentA, map[string]any{"strategy": "round_robin"}, 422, "helpdesk.no_agent_available")
		var agents struct{ Items []helpdesk.Agent }
		f.do(t, "GET", "/agents", f.agentA, nil, 200, "").Decode(t, &agents)
		if len(agents.Items) != 4 { // owner and three agents
			t.Fatalf("agents = %+v", agents.Items)
		}
		for _, a := range agents.Items {
			if a.Away != (a.ID != f.ownerAID) || (a.ID != f.ownerAID && !slices.Contains(a.Groups, g.ID)) {
				t.Errorf("agent %+v", a)
			}
		}
	})

	t.Run("a group without round-robin only files the ticket", func(t *testing.T) {
		g := f.group(t, "Manual", false, f.agentAID)
		tk := f.openIn(t, g.ID, "manual")
		if tk.AssigneeID != nil {
			t.Errorf("assigned in a manual group")
		}
		f.do(t, "POST", "/tickets/"+tk.ID+"/assign", f.agentA, map[string]any{"strategy": "round_robin"}, 422, "helpdesk.group_not_round_robin")
		f.do(t, "DELETE", "/groups/"+g.ID, f.ownerA, nil, 409, "helpdesk.group_in_use")
		empty := f.group(t, "Empty", false)
		f.do(t, "DELETE", "/groups/"+empty.ID, f.ownerA, nil, 204, "")
		f.do(t, "GET", "/groups/"+empty.ID, f.ownerA, nil, 404, "helpdesk.group_not_found")
	})

	t.Run("concurrent round-robin over two processes: an even split over the free agents, never twice in a row", func(t *testing.T) {
		const n = 12
		clients := []*kerneltest.Client{f.c, f.secondProcess(t)}
		g := f.group(t, "Rush", false, f.agentAID, f.agent2ID, f.agent3ID)
		var tickets []groupTicket
		for i := range n {
			tickets = append(tickets, f.openIn(t, g.ID, fmt.Sprintf("rush %d", i)))
		}
		f.do(t, "PATCH", "/groups/"+g.ID, f.ownerA, map[string]any{"round_robin": true}, 200, "")
		f.away(t, f.agent2, true)
		defer f.away(t, f.agent2, false)
		sent := len(f.bus.Sent())
		var wg sync.WaitGroup
		status := make([]int, n)
		for i, tk := range tickets {
			wg.Go(func() {
				res := clients[i%2].Do("POST", "/api/v1/helpdesk/tickets/"+tk.ID+"/assign", f.agentA, map[string]any{"strategy": "round_robin"})
				status[i] = res.Status
			})
		}
		wg.Wait()
		for i, s := range status {
			if s != 200 {
				t.Fatalf("assign %d: status %d", i, s)
			}
		}
		evs := f.assignedSince(t, sent)
		if len(evs) != n {
			t.Fatalf("%d ticket_assigned events, want %d", len(evs), n)
		}
		per := map[string]int{}
		seen := map[string]bool{}
		for i, ev := range evs {
			per[ev.AssigneeID]++
			if seen[ev.TicketID] {
				t.Errorf("ticket %s assigned twice", ev.TicketID)
			}
			seen[ev.TicketID] = true
			if i > 0 && evs[i-1].AssigneeID == ev.AssigneeID {
				t.Errorf("pick %d repeats %s", i, ev.AssigneeID)
			}
		}
		if len(per) != 2 || per[f.agentAID] != n/2 || per[f.agent3ID] != n/2 {
			t.Errorf("split = %v, want %d each for %s and %s", per, n/2, f.agentAID, f.agent3ID)
		}
		for _, tk := range tickets {
			var got groupTicket
			f.do(t, "GET", "/tickets/"+tk.ID, f.agentA, nil, 200, "").Decode(t, &got)
			if got.AssigneeID == nil || *got.AssigneeID == f.agent2ID || got.Version != 2 {
				t.Errorf("ticket after assign = %+v", got)
			}
		}
	})
}
