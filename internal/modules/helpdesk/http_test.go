package helpdesk_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/platform/platform/internal/modules/helpdesk"
)

// workflow is the transition table written out independently of the code.
var workflow = map[string]string{
	"new":     "open pending on_hold solved",
	"open":    "pending on_hold solved",
	"pending": "open solved on_hold",
	"on_hold": "open pending solved",
	"solved":  "open closed",
	"closed":  "",
}

func TestCanTransition(t *testing.T) {
	for _, from := range helpdesk.Statuses {
		for _, to := range helpdesk.Statuses {
			want := slices.Contains(strings.Fields(workflow[from]), to)
			if got := helpdesk.CanTransition(from, to); got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
}

// TestHelpdesk runs the API scenarios on one kernel (SQLite, or MariaDB
// with PLATFORM_TEST_DATABASE_DRIVER=mysql).
func TestHelpdesk(t *testing.T) {
	f := newFixture(t)

	t.Run("transitions through the API, every pair", func(t *testing.T) {
		// reach is the path from new to each status.
		reach := map[string][]string{"new": nil, "open": {"open"}, "pending": {"pending"}, "on_hold": {"on_hold"},
			"solved": {"solved"}, "closed": {"solved", "closed"}}
		for _, from := range helpdesk.Statuses {
			for _, to := range helpdesk.Statuses {
				t.Run(from+"->"+to, func(t *testing.T) {
					tk := f.open(t, f.agentA, "move "+from+" "+to, "mover@x.test")
					for _, s := range reach[from] {
						f.patch(t, &tk, map[string]any{"status": s}, 200, "")
					}
					if from == "closed" && to == "closed" {
						f.do(t, "POST", "/tickets/"+tk.ID+"/messages", f.agentA, map[string]any{"body": "late"}, 422, "helpdesk.ticket_closed")
					}
					before, hist := tk.Version, f.count(t, "helpdesk_ticket_history")
					switch {
					case from == to:
						f.patch(t, &tk, map[string]any{"status": to}, 200, "")
						if tk.Version != before {
							t.Errorf("a no-op patch bumped the version to %d", tk.Version)
						}
					case slices.Contains(strings.Fields(workflow[from]), to):
						f.patch(t, &tk, map[string]any{"status": to}, 200, "")
						if tk.Status != to || tk.Version != before+1 {
							t.Errorf("after %s->%s: %+v", from, to, tk)
						}
						if (to == "solved" || to == "closed") != (tk.SolvedAt != nil) || (to == "closed") != (tk.ClosedAt != nil) {
							t.Errorf("after %s->%s: solved_at %v closed_at %v", from, to, tk.SolvedAt, tk.ClosedAt)
						}
						if n := f.count(t, "helpdesk_ticket_history"); n != hist+1 {
							t.Errorf("history rows %d -> %d, want one more", hist, n)
						}
					default:
						f.patch(t, &tk, map[string]any{"status": to, "priority": "urgent"}, 422, "helpdesk.illegal_transition")
						var got ticket
						f.do(t, "GET", "/tickets/"+tk.ID, f.agentA, nil, 200, "").Decode(t, &got)
						if got.Status != from || got.Priority != "normal" || got.Version != before {
							t.Errorf("an illegal transition wrote: %+v", got)
						}
						if n := f.count(t, "helpdesk_ticket_history"); n != hist {
							t.Errorf("an illegal transition wrote history")
						}
					}
				})
			}
		}
	})

	t.Run("concurrent edits: exactly one wins", func(t *testing.T) {
		for round := range 5 {
			tk := f.open(t, f.agentA, fmt.Sprintf("race %d", round), "racer@x.test")
			hist := f.count(t, "helpdesk_ticket_history")
			var wg sync.WaitGroup
			codes := make([]int, 2)
			for i, prio := range []string{"high", "low"} {
				wg.Go(func() {
					res := f.c.Do("PATCH", "/api/v1/helpdesk/tickets/"+tk.ID, f.agentA,
						map[string]any{"version": tk.Version, "priority": prio})
					codes[i] = res.Status
				})
			}
			wg.Wait()
			slices.Sort(codes)
			if codes[0] != 200 || codes[1] != 409 {
				t.Fatalf("round %d: statuses %v, want one 200 and one 409", round, codes)
			}
			var got ticket
			f.do(t, "GET", "/tickets/"+tk.ID, f.agentA, nil, 200, "").Decode(t, &got)
			if got.Version != 2 || f.count(t, "helpdesk_ticket_history") != hist+1 {
				t.Fatalf("round %d: version %d, history %d -> %d", round, got.Version, hist, f.count(t, "helpdesk_ticket_history"))
			}
		}
	})

	t.Run("If-Match", func(t *testing.T) {
		tk := f.open(t, f.agentA, "etag", "etag@x.test")
		res := f.do(t, "PATCH", "/tickets/"+tk.ID, f.agentA, map[string]any{"priority": "high"}, 200, "", "If-Match", `"1"`)
		if res.Header.Get("ETag") != `"2"` {
			t.Errorf("ETag = %q", res.Header.Get("ETag"))
		}
		f.do(t, "PATCH", "/tickets/"+tk.ID, f.agentA, map[string]any{"priority": "low"}, 412, "helpdesk.stale_version", "If-Match", `"1"`)
		f.do(t, "PATCH", "/tickets/"+tk.ID, f.agentA, map[string]any{"priority": "low", "version": 1}, 409, "helpdesk.stale_version")
		f.do(t, "PATCH", "/tickets/"+tk.ID, f.agentA, map[string]any{"priority": "low"}, 422, "helpdesk.invalid_ticket")
		var got ticket
		f.do(t, "GET", "/tickets/"+tk.ID, f.agentA, nil, 200, "").Decode(t, &got)
		if got.Priority != "high" || got.Version != 2 {
			t.Errorf("a stale patch wrote: %+v", got)
		}
	})

	t.Run("history", func(t *testing.T) {
		tk := f.open(t, f.agentA, "history", "hist@x.test")
		f.patch(t, &tk, map[string]any{"status": "open", "assignee_id": f.agentAID, "tags": []string{"VIP", " vip", "billing"}}, 200, "")
		if len(tk.Tags) != 2 || tk.Tags[0] != "billing" || tk.AssigneeID == nil || *tk.AssigneeID != f.agentAID {
			t.Errorf("after patch: %+v", tk)
		}
		h := f.history(t, tk.ID)
		fields := map[string]bool{}
		for _, it := range h {
			fields[it.Field] = true
			if !strings.HasPrefix(it.Actor, "user:") {
				t.Errorf("actor %q", it.Actor)
			}
		}
		if len(h) != 4 || !fields["status"] || !fields["assignee_id"] || !fields["tags"] {
			t.Errorf("history = %+v", h)
		}
		f.patch(t, &tk, map[string]any{"assignee_id": nil}, 200, "")
		if tk.AssigneeID != nil {
			t.Errorf("unassign left %v", *tk.AssigneeID)
		}
	})

	t.Run("cross-tenant 404 on every route", func(t *testing.T) {
		tk := f.open(t, f.agentA, "tenant a only", "secret@a.test")
		var cust struct{ ID string }
		f.do(t, "POST", "/customers", f.ownerA, map[string]any{"name": "A person", "email": "person@a.test"}, 201, "").Decode(t, &cust)
		before := f.counts(t)
		for _, r := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/tickets/" + tk.ID, nil},
			{"PATCH", "/tickets/" + tk.ID, map[string]any{"version": 1, "status": "open"}},
			{"GET", "/tickets/" + tk.ID + "/history", nil},
			{"GET", "/tickets/" + tk.ID + "/messages", nil},
			{"POST", "/tickets/" + tk.ID + "/messages", map[string]any{"body": "hi"}},
			{"GET", "/customers/" + cust.ID, nil},
			{"PATCH", "/customers/" + cust.ID, map[string]any{"name": "stolen"}},
		} {
			f.do(t, r.method, r.path, f.ownerB, r.body, 404, "")
		}
		var l struct{ Items []ticket }
		f.do(t, "GET", "/tickets?q=tenant+a+only", f.ownerB, nil, 200, "").Decode(t, &l)
		var cl struct{ Items []any }
		f.do(t, "GET", "/customers?q=secret", f.ownerB, nil, 200, "").Decode(t, &cl)
		if len(l.Items) != 0 || len(cl.Items) != 0 {
			t.Errorf("tenant B lists A's rows: %d tickets, %d customers", len(l.Items), len(cl.Items))
		}
		// Tenant A's agent cannot assign B's owner.
		var meB struct{ ID string }
		f.c.Do("GET", "/api/v1/auth/me", f.ownerB, nil).Decode(t, &meB)
		f.do(t, "PATCH", "/tickets/"+tk.ID, f.agentA, map[string]any{"version": 1, "assignee_id": meB.ID}, 422, "helpdesk.invalid_ticket")
		if after := f.counts(t); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("rows %v -> %v", before, after)
		}
	})

	t.Run("customers see only their own tickets and no notes", func(t *testing.T) {
		var mine ticket
		f.do(t, "POST", "/tickets", f.custA, map[string]any{"subject": "My printer", "message": "It jams."}, 201, "").Decode(t, &mine)
		if mine.Channel != "web" || mine.Status != "new" {
			t.Errorf("customer ticket = %+v", mine)
		}
		other := f.open(t, f.agentA, "someone else", "other@x.test")
		f.do(t, "POST", "/tickets/"+mine.ID+"/messages", f.agentA, map[string]any{"body": "note: VIP", "internal": true}, 201, "")
		f.do(t, "POST", "/tickets/"+mine.ID+"/messages", f.agentA, map[string]any{"body": "Try turning it off."}, 201, "")
		f.do(t, "POST", "/tickets/"+mine.ID+"/messages", f.custA, map[string]any{"body": "Worked!"}, 201, "")
		f.do(t, "POST", "/tickets/"+mine.ID+"/messages", f.custA, map[string]any{"body": "x", "internal": true}, 403, "helpdesk.internal_note_forbidden")

		var msgs struct {
			Items []struct {
				Body     string `json:"body"`
				Internal bool   `json:"internal"`
			}
		}
		f.do(t, "GET", "/tickets/"+mine.ID+"/messages", f.custA, nil, 200, "").Decode(t, &msgs)
		if len(msgs.Items) != 3 {
			t.Errorf("customer sees %d messages, want 3: %+v", len(msgs.Items), msgs.Items)
		}
		for _, m := range msgs.Items {
			if m.Internal || strings.Contains(m.Body, "VIP") {
				t.Errorf("customer sees a note: %+v", m)
			}
		}
		f.do(t, "GET", "/tickets/"+mine.ID+"/messages", f.agentA, nil, 200, "").Decode(t, &msgs)
		if len(msgs.Items) != 4 {
			t.Errorf("agent sees %d messages, want 4", len(msgs.Items))
		}

		var l struct{ Items []ticket }
		f.do(t, "GET", "/tickets", f.custA, nil, 200, "").Decode(t, &l)
		if len(l.Items) != 1 || l.Items[0].ID != mine.ID {
			t.Errorf("customer lists %+v", l.Items)
		}
		f.do(t, "GET", "/tickets", f.cust2A, nil, 200, "").Decode(t, &l)
		if len(l.Items) != 0 {
			t.Errorf("another customer lists %+v", l.Items)
		}
		for _, r := range []struct {
			method, path, token string
			body                any
			want                int
		}{
			{"GET", "/tickets/" + other.ID, f.custA, nil, 404},
			{"GET", "/tickets/" + mine.ID, f.cust2A, nil, 404},
			{"GET", "/tickets/" + other.ID + "/messages", f.custA, nil, 404},
			{"POST", "/tickets/" + other.ID + "/messages", f.custA, map[string]any{"body": "me too"}, 404},
			{"GET", "/tickets/" + mine.ID, f.custA, nil, 200},
			{"PATCH", "/tickets/" + mine.ID, f.custA, map[string]any{"version": 1, "status": "solved"}, 403},
			{"GET", "/tickets/" + mine.ID + "/history", f.custA, nil, 403},
			{"GET", "/customers", f.custA, nil, 403},
			{"POST", "/customers", f.custA, map[string]any{"name": "x"}, 403},
			{"POST", "/tickets", f.custA, map[string]any{"subject": "s", "message": "m",
				"requester": map[string]string{"email": "victim@x.test"}}, 422},
		} {
			f.do(t, r.method, r.path, r.token, r.body, r.want, "")
		}
	})

	t.Run("a customer's reply reopens a pending or solved ticket", func(t *testing.T) {
		var tk ticket
		f.do(t, "POST", "/tickets", f.custA, map[string]any{"subject": "Reopen me", "message": "It broke."}, 201, "").Decode(t, &tk)
		get := func() ticket {
			var out ticket
			f.do(t, "GET", "/tickets/"+tk.ID, f.agentA, nil, 200, "").Decode(t, &out)
			return out
		}
		reply := func(token string) {
			f.do(t, "POST", "/tickets/"+tk.ID+"/messages", token, map[string]any{"body": "About this..."}, 201, "")
		}
		for _, c := range []struct{ set, replier, want string }{
			{"pending", "agent", "pending"}, // an agent's reply moves nothing
			{"", "customer", "open"},        // the customer answers the pending ticket
			{"solved", "customer", "open"},
			{"on_hold", "customer", "on_hold"}, // waits for a third party
			{"open", "customer", "open"},
		} {
			if c.set != "" {
				tk = get()
				f.patch(t, &tk, map[string]any{"status": c.set}, 200, "")
			}
			before := len(f.bus.topics())
			token := f.custA
			if c.replier == "agent" {
				token = f.agentA
			}
			reply(token)
			got := get()
			if got.Status != c.want {
				t.Fatalf("after the %s's reply to a %s ticket: %s, want %s", c.replier, c.set, got.Status, c.want)
			}
			if c.want == "open" && got.SolvedAt != nil {
				t.Errorf("the reopened ticket keeps solved_at %s", *got.SolvedAt)
			}
			topics := f.bus.topics()[before:]
			reopened := c.replier == "customer" && (c.set == "" || c.set == "solved")
			if want := []string{helpdesk.TopicTicketReplied}; !reopened && !slices.Equal(topics, want) {
				t.Errorf("events %v, want %v", topics, want)
			}
			if reopened && (len(topics) < 2 || topics[0] != helpdesk.TopicTicketReplied || topics[1] != helpdesk.TopicTicketUpdated) {
				t.Errorf("events %v, want the reply and then the update", topics)
			}
		}
		// The reopening is in the history, as the customer's.
		h := f.history(t, tk.ID)
		var reopens int
		for _, it := range h {
			if it.Field == "status" && it.New != nil && *it.New == "open" && it.Old != nil && (*it.Old == "pending" || *it.Old == "solved") {
				reopens++
				if it.Actor == "user:"+f.agentAID {
					t.Errorf("the reopening is the agent's: %+v", it)
				}
			}
		}
		if reopens != 2 {
			t.Errorf("%d reopenings in the history, want 2: %+v", reopens, h)
		}
	})

	t.Run("a reply moves the ticket's last update, not its version", func(t *testing.T) {
		type stamp struct {
			Version   int       `json:"version"`
			UpdatedAt time.Time `json:"updated_at"`
		}
		get := func(id string) stamp {
			var s stamp
			f.do(t, "GET", "/tickets/"+id, f.agentA, nil, 200, "").Decode(t, &s)
			return s
		}
		var older, newer ticket
		f.do(t, "POST", "/tickets", f.custA, map[string]any{"subject": "Older", "message": "1"}, 201, "").Decode(t, &older)
		f.do(t, "POST", "/tickets", f.custA, map[string]any{"subject": "Newer", "message": "2"}, 201, "").Decode(t, &newer)
		first := func() string {
			ids := f.list(t, f.agentA, "requester="+older.RequesterID+"&sort=updated_at&order=desc&limit=2")
			if len(ids) == 0 {
				t.Fatal("no tickets")
			}
			return ids[0]
		}
		if got := first(); got != newer.ID {
			t.Fatalf("the last updated ticket is %s, want the newer %s", got, newer.ID)
		}
		for _, c := range []struct {
			who, token string
			body       map[string]any
		}{
			{"an agent's reply", f.agentA, map[string]any{"body": "On it."}},
			{"an internal note", f.agentA, map[string]any{"body": "Note.", "internal": true}},
			{"the customer's reply", f.custA, map[string]any{"body": "Thanks."}},
		} {
			target := older.ID
			if first() == older.ID {
				target = newer.ID
			}
			before := get(target)
			f.do(t, "POST", "/tickets/"+target+"/messages", c.token, c.body, 201, "")
			after := get(target)
			if !after.UpdatedAt.After(before.UpdatedAt) || after.Version != before.Version {
				t.Errorf("after %s: %+v, before %+v; want a later updated_at and the same version", c.who, after, before)
			}
			if got := first(); got != target {
				t.Errorf("after %s the last updated ticket is %s, want %s", c.who, got, target)
			}
		}
	})

	t.Run("search and cursor pages", func(t *testing.T) {
		for _, c := range []map[string]any{
			{"name": "Zelda Fitzgerald", "email": "zelda@search.test", "phone": "+43 660 1234567"},
			{"name": "Scott", "email": "scott@search.test", "phone": "+1 555 0100"},
		} {
			f.do(t, "POST", "/customers", f.agentA, c, 201, "")
		}
		for q, want := range map[string]int{"zelda": 1, "FITZ": 1, "search.test": 2, "555": 1, "nobody": 0, "100%": 0} {
			var l struct{ Items []struct{ Name string } }
			f.do(t, "GET", "/customers?q="+strings.ReplaceAll(q, "%", "%25"), f.agentA, nil, 200, "").Decode(t, &l)
			if len(l.Items) != want {
				t.Errorf("q=%s: %d customers, want %d", q, len(l.Items), want)
			}
		}
		var ids []string
		for i := range 5 {
			tk := f.open(t, f.agentA, fmt.Sprintf("paging %d", i), "pager@x.test")
			ids = append([]string{tk.ID}, ids...) // newest first
		}
		var got []string
		cursor := ""
		for page := 0; page < 5; page++ {
			var l struct {
				Items      []ticket
				NextCursor *string `json:"next_cursor"`
			}
			f.do(t, "GET", "/tickets?q=paging&limit=2&cursor="+cursor, f.agentA, nil, 200, "").Decode(t, &l)
			for _, it := range l.Items {
				got = append(got, it.ID)
			}
			if l.NextCursor == nil {
				break
			}
			cursor = *l.NextCursor
		}
		if fmt.Sprint(got) != fmt.Sprint(ids) {
			t.Errorf("pages = %v, want %v", got, ids)
		}
		var cust struct {
			ID      string
			Tickets []ticket
		}
		var l struct{ Items []struct{ ID string } }
		f.do(t, "GET", "/customers?q=pager@x.test", f.agentA, nil, 200, "").Decode(t, &l)
		f.do(t, "GET", "/customers/"+l.Items[0].ID, f.agentA, nil, 200, "").Decode(t, &cust)
		if len(cust.Tickets) != 5 || cust.Tickets[0].ID != ids[0] {
			t.Errorf("customer has %d tickets, want 5", len(cust.Tickets))
		}
		var filtered struct{ Items []ticket }
		f.do(t, "GET", "/tickets?status=closed&priority=normal", f.agentA, nil, 200, "").Decode(t, &filtered)
		for _, it := range filtered.Items {
			if it.Status != "closed" {
				t.Errorf("status filter let through %+v", it)
			}
		}
		assigned := f.open(t, f.agentA, "assigned", "pager@x.test")
		f.patch(t, &assigned, map[string]any{"assignee_id": f.agentAID}, 200, "")
		f.do(t, "GET", "/tickets?assignee="+f.agentAID, f.agentA, nil, 200, "").Decode(t, &filtered)
		if len(filtered.Items) != 1 || filtered.Items[0].ID != assigned.ID {
			t.Errorf("no ticket assigned to the agent")
		}
		f.do(t, "GET", "/tickets?limit=0", f.agentA, nil, 422, "invalid_query")
		f.do(t, "GET", "/customers?q="+strings.Repeat("x", 201), f.agentA, nil, 422, "invalid_query")
		f.do(t, "GET", "/tickets?cursor=bogus", f.agentA, nil, 400, "helpdesk.invalid_cursor")
		f.do(t, "GET", "/tickets?status=lost", f.agentA, nil, 422, "invalid_query")
	})

	t.Run("bad input writes nothing", func(t *testing.T) {
		tk := f.open(t, f.agentA, "target", "target@x.test")
		var org struct{ ID string }
		f.do(t, "POST", "/organizations", f.ownerA, map[string]any{"name": "Acme", "attributes": map[string]any{"tier": "gold"}}, 201, "").Decode(t, &org)
		var orgs struct{ Items []struct{ Name string } }
		f.do(t, "GET", "/organizations?q=acm", f.agentA, nil, 200, "").Decode(t, &orgs)
		if len(orgs.Items) != 1 {
			t.Errorf("organizations = %+v", orgs.Items)
		}
		var cust struct{ ID string }
		f.do(t, "POST", "/customers", f.agentA, map[string]any{"email": "Member@Acme.test", "organization_id": org.ID}, 201, "").Decode(t, &cust)
		before := f.counts(t)
		for _, r := range []struct {
			method, path string
			body         any
			want         int
		}{
			{"POST", "/tickets", `{"subject": "x"`, 400},
			{"POST", "/tickets", map[string]any{"subject": "x", "message": "m", "tenant_id": "other"}, 400},
			{"POST", "/tickets", map[string]any{"subject": "", "message": "m", "requester": map[string]string{"email": "a@b.test"}}, 422},
			{"POST", "/tickets", map[string]any{"subject": "s", "message": "m"}, 422},
			{"POST", "/tickets", map[string]any{"subject": "s", "message": "m", "requester": map[string]string{"email": "not-an-email"}}, 422},
			{"POST", "/tickets", map[string]any{"subject": "s", "message": "m", "priority": "asap", "requester": map[string]string{"email": "a@b.test"}}, 422},
			{"POST", "/tickets", map[string]any{"subject": "s", "message": "m", "channel": "fax", "requester": map[string]string{"email": "a@b.test"}}, 422},
			{"PATCH", "/tickets/" + tk.ID, map[string]any{"version": 1, "status": "archived"}, 422},
			{"PATCH", "/tickets/" + tk.ID, map[string]any{"version": 1, "priority": "low", "subject": " "}, 422},
			{"PATCH", "/tickets/" + tk.ID, map[string]any{"version": 1, "assignee_id": "not-a-uuid"}, 422},
			{"PATCH", "/tickets/" + tk.ID, map[string]any{"version": "1"}, 400},
			{"PATCH", "/tickets/not-a-uuid", map[string]any{"version": 1}, 404},
			{"POST", "/tickets/" + tk.ID + "/messages", map[string]any{"body": "  "}, 422},
			{"POST", "/customers", map[string]any{"email": "bad"}, 422},
			{"POST", "/customers", map[string]any{"phone": "123"}, 422},
			{"POST", "/customers", map[string]any{"email": "member@acme.test"}, 409},
			{"POST", "/customers", map[string]any{"name": "x", "organization_id": "00000000-0000-7000-8000-000000000000"}, 422},
			{"POST", "/customers", map[string]any{"name": "x", "attributes": []int{1}}, 422},
			{"PATCH", "/customers/" + cust.ID, map[string]any{"email": "target@x.test"}, 409},
			{"POST", "/organizations", map[string]any{"name": ""}, 422},
		} {
			f.do(t, r.method, r.path, f.agentA, r.body, r.want, "")
		}
		if after := f.counts(t); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("rows %v -> %v", before, after)
		}
	})

	t.Run("events in the transaction", func(t *testing.T) {
		sent := len(f.bus.Sent())
		tk := f.open(t, f.agentA, "evented", "events@x.test")
		f.patch(t, &tk, map[string]any{"status": "open"}, 200, "")
		f.do(t, "POST", "/tickets/"+tk.ID+"/messages", f.agentA, map[string]any{"body": "hello"}, 201, "")
		got := f.bus.topics()[sent:]
		want := []string{helpdesk.TopicTicketCreated, helpdesk.TopicTicketUpdated, helpdesk.TopicTicketReplied}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("topics = %v, want %v", got, want)
		}
		for i, in := range f.bus.inTx {
			if !in {
				t.Errorf("publish %d ran outside a transaction", i)
			}
		}
		var ev helpdesk.TicketEvent
		if err := f.bus.Sent()[sent+1].Decode(&ev); err != nil || ev.TicketID != tk.ID || ev.Status != "open" ||
			ev.Version != 2 || fmt.Sprint(ev.Changed) != "[status]" {
			t.Errorf("ticket_updated = %+v (%v)", ev, err)
		}
		if m := f.bus.Sent()[sent]; m.TenantID != f.ta {
			t.Errorf("event tenant %q, want %q", m.TenantID, f.ta)
		}

		// A failed publish rolls the write back.
		before := f.counts(t)
		f.bus.setFail(errBusDown)
		defer f.bus.setFail(nil)
		f.do(t, "POST", "/tickets", f.agentA, map[string]any{"subject": "lost", "message": "m",
			"requester": map[string]string{"email": "new-person@x.test"}}, 500, "")
		f.do(t, "PATCH", "/tickets/"+tk.ID, f.agentA, map[string]any{"version": 2, "status": "solved"}, 500, "")
		f.do(t, "POST", "/tickets/"+tk.ID+"/messages", f.agentA, map[string]any{"body": "lost"}, 500, "")
		if after := f.counts(t); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("a failed publish left rows: %v -> %v", before, after)
		}
	})
}
