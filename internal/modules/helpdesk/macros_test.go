package helpdesk_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/platform/platform/internal/modules/helpdesk"
)

// displayName is what {{agent.name}} renders for the user of token.
func (f *fixture) displayName(t *testing.T, token string) string {
	t.Helper()
	var who struct{ Name, Email string }
	f.c.Do("GET", "/api/v1/auth/me", token, nil).Decode(t, &who)
	if who.Name == "" {
		return who.Email
	}
	return who.Name
}

func TestCannedResponses(t *testing.T) {
	f := newFlowFixture(t)
	tk := f.open(t, f.agentA, "Invoice missing", "carla@x.test")
	body := "Hi {{customer.name}}, about {{ ticket.subject }} (#{{ticket.id}}, {{ticket.status}}): {{customer.email}}. {{agent.name}}"

	var shared, mine helpdesk.CannedResponse
	f.do(t, "POST", "/canned-responses", f.ownerA, map[string]any{"name": "Greeting", "body": body}, 201, "").Decode(t, &shared)
	f.do(t, "POST", "/canned-responses", f.agentA, map[string]any{"name": "Mine", "body": "Cheers, {{agent.email}}", "private": true},
		201, "").Decode(t, &mine)
	if shared.Private || !mine.Private || mine.OwnerID == nil || *mine.OwnerID != f.agentAID {
		t.Fatalf("shared %+v, mine %+v", shared, mine)
	}

	t.Run("render fills the placeholders for the ticket and the agent", func(t *testing.T) {
		var got struct{ Body string }
		f.do(t, "POST", "/canned-responses/"+shared.ID+"/render?ticket_id="+tk.ID, f.agentA, nil, 200, "").Decode(t, &got)
		want := fmt.Sprintf("Hi Req carla@x.test, about Invoice missing (#%s, new): carla@x.test. %s", tk.ID, f.displayName(t, f.agentA))
		if got.Body != want {
			t.Errorf("rendered %q\nwant     %q", got.Body, want)
		}
		f.do(t, "POST", "/canned-responses/"+mine.ID+"/render?ticket_id="+tk.ID, f.agentA, nil, 200, "").Decode(t, &got)
		if got.Body != "Cheers, agent@a.test" {
			t.Errorf("rendered %q", got.Body)
		}
	})

	t.Run("private ones are their owner's", func(t *testing.T) {
		var l struct{ Items []helpdesk.CannedResponse }
		f.do(t, "GET", "/canned-responses", f.agent2, nil, 200, "").Decode(t, &l)
		if len(l.Items) != 1 || l.Items[0].ID != shared.ID {
			t.Errorf("agent2 lists %+v", l.Items)
		}
		f.do(t, "GET", "/canned-responses", f.agentA, nil, 200, "").Decode(t, &l)
		if len(l.Items) != 2 {
			t.Errorf("agentA lists %+v", l.Items)
		}
		f.do(t, "GET", "/canned-responses/"+mine.ID, f.agent2, nil, 404, "helpdesk.canned_response_not_found")
		f.do(t, "POST", "/canned-responses/"+mine.ID+"/render?ticket_id="+tk.ID, f.agent2, nil, 404, "")
		var got helpdesk.CannedResponse
		f.do(t, "PATCH", "/canned-responses/"+mine.ID, f.agentA, map[string]any{"body": "Best, {{agent.name}}"}, 200, "").Decode(t, &got)
		if got.Body != "Best, {{agent.name}}" || got.Name != "Mine" {
			t.Errorf("patched %+v", got)
		}
	})

	t.Run("bad input, other tenants and customers write nothing", func(t *testing.T) {
		before := f.workflowCounts(t)
		for _, r := range []struct {
			method, path, token string
			body                any
			want                int
			code                string
		}{
			{"POST", "/canned-responses", f.ownerA, map[string]any{"name": "x", "body": "Hi {{customer.phone}}"}, 422, "helpdesk.invalid_canned_response"},
			{"POST", "/canned-responses", f.ownerA, map[string]any{"name": "x", "body": "{{ticket.id}} {{ .Exec }}"}, 422, "helpdesk.invalid_canned_response"},
			{"POST", "/canned-responses", f.ownerA, map[string]any{"name": "", "body": "b"}, 422, "helpdesk.invalid_canned_response"},
			{"POST", "/canned-responses", f.ownerA, map[string]any{"name": "x"}, 422, "helpdesk.invalid_canned_response"},
			{"POST", "/canned-responses", f.ownerA, map[string]any{"name": "x", "body": "b", "html": true}, 400, ""},
			{"POST", "/canned-responses", f.agentA, map[string]any{"name": "x", "body": "b"}, 403, "helpdesk.manage_forbidden"},
			{"PATCH", "/canned-responses/" + shared.ID, f.agentA, map[string]any{"body": "b"}, 403, "helpdesk.manage_forbidden"},
			{"DELETE", "/canned-responses/" + shared.ID, f.agentA, nil, 403, "helpdesk.manage_forbidden"},
			{"PATCH", "/canned-responses/" + shared.ID, f.ownerA, map[string]any{"body": "{{agent.phone}}"}, 422, "helpdesk.invalid_canned_response"},
			{"PATCH", "/canned-responses/" + shared.ID, f.ownerA, map[string]any{"private": true}, 422, "helpdesk.invalid_canned_response"},
			{"POST", "/canned-responses/" + shared.ID + "/render", f.agentA, nil, 422, "invalid_query"},
			{"POST", "/canned-responses/" + shared.ID + "/render?ticket_id=nope", f.agentA, nil, 404, "helpdesk.ticket_not_found"},
			{"GET", "/canned-responses/" + shared.ID, f.ownerB, nil, 404, ""},
			{"PATCH", "/canned-responses/" + shared.ID, f.ownerB, map[string]any{"body": "b"}, 404, ""},
			{"POST", "/canned-responses/" + shared.ID + "/render?ticket_id=" + tk.ID, f.ownerB, nil, 404, ""},
			{"GET", "/canned-responses", f.custA, nil, 403, ""},
			{"POST", "/canned-responses", f.custA, map[string]any{"name": "x", "body": "b", "private": true}, 403, ""},
			{"POST", "/canned-responses/" + shared.ID + "/render?ticket_id=" + tk.ID, f.custA, nil, 403, ""},
		} {
			f.do(t, r.method, r.path, r.token, r.body, r.want, r.code)
		}
		var l struct{ Items []helpdesk.CannedResponse }
		f.do(t, "GET", "/canned-responses", f.ownerB, nil, 200, "").Decode(t, &l)
		if len(l.Items) != 0 {
			t.Errorf("tenant B lists %+v", l.Items)
		}
		if after := f.workflowCounts(t); after != before {
			t.Errorf("rows %v -> %v", before, after)
		}
		f.do(t, "DELETE", "/canned-responses/"+mine.ID, f.agentA, nil, 204, "")
		f.do(t, "GET", "/canned-responses/"+mine.ID, f.agentA, nil, 404, "")
	})
}

