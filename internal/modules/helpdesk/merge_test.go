package helpdesk_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/platform/platform/internal/modules/helpdesk"
)

type mergedTicket struct {
	ticket
	MergedInto *string `json:"merged_into_id"`
}

type messages struct {
	Items []struct {
		TicketID string `json:"ticket_id"`
		Body     string `json:"body"`
		Internal bool   `json:"internal"`
	}
}

func (f *fixture) historyFields(t *testing.T, id string) []string {
	t.Helper()
	var h struct {
		Items []struct {
			Field    string
			Old, New *string
		}
	}
	f.do(t, "GET", "/tickets/"+id+"/history", f.agentA, nil, 200, "").Decode(t, &h)
	var out []string
	for _, it := range h.Items {
		out = append(out, fmt.Sprintf("%s:%s>%s", it.Field, deref(it.Old), deref(it.New)))
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

// workflowCounts is counts with the workflow tables.
func (f *fixture) workflowCounts(t *testing.T) string {
	out := f.counts(t)
	for _, tb := range []string{"helpdesk_ticket_links", "helpdesk_ticket_followers", "helpdesk_groups", "helpdesk_group_members",
		"helpdesk_macros", "helpdesk_canned_responses"} {
		out[tb] = f.count(t, tb)
	}
	return fmt.Sprint(out)
}

func TestMergeAndLinks(t *testing.T) {
	f := newFlowFixture(t)

	t.Run("merge closes the source and shows its conversation on the target", func(t *testing.T) {
		src := f.open(t, f.agentA, "printer jams", "cust@a.test")    // custA's
		dst := f.open(t, f.agentA, "printer broken", "cust2@a.test") // cust2A's
		f.do(t, "POST", "/tickets/"+src.ID+"/messages", f.custA, map[string]any{"body": "still jammed"}, 201, "")
		f.do(t, "POST", "/tickets/"+src.ID+"/messages", f.agentA, map[string]any{"body": "vip customer", "internal": true}, 201, "")
		sent := len(f.bus.Sent())
		var got mergedTicket
		f.do(t, "POST", "/tickets/"+src.ID+"/merge", f.agentA, map[string]any{"into_id": dst.ID}, 200, "").Decode(t, &got)
		if got.Status != "closed" || got.MergedInto == nil || *got.MergedInto != dst.ID || got.Version != 2 || got.ClosedAt == nil {
			t.Fatalf("merged source = %+v", got)
		}
		var target mergedTicket
		f.do(t, "GET", "/tickets/"+dst.ID, f.agentA, nil, 200, "").Decode(t, &target)
		if target.Status != "new" || target.MergedInto != nil || target.Version != 2 {
			t.Errorf("target = %+v", target)
		}
		if h := f.historyFields(t, src.ID); fmt.Sprint(h) != fmt.Sprintf("[status:->new status:new>closed merged_into_id:->%s]", dst.ID) {
			t.Errorf("source history = %v", h)
		}
		if h := f.historyFields(t, dst.ID); fmt.Sprint(h) != fmt.Sprintf("[status:->new merged_from:->%s]", src.ID) {
			t.Errorf("target history = %v", h)
		}
		if got := f.bus.topics()[sent:]; fmt.Sprint(got) != "[helpdesk.ticket_updated helpdesk.ticket_updated]" {
			t.Errorf("topics = %v", got)
		}

		// Agents see both conversations on the target, each message with
		// its own ticket, and a note on each side.
		var ms messages
		f.do(t, "GET", "/tickets/"+dst.ID+"/messages", f.agentA, nil, 200, "").Decode(t, &ms)
		from := map[string]int{}
		var notes []string
		for _, m := range ms.Items {
			from[m.TicketID]++
			if m.Internal && strings.Contains(m.Body, "merged") || strings.Contains(m.Body, "Merged") {
				notes = append(notes, m.TicketID)
			}
		}
		if from[src.ID] != 4 || from[dst.ID] != 2 || len(notes) != 2 {
			t.Errorf("target conversation: %d from source (want 4), %d own (want 2), notes on %v", from[src.ID], from[dst.ID], notes)
		}
		// The source's requester now follows the target, and neither
		// customer sees a note.
		for _, tok := range []string{f.custA, f.cust2A} {
			f.do(t, "GET", "/tickets/"+dst.ID, tok, nil, 200, "")
			f.do(t, "GET", "/tickets/"+dst.ID+"/messages", tok, nil, 200, "").Decode(t, &ms)
			if len(ms.Items) != 3 {
				t.Errorf("customer sees %d messages on the target, want 3", len(ms.Items))
			}
			for _, m := range ms.Items {
				if m.Internal {
					t.Errorf("customer sees a note: %+v", m)
				}
			}
		}
		f.do(t, "POST", "/tickets/"+dst.ID+"/messages", f.custA, map[string]any{"body": "thanks"}, 201, "")
		f.do(t, "POST", "/tickets/"+src.ID+"/messages", f.custA, map[string]any{"body": "late"}, 422, "helpdesk.ticket_closed")
		f.do(t, "GET", "/tickets/"+src.ID, f.cust2A, nil, 404, "") // the target's requester does not follow the source

		// A second merge carries the conversation and the followers on.
		top := f.open(t, f.agentA, "printers everywhere", "boss@x.test")
		f.do(t, "POST", "/tickets/"+dst.ID+"/merge", f.agentA, map[string]any{"into_id": top.ID}, 200, "")
		f.do(t, "GET", "/tickets/"+top.ID+"/messages", f.agentA, nil, 200, "").Decode(t, &ms)
		from = map[string]int{}
		for _, m := range ms.Items {
			from[m.TicketID]++
		}
		if from[src.ID] != 4 || from[dst.ID] != 4 || from[top.ID] != 2 {
			t.Errorf("after a second merge: %v", from)
		}
		f.do(t, "GET", "/tickets/"+top.ID, f.custA, nil, 200, "")
		f.do(t, "GET", "/tickets/"+top.ID, f.cust2A, nil, 200, "")
	})

	t.Run("refused merges are 422, 404 or 403 and write nothing", func(t *testing.T) {
		a := f.open(t, f.agentA, "merge a", "m@x.test")
		b := f.open(t, f.agentA, "merge b", "m@x.test")
		c := f.open(t, f.agentA, "merge c", "m@x.test")
		closed := f.open(t, f.agentA, "merge closed", "m@x.test")
		f.patch(t, &closed, map[string]any{"status": "solved"}, 200, "")
		f.patch(t, &closed, map[string]any{"status": "closed"}, 200, "")
		f.do(t, "POST", "/tickets/"+c.ID+"/merge", f.agentA, map[string]any{"into_id": b.ID}, 200, "")
		other := f.open(t, f.ownerB, "b's", "m@x.test")
		before := f.workflowCounts(t)
		for _, r := range []struct {
			path, token string
			body        any
			want        int
			code        string
		}{
			{"/tickets/" + a.ID + "/merge", f.agentA, map[string]any{"into_id": a.ID}, 422, "helpdesk.merge_into_self"},
			{"/tickets/" + a.ID + "/merge", f.agentA, map[string]any{"into_id": closed.ID}, 422, "helpdesk.merge_closed"},
			{"/tickets/" + a.ID + "/merge", f.agentA, map[string]any{"into_id": c.ID}, 422, "helpdesk.merge_closed"},
			{"/tickets/" + c.ID + "/merge", f.agentA, map[string]any{"into_id": a.ID}, 422, "helpdesk.merge_closed"},
			{"/tickets/" + closed.ID + "/merge", f.agentA, map[string]any{"into_id": a.ID}, 422, "helpdesk.merge_closed"},
			{"/tickets/" + a.ID + "/merge", f.agentA, map[string]any{"into_id": other.ID}, 422, "helpdesk.invalid_merge"},
			{"/tickets/" + a.ID + "/merge", f.agentA, map[string]any{"into_id": "00000000-0000-7000-8000-000000000000"}, 422, "helpdesk.invalid_merge"},
			{"/tickets/" + a.ID + "/merge", f.agentA, map[string]any{"into_id": "nope"}, 422, "helpdesk.invalid_merge"},
			{"/tickets/" + a.ID + "/merge", f.agentA, map[string]any{}, 422, "helpdesk.invalid_merge"},
			{"/tickets/" + a.ID + "/merge", f.agentA, map[string]any{"into": b.ID}, 400, ""},
			{"/tickets/" + a.ID + "/merge", f.ownerB, map[string]any{"into_id": other.ID}, 404, "helpdesk.ticket_not_found"},
			{"/tickets/" + other.ID + "/merge", f.agentA, map[string]any{"into_id": a.ID}, 404, "helpdesk.ticket_not_found"},
			{"/tickets/" + a.ID + "/merge", f.custA, map[string]any{"into_id": b.ID}, 403, ""},
		} {
			f.do(t, "POST", r.path, r.token, r.body, r.want, r.code)
		}
		if after := f.workflowCounts(t); after != before {
			t.Errorf("rows %v -> %v", before, after)
		}
	})

	t.Run("concurrent merges of a pair: one wins, the other sees it", func(t *testing.T) {
		for round := range 5 {
			x := f.open(t, f.agentA, fmt.Sprintf("race x %d", round), "race@x.test")
			y := f.open(t, f.agentA, fmt.Sprintf("race y %d", round), "race@x.test")
			var wg sync.WaitGroup
			res := make([]string, 2)
			for i, p := range [][2]string{{x.ID, y.ID}, {y.ID, x.ID}} {
				wg.Go(func() {
					r := f.c.Do("POST", "/api/v1/helpdesk/tickets/"+p[0]+"/merge", f.agentA, map[string]any{"into_id": p[1]})
					res[i] = fmt.Sprint(r.Status, r.ErrorCode())
				})
			}
			wg.Wait()
			slices.Sort(res)
			if fmt.Sprint(res) != "[200 422helpdesk.merge_closed]" {
				t.Fatalf("round %d: %v", round, res)
			}
			var gx, gy mergedTicket
			f.do(t, "GET", "/tickets/"+x.ID, f.agentA, nil, 200, "").Decode(t, &gx)
			f.do(t, "GET", "/tickets/"+y.ID, f.agentA, nil, 200, "").Decode(t, &gy)
			if (gx.MergedInto == nil) == (gy.MergedInto == nil) {
				t.Fatalf("round %d: x merged %v, y merged %v", round, gx.MergedInto, gy.MergedInto)
			}
		}
	})

	t.Run("links, seen from both sides, with history", func(t *testing.T) {
		a := f.open(t, f.agentA, "incident", "l@x.test")
		b := f.open(t, f.agentA, "problem", "l@x.test")
		c := f.open(t, f.agentA, "related", "l@x.test")
		f.do(t, "POST", "/tickets/"+a.ID+"/links", f.agentA, map[string]any{"ticket_id": b.ID, "kind": "parent"}, 201, "")
		f.do(t, "POST", "/tickets/"+c.ID+"/links", f.agentA, map[string]any{"ticket_id": a.ID, "kind": "related"}, 201, "")
		type links struct{ Items []helpdesk.Link }
		var la, lb links
		f.do(t, "GET", "/tickets/"+a.ID+"/links", f.agentA, nil, 200, "").Decode(t, &la)
		f.do(t, "GET", "/tickets/"+b.ID+"/links", f.agentA, nil, 200, "").Decode(t, &lb)
		if len(la.Items) != 2 || la.Items[0].TicketID != b.ID || la.Items[0].Kind != "parent" ||
			la.Items[1].TicketID != c.ID || la.Items[1].Kind != "related" {
			t.Errorf("links of a = %+v", la.Items)
		}
		if len(lb.Items) != 1 || lb.Items[0].TicketID != a.ID || lb.Items[0].Kind != "child" || lb.Items[0].CreatedBy != "user:"+f.agentAID {
			t.Errorf("links of b = %+v", lb.Items)
		}
		if h := f.historyFields(t, b.ID); fmt.Sprint(h) != fmt.Sprintf("[status:->new links:->child:%s]", a.ID) {
			t.Errorf("history of b = %v", h)
		}
		before := f.workflowCounts(t)
		for _, r := range []struct {
			method, path, token string
			body                any
			want                int
			code                string
		}{
			{"POST", "/tickets/" + b.ID + "/links", f.agentA, map[string]any{"ticket_id": a.ID, "kind": "related"}, 409, "helpdesk.link_exists"},
			{"POST", "/tickets/" + a.ID + "/links", f.agentA, map[string]any{"ticket_id": a.ID, "kind": "related"}, 422, "helpdesk.link_to_self"},
			{"POST", "/tickets/" + a.ID + "/links", f.agentA, map[string]any{"ticket_id": c.ID, "kind": "cousin"}, 422, "helpdesk.invalid_link"},
			{"POST", "/tickets/" + a.ID + "/links", f.agentA, map[string]any{"ticket_id": "00000000-0000-7000-8000-000000000000", "kind": "related"}, 422, "helpdesk.invalid_link"},
			{"POST", "/tickets/" + a.ID + "/links", f.agentA, map[string]any{"ticket_id": c.ID, "kind": 1}, 400, ""},
			{"POST", "/tickets/" + a.ID + "/links", f.ownerB, map[string]any{"ticket_id": c.ID, "kind": "related"}, 404, ""},
			{"GET", "/tickets/" + a.ID + "/links", f.ownerB, nil, 404, ""},
			{"DELETE", "/tickets/" + a.ID + "/links/" + b.ID, f.ownerB, nil, 404, ""},
			{"GET", "/tickets/" + a.ID + "/links", f.custA, nil, 403, ""},
			{"POST", "/tickets/" + a.ID + "/links", f.custA, map[string]any{"ticket_id": c.ID, "kind": "related"}, 403, ""},
			{"DELETE", "/tickets/" + a.ID + "/links/" + b.ID, f.custA, nil, 403, ""},
			{"DELETE", "/tickets/" + b.ID + "/links/" + c.ID, f.agentA, nil, 404, "helpdesk.link_not_found"},
		} {
			f.do(t, r.method, r.path, r.token, r.body, r.want, r.code)
		}
		if after := f.workflowCounts(t); after != before {
			t.Errorf("rows %v -> %v", before, after)
		}
		f.do(t, "DELETE", "/tickets/"+b.ID+"/links/"+a.ID, f.agentA, nil, 204, "")
		f.do(t, "GET", "/tickets/"+a.ID+"/links", f.agentA, nil, 200, "").Decode(t, &la)
		if len(la.Items) != 1 || la.Items[0].TicketID != c.ID {
			t.Errorf("after unlink: %+v", la.Items)
		}
		if h := f.historyFields(t, a.ID); len(h) != 4 || h[3] != "links:parent:"+b.ID+">-" {
			t.Errorf("history of a = %v", h)
		}
	})
}
