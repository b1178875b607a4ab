package helpdesk_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/platform/platform/internal/kernel/kerneltest"
)

type savedView struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Filters map[string]string `json:"filters"`
	Sort    string            `json:"sort"`
	Order   string            `json:"order"`
	Shared  bool              `json:"shared"`
	OwnerID string            `json:"owner_id"`
}

func (f *fixture) viewNames(t *testing.T, token string) []string {
	t.Helper()
	var l struct{ Items []savedView }
	f.do(t, "GET", "/views", token, nil, 200, "").Decode(t, &l)
	names := []string{}
	for _, v := range l.Items {
		names = append(names, v.Name)
	}
	return names
}

func TestSavedViews(t *testing.T) {
	f := newFixture(t)
	urgent := f.open(t, f.agentA, "urgent mine", "v1@x.test")
	f.patch(t, &urgent, map[string]any{"priority": "urgent", "assignee_id": f.agentAID, "status": "open"}, 200, "")
	other := f.open(t, f.agentA, "urgent unassigned", "v2@x.test")
	f.patch(t, &other, map[string]any{"priority": "urgent", "status": "open"}, 200, "")
	low := f.open(t, f.agentA, "low mine", "v3@x.test")
	f.patch(t, &low, map[string]any{"priority": "low", "assignee_id": f.agentAID}, 200, "")

	var mine, team savedView
	f.do(t, "POST", "/views", f.agentA, map[string]any{"name": "My open", "filters": map[string]string{"assignee": "me",
		"status": "new,open"}, "sort": "priority", "order": "desc"}, 201, "").Decode(t, &mine)
	if mine.Shared || mine.OwnerID != f.agentAID || mine.Filters["assignee"] != "me" || mine.Sort != "priority" {
		t.Errorf("view = %+v", mine)
	}
	f.do(t, "POST", "/views", f.agentA, map[string]any{"name": "Urgent", "filters": map[string]string{"priority": "urgent"},
		"sort": "created_at", "order": "asc", "shared": true}, 201, "").Decode(t, &team)

	// Applying a view: its filters and sort; explicit parameters override.
	if got := f.list(t, f.agentA, "view="+mine.ID); !slices.Equal(got, []string{urgent.ID, low.ID}) {
		t.Errorf("my open: %v", got)
	}
	if got := f.list(t, f.agentA, "view="+mine.ID+"&order=asc"); !slices.Equal(got, []string{low.ID, urgent.ID}) {
		t.Errorf("my open, oldest priority first: %v", got)
	}
	if got := f.list(t, f.agentA, "view="+mine.ID+"&status=new"); !slices.Equal(got, []string{low.ID}) {
		t.Errorf("my open, status=new: %v", got)
	}
	if got := f.list(t, f.agentA, "view="+team.ID); !slices.Equal(got, []string{urgent.ID, other.ID}) {
		t.Errorf("urgent: %v", got)
	}
	if got := f.walk(t, f.agentA, "view="+team.ID+"&limit=1"); !slices.Equal(got, []string{urgent.ID, other.ID}) {
		t.Errorf("urgent, a page each: %v", got)
	}
	// "me" is whoever applies the view.
	if got := f.list(t, f.ownerA, "view="+team.ID+"&assignee=me"); len(got) != 0 {
		t.Errorf("owner's urgent: %v", got)
	}

	// Private views are the agent's; shared ones the tenant staff's.
	if got := f.viewNames(t, f.agentA); !slices.Equal(got, []string{"My open", "Urgent"}) {
		t.Errorf("agent's views: %v", got)
	}
	if got := f.viewNames(t, f.ownerA); !slices.Equal(got, []string{"Urgent"}) {
		t.Errorf("owner's views: %v", got)
	}
	f.do(t, "GET", "/views/"+mine.ID, f.ownerA, nil, 404, "helpdesk.view_not_found")
	f.do(t, "GET", "/tickets?view="+mine.ID, f.ownerA, nil, 404, "helpdesk.view_not_found")
	f.do(t, "GET", "/views/"+team.ID, f.ownerA, nil, 200, "")
	// Another tenant and customers see no view at all.
	if got := f.viewNames(t, f.ownerB); len(got) != 0 {
		t.Errorf("tenant B's views: %v", got)
	}
	for _, id := range []string{mine.ID, team.ID} {
		f.do(t, "GET", "/views/"+id, f.ownerB, nil, 404, "")
		f.do(t, "GET", "/tickets?view="+id, f.ownerB, nil, 404, "helpdesk.view_not_found")
		f.do(t, "PATCH", "/views/"+id, f.ownerB, map[string]any{"name": "stolen"}, 404, "")
		f.do(t, "DELETE", "/views/"+id, f.ownerB, nil, 404, "")
		f.do(t, "GET", "/tickets?view="+id, f.custA, nil, 404, "helpdesk.view_not_found")
	}
	f.do(t, "GET", "/views", f.custA, nil, 403, "")
	f.do(t, "POST", "/views", f.custA, map[string]any{"name": "x"}, 403, "")

	// Changing: the owner; a shared view also a tenant owner, not another agent.
	var renamed savedView
	f.do(t, "PATCH", "/views/"+mine.ID, f.agentA, map[string]any{"name": "Mine", "filters": map[string]string{"assignee": "me"}},
		200, "").Decode(t, &renamed)
	if renamed.Name != "Mine" || len(renamed.Filters) != 1 || renamed.Sort != "priority" {
		t.Errorf("renamed = %+v", renamed)
	}
	if got := f.list(t, f.agentA, "view="+mine.ID); !slices.Equal(got, []string{urgent.ID, low.ID}) {
		t.Errorf("mine: %v", got)
	}
	f.do(t, "PATCH", "/views/"+team.ID, f.ownerA, map[string]any{"shared": true, "name": "Urgent!"}, 200, "")
	agent2 := f.c.CreateUser(f.c.Login(kerneltest.AdminEmail, kerneltest.AdminPassword), f.ta, "agent2@a.test", "agent")
	f.do(t, "GET", "/views/"+team.ID, agent2, nil, 200, "")
	f.do(t, "PATCH", "/views/"+team.ID, agent2, map[string]any{"name": "mine now"}, 403, "helpdesk.view_not_yours")
	f.do(t, "DELETE", "/views/"+team.ID, agent2, nil, 403, "helpdesk.view_not_yours")
	f.do(t, "PATCH", "/views/"+mine.ID, f.ownerA, map[string]any{"name": "x"}, 404, "")

	// Filters naming a group, agent or customer of another desk (or of
	// none) are refused; this desk's are kept.
	var groupA, groupB struct{ ID string }
	f.do(t, "POST", "/groups", f.ownerA, map[string]any{"name": "Desk A"}, 201, "").Decode(t, &groupA)
	f.do(t, "POST", "/groups", f.ownerB, map[string]any{"name": "Desk B"}, 201, "").Decode(t, &groupB)
	var custB ticket
	f.do(t, "POST", "/tickets", f.ownerB, map[string]any{"subject": "b", "message": "b", "requester": map[string]string{"email": "b@b.test"}},
		201, "").Decode(t, &custB)
	var ownerB struct{ ID string }
	f.c.Do("GET", "/api/v1/auth/me", f.ownerB, nil).Decode(t, &ownerB)
	var deskA savedView
	f.do(t, "POST", "/views", f.agentA, map[string]any{"name": "Desk A's", "filters": map[string]string{"group": groupA.ID + ",none",
		"requester": urgent.RequesterID, "assignee": f.agentAID + ",none"}}, 201, "").Decode(t, &deskA)
	if got := f.list(t, f.agentA, "view="+deskA.ID); !slices.Contains(got, urgent.ID) {
		t.Errorf("desk A's view lists %v, want %s among them", got, urgent.ID)
	}
	f.do(t, "DELETE", "/views/"+deskA.ID, f.agentA, nil, 204, "")
	refs := []struct {
		body  any
		field string
	}{
		{map[string]any{"name": "x", "filters": map[string]string{"group": groupB.ID}}, "filters.group"},
		{map[string]any{"name": "x", "filters": map[string]string{"group": groupA.ID + "," + uuid.NewString()}}, "filters.group"},
		{map[string]any{"name": "x", "filters": map[string]string{"assignee": ownerB.ID}}, "filters.assignee"},
		{map[string]any{"name": "x", "filters": map[string]string{"requester": custB.RequesterID}}, "filters.requester"},
	}

	// Bad input: 400 or 422 with details, nothing written.
	before := f.counts(t)
	nBefore := f.count(t, "helpdesk_views")
	for _, tc := range []struct {
		body  any
		want  int
		field string
	}{
		{map[string]any{"name": ""}, 422, "name"},
		{map[string]any{"name": strings.Repeat("n", 101)}, 422, "name"},
		{map[string]any{"name": "x", "filters": map[string]string{"status": "lost"}}, 422, "filters.status"},
		{map[string]any{"name": "x", "filters": map[string]string{"colour": "red"}}, 422, "filters.colour"},
		{map[string]any{"name": "x", "filters": map[string]string{"cursor": "abc"}}, 422, "filters.cursor"},
		{map[string]any{"name": "x", "filters": map[string]string{"sort": "priority"}}, 422, "filters.sort"},
		{map[string]any{"name": "x", "sort": "subject"}, 422, "sort"},
		{map[string]any{"name": "x", "sort": "relevance"}, 422, "sort"},
		{map[string]any{"name": "x", "order": "sideways"}, 422, "order"},
		{map[string]any{"name": "x", "filters": map[string]string{"created_after": "soon"}}, 422, "filters.created_after"},
		{map[string]any{"name": "x", "filters": map[string]any{"status": 3}}, 400, ""},
		{map[string]any{"name": "x", "colour": "red"}, 400, ""},
		{map[string]any{"name": 7}, 400, ""},
	} {
		res := f.do(t, "POST", "/views", f.agentA, tc.body, tc.want, "")
		if tc.field != "" && !strings.Contains(string(res.Body), `"field":"`+tc.field+`"`) {
			t.Errorf("%v: no detail for %s: %s", tc.body, tc.field, res.Body)
		}
	}
	for _, tc := range refs {
		res := f.do(t, "POST", "/views", f.agentA, tc.body, 422, "helpdesk.invalid_view")
		if !strings.Contains(string(res.Body), `"field":"`+tc.field+`"`) {
			t.Errorf("%v: no detail for %s: %s", tc.body, tc.field, res.Body)
		}
	}
	f.do(t, "PATCH", "/views/"+mine.ID, f.agentA, map[string]any{"filters": map[string]string{"group": groupB.ID}}, 422, "helpdesk.invalid_view")
	f.do(t, "PATCH", "/views/"+mine.ID, f.agentA, map[string]any{"filters": map[string]string{"priority": "meh"}}, 422, "helpdesk.invalid_view")
	f.do(t, "PATCH", "/views/"+mine.ID, f.agentA, map[string]any{"order": "up"}, 422, "helpdesk.invalid_view")
	if f.count(t, "helpdesk_views") != nBefore {
		t.Errorf("views written by bad input")
	}
	if after := f.counts(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("rows changed: %v -> %v", before, after)
	}
	var still savedView
	f.do(t, "GET", "/views/"+mine.ID, f.agentA, nil, 200, "").Decode(t, &still)
	if still.Name != "Mine" || still.Filters["assignee"] != "me" {
		t.Errorf("a refused PATCH changed the view: %+v", still)
	}
	f.do(t, "GET", "/views/not-a-uuid", f.agentA, nil, 404, "helpdesk.view_not_found")
	f.do(t, "GET", "/tickets?view=not-a-uuid", f.agentA, nil, 404, "helpdesk.view_not_found")

	// Deleting.
	f.do(t, "DELETE", "/views/"+mine.ID, f.agentA, nil, 204, "")
	f.do(t, "GET", "/views/"+mine.ID, f.agentA, nil, 404, "")
	f.do(t, "DELETE", "/views/"+team.ID, f.ownerA, nil, 204, "")
	if got := f.viewNames(t, f.agentA); len(got) != 0 {
		t.Errorf("views after deleting: %v", got)
	}
}