type applied struct {
	Ticket struct {
		groupTicket
		Type string `json:"type"`
	} `json:"ticket"`
	Message *struct {
		Body     string `json:"body"`
		Internal bool   `json:"internal"`
	} `json:"message"`
}

func TestMacros(t *testing.T) {
	f := newFlowFixture(t)
	g := f.group(t, "Tier 2", false, f.agentAID)
	macro := func(t *testing.T, token string, in map[string]any) helpdesk.Macro {
		t.Helper()
		var m helpdesk.Macro
		f.do(t, "POST", "/macros", token, in, 201, "").Decode(t, &m)
		return m
	}
	escalate := macro(t, f.ownerA, map[string]any{"name": "Escalate", "actions": map[string]any{
		"status": "pending", "priority": "high", "type": "incident", "tags_add": []string{"VIP", "escalated"}, "tags_remove": []string{"new"},
		"assignee": "me", "group_id": g.ID, "reply": map[string]any{"body": "Hi {{customer.name}}, {{agent.name}} has this now."}}})

	t.Run("apply: fields, reply, history and events in one go", func(t *testing.T) {
		tk := f.open(t, f.agentA, "slow site", "dana@x.test")
		f.patch(t, &tk, map[string]any{"tags": []string{"new", "web"}}, 200, "")
		sent := len(f.bus.Sent())
		var got applied
		res := f.do(t, "POST", "/tickets/"+tk.ID+"/macros/"+escalate.ID, f.agent2, map[string]any{"version": tk.Version}, 200, "")
		res.Decode(t, &got)
		at := got.Ticket
		if at.Status != "pending" || at.Priority != "high" || at.Type != "incident" || fmt.Sprint(at.Tags) != "[escalated vip web]" ||
			at.AssigneeID == nil || *at.AssigneeID != f.agent2ID || at.GroupID == nil || *at.GroupID != g.ID || at.Version != tk.Version+1 {
			t.Errorf("ticket after the macro = %+v", at)
		}
		if res.Header.Get("ETag") != fmt.Sprintf(`"%d"`, at.Version) {
			t.Errorf("ETag %q", res.Header.Get("ETag"))
		}
		want := "Hi Req dana@x.test, " + f.displayName(t, f.agent2) + " has this now."
		if got.Message == nil || got.Message.Body != want || got.Message.Internal {
			t.Errorf("message = %+v, want %q", got.Message, want)
		}
		h := f.historyFields(t, tk.ID)
		var fields []string
		for _, r := range h[2:] {
			fields = append(fields, strings.SplitN(r, ":", 2)[0])
		}
		if fmt.Sprint(fields) != "[status priority type tags assignee_id group_id macro]" {
			t.Errorf("history = %v", h)
		}
		topics := f.bus.topics()[sent:]
		if fmt.Sprint(topics) != "[helpdesk.ticket_updated helpdesk.ticket_assigned helpdesk.ticket_replied]" {
			t.Errorf("topics = %v", topics)
		}
		ev := f.assignedSince(t, sent)
		if len(ev) != 1 || ev[0].AssigneeID != f.agent2ID || ev[0].PreviousAssigneeID != nil || ev[0].By != "user:"+f.agent2ID {
			t.Errorf("ticket_assigned = %+v", ev)
		}

		// The same version again is stale: 409 (body) or 412 (If-Match).
		before := f.workflowCounts(t)
		f.do(t, "POST", "/tickets/"+tk.ID+"/macros/"+escalate.ID, f.agentA, map[string]any{"version": tk.Version}, 409, "helpdesk.stale_version")
		f.do(t, "POST", "/tickets/"+tk.ID+"/macros/"+escalate.ID, f.agentA, nil, 412, "helpdesk.stale_version", "If-Match", fmt.Sprintf(`"%d"`, tk.Version))
		f.do(t, "POST", "/tickets/"+tk.ID+"/macros/"+escalate.ID, f.agentA, nil, 422, "helpdesk.invalid_ticket")
		if after := f.workflowCounts(t); after != before {
			t.Errorf("a stale macro wrote: %v -> %v", before, after)
		}
	})

	t.Run("solving publishes ticket_solved", func(t *testing.T) {
		solve := macro(t, f.agentA, map[string]any{"name": "Solve", "private": true, "actions": map[string]any{"status": "solved",
			"reply": map[string]any{"body": "Solved: {{ticket.subject}}", "internal": true}}})
		tk := f.open(t, f.agentA, "done", "done@x.test")
		sent := len(f.bus.Sent())
		var got applied
		f.do(t, "POST", "/tickets/"+tk.ID+"/macros/"+solve.ID, f.agentA, map[string]any{"version": 1}, 200, "").Decode(t, &got)
		if got.Ticket.Status != "solved" || got.Message == nil || !got.Message.Internal || got.Message.Body != "Solved: done" {
			t.Errorf("after solve: %+v %+v", got.Ticket, got.Message)
		}
		if topics := f.bus.topics()[sent:]; fmt.Sprint(topics) != "[helpdesk.ticket_updated helpdesk.ticket_solved helpdesk.ticket_replied]" {
			t.Errorf("topics = %v", topics)
		}
		// Another agent neither sees nor applies the private macro.
		f.do(t, "POST", "/tickets/"+tk.ID+"/macros/"+solve.ID, f.agent2, map[string]any{"version": 2}, 404, "helpdesk.macro_not_found")
		f.do(t, "GET", "/macros/"+solve.ID, f.agent2, nil, 404, "")
	})

	t.Run("a macro whose reply fails changes nothing", func(t *testing.T) {
		closer := macro(t, f.ownerA, map[string]any{"name": "Close with a word", "actions": map[string]any{"status": "closed",
			"priority": "low", "reply": map[string]any{"body": "Closing."}}})
		tk := f.open(t, f.agentA, "almost done", "almost@x.test")
		f.patch(t, &tk, map[string]any{"status": "solved"}, 200, "")
		before, sent := f.workflowCounts(t), len(f.bus.Sent())
		f.do(t, "POST", "/tickets/"+tk.ID+"/macros/"+closer.ID, f.agentA, map[string]any{"version": tk.Version}, 422, "helpdesk.ticket_closed")
		var got ticket
		f.do(t, "GET", "/tickets/"+tk.ID, f.agentA, nil, 200, "").Decode(t, &got)
		if got.Status != "solved" || got.Priority != "normal" || got.Version != tk.Version {
			t.Errorf("a failed macro wrote: %+v", got)
		}
		if after := f.workflowCounts(t); after != before {
			t.Errorf("rows %v -> %v", before, after)
		}
		// The fake bus records every call; the real one writes its outbox in
		// the transaction, so what matters is that each ran inside it.
		f.bus.mu.Lock()
		for i, in := range f.bus.inTx[sent:] {
			if !in {
				t.Errorf("publish %d of the failed macro ran outside its transaction", i)
			}
		}
		f.bus.mu.Unlock()
	})

	t.Run("bad macros, other tenants and customers write nothing", func(t *testing.T) {
		tk := f.open(t, f.agentA, "guarded", "g@x.test")
		other := f.open(t, f.ownerB, "b's", "g@x.test")
		custID := f.userID(t, f.custA)
		before := f.workflowCounts(t)
		bad := func(actions map[string]any) map[string]any { return map[string]any{"name": "bad", "actions": actions} }
		for _, r := range []struct {
			method, path, token string
			body                any
			want                int
			code                string
		}{
			{"POST", "/macros", f.ownerA, bad(map[string]any{"status": "archived"}), 422, "helpdesk.invalid_macro"},
			{"POST", "/macros", f.ownerA, bad(map[string]any{"priority": "asap"}), 422, "helpdesk.invalid_macro"},
			{"POST", "/macros", f.ownerA, bad(map[string]any{"assignee": custID}), 422, "helpdesk.invalid_macro"},
			{"POST", "/macros", f.ownerA, bad(map[string]any{"assignee": "someone"}), 422, "helpdesk.invalid_macro"},
			{"POST", "/macros", f.ownerA, bad(map[string]any{"group_id": "00000000-0000-7000-8000-000000000000"}), 422, "helpdesk.invalid_macro"},
			{"POST", "/macros", f.ownerA, bad(map[string]any{"reply": map[string]any{"body": "Hi {{customer.first_name}}"}}), 422, "helpdesk.invalid_macro"},
			{"POST", "/macros", f.ownerA, bad(map[string]any{"reply": map[string]any{"body": " "}}), 422, "helpdesk.invalid_macro"},
			{"POST", "/macros", f.ownerA, bad(map[string]any{}), 422, "helpdesk.invalid_macro"},
			{"POST", "/macros", f.ownerA, map[string]any{"name": "no actions"}, 422, "helpdesk.invalid_macro"},
			{"POST", "/macros", f.ownerA, bad(map[string]any{"status": "open", "delete": true}), 400, ""},
			{"POST", "/macros", f.agentA, bad(map[string]any{"status": "open"}), 403, "helpdesk.manage_forbidden"},
			{"PATCH", "/macros/" + escalate.ID, f.agentA, map[string]any{"name": "mine now"}, 403, "helpdesk.manage_forbidden"},
			{"DELETE", "/macros/" + escalate.ID, f.agentA, nil, 403, "helpdesk.manage_forbidden"},
			{"PATCH", "/macros/" + escalate.ID, f.ownerA, map[string]any{"private": true}, 422, "helpdesk.invalid_macro"},
			{"PATCH", "/macros/" + escalate.ID, f.ownerB, map[string]any{"private": true}, 404, "helpdesk.macro_not_found"},
			{"POST", "/tickets/" + tk.ID + "/macros/" + escalate.ID, f.agentA, map[string]any{"version": "1"}, 400, ""},
			{"POST", "/tickets/" + tk.ID + "/macros/nope", f.agentA, map[string]any{"version": 1}, 404, "helpdesk.macro_not_found"},
			{"POST", "/tickets/" + other.ID + "/macros/" + escalate.ID, f.agentA, map[string]any{"version": 1}, 404, "helpdesk.ticket_not_found"},
			{"POST", "/tickets/" + other.ID + "/macros/" + escalate.ID, f.ownerB, map[string]any{"version": 1}, 404, "helpdesk.macro_not_found"},
			{"GET", "/macros/" + escalate.ID, f.ownerB, nil, 404, ""},
			{"GET", "/macros", f.custA, nil, 403, ""},
			{"POST", "/macros", f.custA, bad(map[string]any{"status": "open"}), 403, ""},
			{"POST", "/tickets/" + tk.ID + "/macros/" + escalate.ID, f.custA, map[string]any{"version": 1}, 403, ""},
		} {
			f.do(t, r.method, r.path, r.token, r.body, r.want, r.code)
		}
		if after := f.workflowCounts(t); after != before {
			t.Errorf("rows %v -> %v", before, after)
		}
		var l struct{ Items []helpdesk.Macro }
		f.do(t, "GET", "/macros", f.agent2, nil, 200, "").Decode(t, &l)
		if len(l.Items) != 2 { // Escalate and Close with a word; not agentA's private Solve
			t.Errorf("agent2 lists %d macros", len(l.Items))
		}
		var changed helpdesk.Macro
		f.do(t, "PATCH", "/macros/"+escalate.ID, f.ownerA, map[string]any{"actions": map[string]any{"priority": "urgent"}}, 200, "").Decode(t, &changed)
		if changed.Actions.Priority != "urgent" || changed.Actions.Status != "" || changed.Name != "Escalate" {
			t.Errorf("patched macro = %+v", changed)
		}
		f.do(t, "DELETE", "/macros/"+escalate.ID, f.ownerA, nil, 204, "")
		f.do(t, "GET", "/macros/"+escalate.ID, f.ownerA, nil, 404, "")
	})
}
