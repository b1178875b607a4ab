package helpdesk_test

import (
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/helpdesk"
)

// page is one request of a page test and what it must answer.
type page struct {
	name     string
	as       *kerneltest.Browser
	path     string
	form     url.Values // nil: GET; otherwise POST, with the CSRF token unless the form sets _csrf
	want     int
	location string // a prefix of the redirect's target
	contains []string
	lacks    []string
	same     bool // the request writes no row
	after    func(t *testing.T, p *kerneltest.Page)
}

func (f *fixture) runPages(t *testing.T, pages []page) {
	t.Helper()
	for _, s := range pages {
		t.Run(s.name, func(t *testing.T) {
			s.as.In(t)
			before := f.counts(t)
			var p *kerneltest.Page
			if s.form == nil {
				p = s.as.Get(s.path)
			} else {
				p = s.as.Post(s.path, maps.Clone(s.form)) // Post sets the token in the form it is given
			}
			p.Must(t, s.want, s.contains...)
			if !strings.HasPrefix(p.Location(), s.location) {
				t.Errorf("redirect to %q, want %q…", p.Location(), s.location)
			}
			for _, x := range s.lacks {
				if strings.Contains(p.Body, x) {
					t.Errorf("the page shows %q", x)
				}
			}
			if after := f.counts(t); s.same && !equalCounts(before, after) {
				t.Errorf("rows changed: %v -> %v", before, after)
			}
			if s.after != nil {
				s.after(t, p)
			}
		})
	}
}

func (f *fixture) browser(t *testing.T, email string) *kerneltest.Browser {
	t.Helper()
	b := kerneltest.NewBrowser(t, f.base)
	password := kerneltest.UserPassword
	if email == kerneltest.AdminEmail {
		password = kerneltest.AdminPassword
	}
	b.Login(email, password)
	return b
}

var versionField = regexp.MustCompile(`name="version" value="(\d+)"`)

// formVersion is the version the ticket page's properties form carries.
func formVersion(t *testing.T, p *kerneltest.Page) string {
	t.Helper()
	m := versionField.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no version field in the page:\n%s", p.Body)
	}
	return m[1]
}

func props(version, status, priority, assignee string) url.Values {
	return url.Values{"version": {version}, "subject": {"Printer on fire"}, "status": {status}, "priority": {priority},
		"assignee": {assignee}, "type": {"incident"}, "tags": {"Hardware, urgent ,hardware"}}
}

