package helpdesk_test

import (
	"strings"
	"testing"
	"time"

	"github.com/platform/platform/internal/modules/helpdesk"
)

// The satisfaction report counts the tenant's ratings given in a period
// (the last 30 days by default), in all, by agent and by group, with the
// latest comments; bad periods are 422 and customers get 403. The
// backoffice shows the same.
func TestCSATReport(t *testing.T) {
	t0 := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	f := newFixture(t, helpdesk.WithClock(clock.now))
	var g struct{ ID string }
	f.do(t, "POST", "/groups", f.ownerA, map[string]any{"name": "Billing"}, 201, "").Decode(t, &g)
	rate := func(token, subject, assignee, group, rating, comment string, at time.Time) string {
		t.Helper()
		var tk ticket
		f.do(t, "POST", "/tickets", token, map[string]any{"subject": subject, "message": "x",
			"requester": map[string]string{"email": subject + "@c.test"}}, 201, "").Decode(t, &tk)
		set := map[string]any{"csat_rating": rating, "csat_comment": comment, "csat_at": at}
		if assignee != "" {
			set["assignee_id"] = assignee
		}
		if group != "" {
			set["group_id"] = group
		}
		if err := f.k.DB.Conn(t.Context()).Table("helpdesk_tickets").Where("id = ?", tk.ID).Updates(set).Error; err != nil {
			t.Fatal(err)
		}
		return tk.ID
	}
	rate(f.agentA, "great", f.agentAID, g.ID, "good", "Great help", t0.Add(-48*time.Hour))
	rate(f.agentA, "slow", f.agentAID, "", "bad", "Too slow", t0.Add(-24*time.Hour))
	rate(f.agentA, "nocomment", "", "", "good", "", t0.Add(-time.Hour))
	rate(f.agentA, "old", "", "", "bad", "Long ago", t0.Add(-40*24*time.Hour))
	rate(f.ownerB, "btenant", "", "", "bad", "B's", t0.Add(-time.Hour))

	type row struct {
		ID, Name  string
		Good, Bad int
		Score     *float64
	}
	var r struct {
		From, To   time.Time
		Good, Bad  int
		Score      *float64
		ByAssignee []row `json:"by_assignee"`
		ByGroup    []row `json:"by_group"`
		Comments   []struct{ TicketID, Subject, Rating, Comment string }
	}
	f.do(t, "GET", "/reports/csat", f.agentA, nil, 200, "").Decode(t, &r)
	if r.Good != 2 || r.Bad != 1 || r.Score == nil || *r.Score < 0.66 || *r.Score > 0.67 || !r.To.Equal(t0) || !r.From.Equal(t0.Add(-30*24*time.Hour)) {
		t.Fatalf("the last 30 days: %+v", r)
	}
	byID := func(rows []row) map[string]row {
		out := map[string]row{}
		for _, x := range rows {
			out[x.ID] = x
		}
		return out
	}
	if a := byID(r.ByAssignee); len(a) != 2 || a[f.agentAID].Good != 1 || a[f.agentAID].Bad != 1 || a[f.agentAID].Name == "" ||
		a[""].Name != "Unassigned" || a[""].Good != 1 {
		t.Errorf("by assignee: %+v", r.ByAssignee)
	}
	if gr := byID(r.ByGroup); len(gr) != 2 || gr[g.ID].Name != "Billing" || gr[g.ID].Good != 1 || gr[""].Bad != 1 || gr[""].Good != 1 {
		t.Errorf("by group: %+v", r.ByGroup)
	}
	if len(r.Comments) != 2 || r.Comments[0].Comment != "Too slow" || r.Comments[1].Comment != "Great help" {
		t.Errorf("comments: %+v", r.Comments)
	}
	f.do(t, "GET", "/reports/csat?from=2026-10-01&to=2026-12-10", f.ownerA, nil, 200, "").Decode(t, &r)
	if r.Good != 2 || r.Bad != 2 || !r.To.Equal(time.Date(2026, 12, 11, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("from October: %+v", r)
	}
	f.do(t, "GET", "/reports/csat?from=2026-12-10T10:30:00Z", f.ownerA, nil, 200, "").Decode(t, &r)
	if r.Good != 1 || r.Bad != 0 || len(r.ByAssignee) != 1 || r.ByAssignee[0].Name != "Unassigned" {
		t.Errorf("the last hour and a half: %+v", r)
	}
	f.do(t, "GET", "/reports/csat", f.ownerB, nil, 200, "").Decode(t, &r)
	if r.Good != 0 || r.Bad != 1 || len(r.Comments) != 1 || r.Comments[0].Comment != "B's" {
		t.Errorf("tenant B: %+v", r)
	}
	for _, q := range []string{"?from=yesterday", "?to=2026-13-01", "?from=2026-12-10&to=2026-12-01", "?from=2025-01-01&to=2026-12-01",
		"?by=agent"} {
		f.do(t, "GET", "/reports/csat"+q, f.agentA, nil, 422, "invalid_query")
	}
	f.do(t, "GET", "/reports/csat", f.custA, nil, 403, "")

	agent := f.browser(t, "agent@a.test")
	agent.In(t)
	p := agent.Get("/admin/helpdesk/reports")
	for _, want := range []string{`<strong>67%</strong> satisfied: 2 good and 1 bad`, "Billing", "Unassigned", "Too slow", `value="2026-11-10"`, `value="2026-12-10"`} {
		if p.Status != 200 || !strings.Contains(p.Body, want) {
			t.Errorf("the report page (%d) lacks %q:\n%s", p.Status, want, p.Body)
		}
	}
	p = agent.Get("/admin/helpdesk/reports?from=2026-12-10&to=2026-12-01")
	if p.Status != 422 || !strings.Contains(p.Body, "must be later than from") || !strings.Contains(p.Body, `value="2026-12-01"`) {
		t.Errorf("a bad period (%d):\n%s", p.Status, p.Body)
	}
}