func TestAdminPages(t *testing.T) {
	f := newFixture(t)
	e, _ := f.k.HTTP()
	declared, undeclared := admin.Inventory(e)
	if len(undeclared) > 0 {
		t.Fatalf("admin routes without a declared permission: %v", undeclared)
	}
	for route, want := range map[string]security.Permission{"GET /admin/helpdesk": helpdesk.PermRead,
		"GET /admin/helpdesk/tickets/:id": helpdesk.PermRead, "POST /admin/helpdesk/tickets/:id": helpdesk.PermWrite,
		"POST /admin/helpdesk/tickets/:id/messages": helpdesk.PermWrite, "POST /admin/helpdesk/tickets": helpdesk.PermWrite,
		"GET /admin/helpdesk/customers/:id": helpdesk.PermRead, "POST /admin/helpdesk/customers/:id": helpdesk.PermWrite} {
		if got := declared[route]; got != want {
			t.Errorf("%s declares %q, want %q", route, got, want)
		}
	}

	fire := f.open(t, f.agentA, "Printer on fire", "alice@example.net")
	login := f.open(t, f.custA, "Login broken", "")
	secret := f.open(t, f.ownerB, "Beta secret", "bob@b.test")
	var alice, bobs struct {
		Items []struct{ ID string } `json:"items"`
	}
	f.c.Do(http.MethodGet, "/api/v1/helpdesk/customers?q=alice", f.agentA, nil).Decode(t, &alice)
	f.c.Do(http.MethodGet, "/api/v1/helpdesk/customers?q=bob", f.ownerB, nil).Decode(t, &bobs)

	agent := f.browser(t, "agent@a.test")
	owner := f.browser(t, "owner@a.test")
	ownerB := f.browser(t, "owner@b.test")
	platform := f.browser(t, kerneltest.AdminEmail)
	fireURL := "/admin/helpdesk/tickets/" + fire.ID
	var version string
	messages := func(want int) func(*testing.T, *kerneltest.Page) {
		return func(t *testing.T, _ *kerneltest.Page) {
			if n := f.count(t, "helpdesk_messages"); n != want {
				t.Errorf("%d messages, want %d", n, want)
			}
		}
	}

	f.runPages(t, []page{
		{name: "the menu links the desk", as: agent, path: "/admin", want: 200,
			contains: []string{`<a href="/admin/helpdesk">Helpdesk</a>`}},
		{name: "the inbox lists the tenant's tickets", as: agent, path: "/admin/helpdesk", want: 200,
			contains: []string{"Printer on fire", "Login broken", "Req alice@example.net", "cust@a.test", "2 tickets on this page",
				`href="` + fireURL + `"`, "My tickets"},
			lacks: []string{"Beta secret"}},
		{name: "another tenant's inbox", as: ownerB, path: "/admin/helpdesk", want: 200,
			contains: []string{"Beta secret"}, lacks: []string{"Printer on fire", "Login broken"}},
		{name: "a platform admin picks a tenant first", as: platform, path: "/admin/helpdesk", want: 200,
			contains: []string{"Choose a tenant first"}, lacks: []string{"Printer on fire", "Beta secret"}},
		{name: "the ticket's page", as: agent, path: fireURL, want: 200,
			contains: []string{"<h1 class=\"anywhere\">Printer on fire</h1>", "Help with Printer on fire", "Req alice@example.net",
				`name="version" value="1"`, `<option value="open">open</option>`, "Unassigned"},
			lacks: []string{`<option value="closed">`}},
		{name: "a reply", as: agent, path: fireURL + "/messages", form: url.Values{"body": {"We are sending a technician."}},
			want: 303, location: fireURL + "?done=replied#m-", after: messages(4)},
		{name: "a note", as: agent, path: fireURL + "/messages", form: url.Values{"body": {"Ask facilities about extinguishers."},
			"internal": {"on"}}, want: 303, location: fireURL + "?done=noted#m-", after: messages(5)},
		{name: "the thread shows both, the note set apart", as: agent, path: fireURL + "?done=noted", want: 200,
			contains: []string{"Your internal note is added. Only agents see it.", "We are sending a technician.",
				`class="hd-msg agent"`, `class="hd-msg note"`, "Internal note", "Ask facilities about extinguishers.", "agent@a.test"}},
		{name: "an empty reply is refused", as: agent, path: fireURL + "/messages", form: url.Values{"body": {"  "}},
			want: 422, contains: []string{"Message must be 1 to 65536 characters"}, same: true},
		{name: "a reply without the CSRF token is refused", as: agent, path: fireURL + "/messages",
			form: url.Values{"_csrf": {""}, "body": {"forged"}}, want: 403, same: true},
		{name: "the properties are saved", as: agent, path: fireURL, form: props("1", "open", "high", f.agentAID),
			want: 303, location: fireURL + "?done=saved"},
		{name: "the page shows them", as: agent, path: fireURL + "?done=saved", want: 200,
			contains: []string{"The ticket is saved.", `name="version" value="2"`, `<option value="open" selected>`,
				`<option value="high" selected>`, `value="hardware, urgent"`, `value="incident"`, `<strong id="ticket-assignee">agent@a.test</strong>`},
			after: func(t *testing.T, p *kerneltest.Page) { version = formVersion(t, p) }},
		{name: "a stale edit says so", as: owner, path: fireURL, form: props("1", "pending", "low", ""), want: 409,
			contains: []string{"Someone else changed this ticket after you opened it", "Reload the ticket", `name="version" value="2"`},
			same:     true},
		{name: "an illegal move is refused", as: owner, path: fireURL, form: props("2", "new", "high", f.agentAID), want: 422,
			contains: []string{"A ticket cannot move from open to new."}, same: true},
		{name: "a bad assignee is refused", as: owner, path: fireURL, form: props("2", "open", "high", "not-a-user"), want: 422,
			contains: []string{"Assignee must be a user id or null"}},
		{name: "the history tab", as: agent, path: fireURL + "/history", want: 200,
			contains: []string{`id="ticket-history"`, "<td>status</td>", "<td>priority</td>", "<td>assignee</td>", "<td>tags</td>",
				"agent@a.test"},
			lacks: []string{"We are sending a technician."}},
		{name: "filter by status", as: agent, path: "/admin/helpdesk?status=open", want: 200,
			contains: []string{"Printer on fire", "1 ticket on this page"}, lacks: []string{"Login broken"}},
		{name: "filter by priority", as: agent, path: "/admin/helpdesk?priority=normal", want: 200,
			contains: []string{"Login broken"}, lacks: []string{"Printer on fire"}},
		{name: "my tickets", as: agent, path: "/admin/helpdesk?assignee=me", want: 200,
			contains: []string{"Printer on fire", `<a href="/admin/helpdesk?assignee=me" aria-current="page">My tickets</a>`},
			lacks:    []string{"Login broken"}},
		{name: "the owner's are none", as: owner, path: "/admin/helpdesk?assignee=me", want: 200,
			contains: []string{"No tickets match."}},
		{name: "search the subject", as: agent, path: "/admin/helpdesk?q=LOGIN", want: 200,
			contains: []string{"Login broken"}, lacks: []string{"Printer on fire"}},
		{name: "search the conversation", as: agent, path: "/admin/helpdesk?q=technician", want: 200,
			contains: []string{"Printer on fire"}, lacks: []string{"Login broken"}},
		{name: "the unassigned", as: agent, path: "/admin/helpdesk?assignee=none", want: 200,
			contains: []string{"Login broken", `<a href="/admin/helpdesk?assignee=none" aria-current="page">Unassigned</a>`},
			lacks:    []string{"Printer on fire"}},
		{name: "a bad filter value is ignored", as: agent, path: "/admin/helpdesk?status=burning&cursor=zzz", want: 200,
			contains: []string{"Login broken", "Printer on fire"}},
		{name: "another tenant's ticket is not found", as: ownerB, path: fireURL, want: 404},
		{name: "nor its history", as: ownerB, path: fireURL + "/history", want: 404},
		{name: "nor can it be answered", as: ownerB, path: fireURL + "/messages", form: url.Values{"body": {"hi"}}, want: 404,
			same: true},
		{name: "nor changed", as: ownerB, path: fireURL, form: props(version, "solved", "low", ""), want: 404, same: true},
		{name: "a ticket id that is no id", as: agent, path: "/admin/helpdesk/tickets/nope", want: 404},
		{name: "B's ticket for A", as: agent, path: "/admin/helpdesk/tickets/" + secret.ID, want: 404},
	})

	t.Run("a customer cannot open the backoffice", func(t *testing.T) {
		cust := kerneltest.NewBrowser(t, f.base)
		cust.TryLogin("cust@a.test", kerneltest.UserPassword)
		for _, path := range []string{"/admin/helpdesk", "/admin/helpdesk/tickets/" + login.ID} {
			p := cust.Get(path)
			if p.Status != http.StatusForbidden && !(p.Status == http.StatusSeeOther && strings.HasPrefix(p.Location(), "/admin/login")) {
				t.Errorf("%s: %d %s, want 403 or the sign-in page", path, p.Status, p.Location())
			}
			if strings.Contains(p.Body, "Login broken") {
				t.Errorf("%s shows the ticket", path)
			}
		}
	})

	t.Run("the customer sees the reply but not the note", func(t *testing.T) {
		res := f.do(t, "GET", "/tickets/"+login.ID+"/messages", f.custA, nil, 200, "")
		if strings.Contains(string(res.Body), "extinguishers") {
			t.Fatal("a customer sees another ticket's note")
		}
		// The requester of the fire ticket is not a user, so the agent
		// reads it through the API as the customer would be shown it.
		var msgs struct {
			Items []struct {
				Body     string
				Internal bool
			}
		}
		f.do(t, "GET", "/tickets/"+fire.ID+"/messages", f.agentA, nil, 200, "").Decode(t, &msgs)
		if len(msgs.Items) != 3 || !msgs.Items[2].Internal || msgs.Items[1].Internal {
			t.Fatalf("messages: %+v", msgs.Items)
		}
	})

	t.Run("a customer's own ticket hides notes from them", func(t *testing.T) {
		lp := agent.Get("/admin/helpdesk/tickets/" + login.ID)
		lp.Must(t, 200, "Help with Login broken")
		agent.Post("/admin/helpdesk/tickets/"+login.ID+"/messages", url.Values{"body": {"Only for agents."}, "internal": {"on"}}).
			Must(t, 303)
		agent.Post("/admin/helpdesk/tickets/"+login.ID+"/messages", url.Values{"body": {"Try resetting your password."}}).Must(t, 303)
		res := f.do(t, "GET", "/tickets/"+login.ID+"/messages", f.custA, nil, 200, "")
		if !strings.Contains(string(res.Body), "Try resetting your password.") || strings.Contains(string(res.Body), "Only for agents.") {
			t.Fatalf("the customer's view of the thread: %s", res.Body)
		}
		agent.Get("/admin/helpdesk/tickets/"+login.ID).Must(t, 200, "Only for agents.", "Try resetting your password.")
	})

	t.Run("new tickets", func(t *testing.T) {
		agent.In(t)
		agent.Get("/admin/helpdesk/tickets/new").Must(t, 200, `id="ticket-new"`)
		before := f.counts(t)
		p := agent.Post("/admin/helpdesk/tickets", url.Values{"email": {"not an address"}, "subject": {"Broken"},
			"priority": {"normal"}, "message": {"It broke."}})
		p.Must(t, 422, "E-mail address must be an e-mail address", `value="Broken"`, "It broke.")
		if after := f.counts(t); !equalCounts(before, after) {
			t.Fatalf("a refused ticket wrote rows: %v -> %v", before, after)
		}
		p = agent.Post("/admin/helpdesk/tickets", url.Values{"email": {"Carol@Example.net"}, "name": {"Carol"},
			"subject": {"Screen flickers"}, "priority": {"urgent"}, "message": {"Since Monday."}})
		p.Must(t, 303)
		if !strings.HasPrefix(p.Location(), "/admin/helpdesk/tickets/") || !strings.HasSuffix(p.Location(), "?done=created") {
			t.Fatalf("redirect to %q", p.Location())
		}
		agent.Get(p.Location()).Must(t, 200, "The ticket is open.", "Screen flickers", "Since Monday.", "Carol", "via web")
		agent.Get("/admin/helpdesk?priority=urgent").Must(t, 200, "Screen flickers")
	})

	t.Run("pages of the inbox by cursor", func(t *testing.T) {
		agent.In(t)
		seen := map[string]bool{}
		path := "/admin/helpdesk?limit=2"
		for pages := 0; path != ""; pages++ {
			if pages > 5 {
				t.Fatal("the pages do not end")
			}
			p := agent.Get(path)
			p.Must(t, 200)
			for _, m := range regexp.MustCompile(`href="/admin/helpdesk/tickets/([0-9a-f-]{36})"`).FindAllStringSubmatch(p.Body, -1) {
				if seen[m[1]] {
					t.Fatalf("ticket %s is on two pages", m[1])
				}
				seen[m[1]] = true
			}
			path = ""
			if m := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(p.Body); m != nil {
				path = strings.ReplaceAll(m[1], "&amp;", "&")
			}
		}
		if len(seen) != 3 {
			t.Fatalf("%d tickets over the pages, want 3", len(seen))
		}
	})

	alicePath := "/admin/helpdesk/customers/" + alice.Items[0].ID
	f.runPages(t, []page{
		{name: "the customers", as: agent, path: "/admin/helpdesk/customers", want: 200,
			contains: []string{"Req alice@example.net", "cust@a.test", `href="` + alicePath + `"`}, lacks: []string{"bob@b.test"}},
		{name: "search the customers", as: agent, path: "/admin/helpdesk/customers?q=ALICE", want: 200,
			contains: []string{"Req alice@example.net", "Showing 1–1 of 1"}, lacks: []string{"cust@a.test"}},
		{name: "a customer with their tickets", as: agent, path: alicePath, want: 200,
			contains: []string{`<h1 class="anywhere">Req alice@example.net</h1>`, "Printer on fire", `value="alice@example.net"`},
			lacks:    []string{"Login broken"}},
		{name: "a bad e-mail address is refused", as: agent, path: alicePath,
			form: url.Values{"name": {"Alice"}, "email": {"alice at example"}, "phone": {"+1 555"}}, want: 422,
			contains: []string{"E-mail address must be an e-mail address", `value="alice at example"`}, same: true},
		{name: "a taken e-mail address is refused", as: agent, path: alicePath,
			form: url.Values{"name": {"Alice"}, "email": {"cust@a.test"}}, want: 409,
			contains: []string{"Another customer of this tenant has this e-mail address."}},
		{name: "the details are saved", as: agent, path: alicePath,
			form: url.Values{"name": {"Alice Smith"}, "email": {"alice@example.net"}, "phone": {"+1 555 0100"}, "tags": {"vip"},
				"notes": {"Prefers phone calls."}}, want: 303, location: alicePath + "?done=customer_saved"},
		{name: "and shown", as: agent, path: alicePath + "?done=customer_saved", want: 200,
			contains: []string{"The customer is saved.", `<h1 class="anywhere">Alice Smith</h1>`, `value="&#43;1 555 0100"`, `value="vip"`,
				"Prefers phone calls."}},
		{name: "a new customer", as: agent, path: "/admin/helpdesk/customers",
			form: url.Values{"name": {"Dan"}, "email": {"dan@example.net"}}, want: 303, location: "/admin/helpdesk/customers/"},
		{name: "a new customer needs a name or address", as: agent, path: "/admin/helpdesk/customers",
			form: url.Values{"name": {""}, "email": {""}}, want: 422, contains: []string{"a customer needs a name or an e-mail address"},
			same: true},
		{name: "another tenant's customer is not found", as: ownerB, path: alicePath, want: 404},
		{name: "nor changed", as: ownerB, path: alicePath, form: url.Values{"name": {"Mallory"}}, want: 404},
		{name: "B's customer for A", as: agent, path: "/admin/helpdesk/customers/" + bobs.Items[0].ID, want: 404},
	})
	agent.In(t)
	agent.Get(alicePath).Must(t, 200, `<h1 class="anywhere">Alice Smith</h1>`)
	if v, _ := strconv.Atoi(version); v != 2 {
		t.Errorf("version %s", version)
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestAdminWorkflow works a ticket with groups, round-robin, macros,
// canned responses, links and merge through the ticket's page.
func TestAdminWorkflow(t *testing.T) {
	f := newFixture(t)
	var group struct{ ID string }
	f.do(t, "POST", "/groups", f.ownerA, map[string]any{"name": "Tier 1", "round_robin": true, "members": []string{f.agentAID}},
		201, "").Decode(t, &group)
	var macro, canned struct{ ID string }
	f.do(t, "POST", "/macros", f.ownerA, map[string]any{"name": "Close as solved", "actions": map[string]any{"status": "solved",
		"tags_add": []string{"done"}, "reply": map[string]any{"body": "Solved for {{customer.name}}.", "internal": false}}},
		201, "").Decode(t, &macro)
	f.do(t, "POST", "/canned-responses", f.ownerA, map[string]any{"name": "Greeting", "body": "Hello {{customer.name}}, about {{ticket.subject}}:"},
		201, "").Decode(t, &canned)
	a := f.open(t, f.agentA, "Printer jam", "alice@example.net")
	b := f.open(t, f.agentA, "Printer jam again", "alice@example.net")
	other := f.open(t, f.ownerB, "B's ticket", "bob@b.test")
	aURL, bURL := "/admin/helpdesk/tickets/"+a.ID, "/admin/helpdesk/tickets/"+b.ID
	att := f.upload(t, f.agentA, b.ID, []string{"body", "See the photo", "internal", "false"}, 201, "",
		file{"jam.png", pngBytes}).Attachments[0]
	attURL := bURL + "/attachments/" + att.ID
	agent := f.browser(t, "agent@a.test")
	ownerB := f.browser(t, "owner@b.test")
	save := props("1", "new", "normal", "")
	save.Set("group", group.ID)

	f.runPages(t, []page{
		{name: "the page offers the group, macro and canned response", as: agent, path: aURL, want: 200,
			contains: []string{`<option value="` + group.ID + `">Tier 1 (round-robin)</option>`, ">Close as solved</option>",
				">Greeting</option>", `id="ticket-links"`, "None."}},
		{name: "the thread links the attachment", as: agent, path: bURL, want: 200,
			contains: []string{`<a href="` + attURL + `" download>jam.png</a>`, "image/png"}},
		{name: "which downloads", as: agent, path: attURL, want: 200, contains: []string{"PNG"}},
		{name: "but not for another tenant", as: ownerB, path: attURL, want: 404},
		{name: "a canned response fills the reply", as: agent, path: aURL + "?canned=" + canned.ID, want: 200,
			contains: []string{"Hello Req alice@example.net, about Printer jam:</textarea>"}},
		{name: "an unknown canned response says so", as: agent, path: aURL + "?canned=" + a.ID, want: 200,
			contains: []string{"The canned response does not exist."}},
		{name: "the ticket goes in the group", as: agent, path: aURL, form: save, want: 303, location: aURL + "?done=saved"},
		{name: "and shows it", as: agent, path: aURL, want: 200,
			contains: []string{`<strong id="ticket-group">Tier 1</strong>`, "Assign to the next agent of Tier 1"}},
		{name: "the inbox names the group", as: agent, path: "/admin/helpdesk", want: 200, contains: []string{"<td>Tier 1</td>"}},
		{name: "filter by group", as: agent, path: "/admin/helpdesk?group=" + group.ID, want: 200,
			contains: []string{"Printer on fire"}, lacks: []string{"Printer jam again"}}, // the form renamed it
		{name: "filter by no group", as: agent, path: "/admin/helpdesk?group=none", want: 200,
			contains: []string{"Printer jam again"}, lacks: []string{"Printer on fire"}},
		{name: "round-robin assigns it", as: agent, path: aURL + "/assign", form: url.Values{"version": {"2"}}, want: 303,
			location: aURL + "?done=assigned"},
		{name: "to the group's agent", as: agent, path: aURL + "?done=assigned", want: 200,
			contains: []string{"The ticket is assigned to the next available agent", `<strong id="ticket-assignee">agent@a.test</strong>`}},
	})
	var now ticket
	f.do(t, "GET", "/tickets/"+a.ID, f.agentA, nil, 200, "").Decode(t, &now)
	v := strconv.Itoa(now.Version)
	f.runPages(t, []page{
		{name: "a stale macro is refused", as: agent, path: aURL + "/macro", form: url.Values{"version": {"1"}, "macro": {macro.ID}},
			want: 409, contains: []string{"Someone else changed this ticket"}, same: true},
		{name: "an unknown macro is refused", as: agent, path: aURL + "/macro", form: url.Values{"version": {v}, "macro": {a.ID}},
			want: 404, contains: []string{"The macro does not exist."}, same: true},
		{name: "a macro", as: agent, path: aURL + "/macro", form: url.Values{"version": {v}, "macro": {macro.ID}}, want: 303,
			location: aURL + "?done=macro"},
		{name: "did its work", as: agent, path: aURL + "?done=macro", want: 200,
			contains: []string{"The macro is applied.", `<span class="badge hd-status-solved">solved</span>`, "Solved for Req alice@example.net.",
				`value="done, hardware, urgent"`}},
		{name: "a link to itself is refused", as: agent, path: bURL + "/links", form: url.Values{"kind": {"related"}, "ticket": {b.ID}},
			want: 422, contains: []string{"A ticket cannot be linked to itself."}, same: true},
		{name: "a link to another tenant's ticket is refused", as: agent, path: bURL + "/links",
			form: url.Values{"kind": {"related"}, "ticket": {other.ID}}, want: 422, contains: []string{"The link has invalid fields."}, same: true},
		{name: "a link by the other's address", as: agent, path: bURL + "/links",
			form: url.Values{"kind": {"duplicate"}, "ticket": {"http://example.test" + aURL + "?done=saved"}}, want: 303,
			location: bURL + "?done=linked"},
		{name: "shows on both", as: agent, path: aURL, want: 200,
			contains: []string{`<span class="badge">duplicate</span> <a href="` + bURL + `">Printer jam again</a>`}},
		{name: "is removed", as: agent, path: bURL + "/links/" + a.ID + "/delete", form: url.Values{}, want: 303,
			location: bURL + "?done=unlinked"},
		{name: "B cannot merge A's tickets", as: ownerB, path: bURL + "/merge", form: url.Values{"into": {a.ID}}, want: 404, same: true},
		{name: "a merge into itself is refused", as: agent, path: bURL + "/merge", form: url.Values{"into": {b.ID}}, want: 422,
			contains: []string{"A ticket cannot be merged into itself."}, same: true},
		{name: "a merge", as: agent, path: bURL + "/merge", form: url.Values{"into": {aURL}}, want: 303, location: aURL + "?done=merged"},
		{name: "the target shows the merged conversation", as: agent, path: aURL + "?done=merged", want: 200,
			contains: []string{"The other ticket is merged into this one", "Help with Printer jam again", "from a merged ticket"}},
		{name: "the source says where it went", as: agent, path: bURL, want: 200,
			contains: []string{`id="merged-into"`, `href="` + aURL + `"`}, lacks: []string{`id="reply-form"`, `id="ticket-actions"`}},
	})
}

// TestAdminSLA sets up a calendar and an SLA policy through the settings
// pages and follows a ticket's SLA clock on its page, with a fake clock.
func TestAdminSLA(t *testing.T) {
	clock := &fakeClock{t: wien(23, 16, 0)} // Wednesday, one working hour left
	f := newFixture(t, helpdesk.WithClock(clock.now))
	owner := f.browser(t, "owner@a.test")
	agent := f.browser(t, "agent@a.test")
	ownerB := f.browser(t, "owner@b.test")
	week := url.Values{"name": {"Vienna office"}, "zone": {"Europe/Vienna"}, "holidays": {"2026-12-24\r\n12-25"}, "default": {"on"}}
	for _, wd := range []string{"mon", "tue", "wed", "thu", "fri"} {
		week.Set("week_"+wd, "09:00-17:00")
	}
	badZone := url.Values{"name": {"Moon base"}, "zone": {"Mars/Olympus"}, "week_mon": {"09:00-17:00"}}
	badHours := url.Values{"name": {"Night shift"}, "zone": {"UTC"}, "week_mon": {"25:00-26:00"}}
	policy := url.Values{"name": {"Standard"}, "first_response_urgent": {"30"}, "resolution_urgent": {"240"},
		"first_response_normal": {"120"}, "pause": {"on"}, "default": {"on"}}
	badPolicy := url.Values{"name": {"Broken"}, "first_response_urgent": {"half an hour"}}
	var calURL string

	f.runPages(t, []page{
		{name: "no settings yet", as: owner, path: "/admin/helpdesk/settings", want: 200,
			contains: []string{"No calendar yet", "No SLA policy yet", `href="/admin/helpdesk/settings/calendars/new"`}},
		{name: "agents read the settings but change nothing", as: agent, path: "/admin/helpdesk/settings", want: 200,
			contains: []string{"No calendar yet"}, lacks: []string{"New calendar"}},
		{name: "an agent cannot add a calendar", as: agent, path: "/admin/helpdesk/settings/calendars", form: week, want: 403, same: true},
		{name: "the new calendar form", as: owner, path: "/admin/helpdesk/settings/calendars/new", want: 200,
			contains: []string{`id="week_mon" name="week_mon" value="09:00-17:00"`, `id="week_sat" name="week_sat" value=""`,
				`name="default" checked`}},
		{name: "an unknown time zone is refused", as: owner, path: "/admin/helpdesk/settings/calendars", form: badZone, want: 422,
			contains: []string{`id="form-problem"`, "<code>zone</code>", `value="Mars/Olympus"`}, same: true},
		{name: "bad hours are refused", as: owner, path: "/admin/helpdesk/settings/calendars", form: badHours, want: 422,
			contains: []string{`id="form-problem"`, `value="25:00-26:00"`}, same: true},
		{name: "a calendar", as: owner, path: "/admin/helpdesk/settings/calendars", form: week, want: 303,
			location: "/admin/helpdesk/settings?done=calendar_saved"},
		{name: "is listed", as: owner, path: "/admin/helpdesk/settings?done=calendar_saved", want: 200,
			contains: []string{"The calendar is saved.", "Vienna office</a> <span class=\"badge ok\">default</span>", "Europe/Vienna",
				"mon 09:00-17:00; tue 09:00-17:00"},
			after: func(t *testing.T, p *kerneltest.Page) {
				m := regexp.MustCompile(`href="(/admin/helpdesk/settings/calendars/[0-9a-f-]{36})"`).FindStringSubmatch(p.Body)
				if m == nil {
					t.Fatal("no link to the calendar")
				}
				calURL = m[1]
			}},
		{name: "a bad target is refused", as: owner, path: "/admin/helpdesk/settings/sla-policies", form: badPolicy, want: 422,
			contains: []string{"<code>targets.urgent.first_response</code> must be a whole number", `value="half an hour"`}, same: true},
		{name: "an SLA policy", as: owner, path: "/admin/helpdesk/settings/sla-policies", form: policy, want: 303,
			location: "/admin/helpdesk/settings?done=policy_saved"},
		{name: "is listed", as: agent, path: "/admin/helpdesk/settings", want: 200,
			contains: []string{"Standard</a> <span class=\"badge ok\">default</span>", "the default calendar", "normal: reply 2h, solve —",
				"urgent: reply 30m, solve 4h", "paused while pending"}},
	})
	// A customer's ticket, made urgent: the first reply is due in half an
	// hour of business time.
	tk := f.open(t, f.custA, "Over the holidays", "")
	f.patch(t, &tk, map[string]any{"priority": "urgent"}, 200, "")
	tkURL := "/admin/helpdesk/tickets/" + tk.ID
	f.runPages(t, []page{
		{name: "the SLA policy form", as: owner, path: "/admin/helpdesk/settings/sla-policies/new", want: 200,
			contains: []string{`<option value="">The default calendar</option>`, `name="first_response_urgent"`}, lacks: []string{`name="default" checked`}},
		// Due 16:30 in Vienna; solved by Monday 12:00, after the holidays
		// and the weekend: one hour on Wednesday and three on Monday.
		{name: "the clock runs", as: agent, path: tkURL, want: 200,
			contains: []string{`id="ticket-sla"`, "Standard", "First reply</strong> <span class=\"badge \">running</span>",
				"due 2026-12-23 15:30 UTC", "30m of business time left", "due 2026-12-28 11:00 UTC", "4h of business time left"}},
		{name: "the inbox shows the next due time", as: agent, path: "/admin/helpdesk", want: 200, contains: []string{"2026-12-23 15:30 UTC"}},
	})
	clock.set(wien(23, 16, 31))
	f.sweep(t)
	f.runPages(t, []page{
		{name: "the first reply is breached", as: agent, path: tkURL, want: 200,
			contains: []string{`First reply</strong> <span class="badge hd-breached">breached</span>`, "3h 29m of business time left"}},
		{name: "the inbox marks it", as: agent, path: "/admin/helpdesk", want: 200, contains: []string{`<span class="badge hd-breached">breached</span>`}},
		{name: "a late reply", as: agent, path: tkURL + "/messages", form: url.Values{"body": {"On it."}}, want: 303},
		{name: "met late", as: agent, path: tkURL, want: 200, contains: []string{`<span class="badge warn">met late</span>`}},
		{name: "the calendar's page", as: agent, path: calURL, want: 200,
			contains: []string{`value="Vienna office"`, "12-25\n2026-12-24</textarea>", "<fieldset disabled>"}},
		{name: "another tenant's calendar is not found", as: ownerB, path: calURL, want: 404},
		{name: "nor changed", as: ownerB, path: calURL, form: week, want: 404, same: true},
		{name: "the calendar is changed", as: owner, path: calURL, form: func() url.Values {
			v := maps.Clone(week)
			v.Set("week_sat", "10:00-14:00")
			v.Set("default", "on")
			return v
		}(), want: 303, location: "/admin/helpdesk/settings?done=calendar_saved"},
		{name: "and shows it", as: owner, path: "/admin/helpdesk/settings", want: 200, contains: []string{"sat 10:00-14:00"}},
		{name: "the calendar is deleted", as: owner, path: calURL + "/delete", form: url.Values{}, want: 303,
			location: "/admin/helpdesk/settings?done=calendar_deleted"},
		{name: "and gone", as: owner, path: "/admin/helpdesk/settings", want: 200, contains: []string{"No calendar yet"}},
	})
}
