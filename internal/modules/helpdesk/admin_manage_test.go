package helpdesk_test

import (
	"bytes"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/kerneltest"
)

// The inbox's saved views: the viewer's own and the tenant's shared ones
// in the side list, saved from the current filters, and deleted by whom
// may change them.
func TestAdminSavedViews(t *testing.T) {
	f := newFixture(t)
	f.open(t, f.agentA, "Printer on fire", "alice@example.net")
	urgent := f.open(t, f.agentA, "Server down", "bob@example.net")
	f.patch(t, &urgent, map[string]any{"priority": "urgent"}, 200, "")
	agent := f.browser(t, "agent@a.test")
	owner := f.browser(t, "owner@a.test")
	ownerB := f.browser(t, "owner@b.test")

	var viewURL, viewID string
	f.runPages(t, []page{
		{name: "no saved view yet", as: agent, path: "/admin/helpdesk", want: 200,
			contains: []string{`id="save-view"`, "None yet"}},
		{name: "a view needs a name", as: agent, path: "/admin/helpdesk/views",
			form: url.Values{"name": {"  "}, "priority": {"urgent"}}, want: 422,
			contains: []string{`id="form-problem"`, "<code>name</code> must be 1 to 100 characters",
				`<input type="hidden" name="priority" value="urgent">`, "Server down"},
			lacks: []string{"Printer on fire"}, same: true},
		{name: "the filters are saved as a view", as: agent, path: "/admin/helpdesk/views",
			form: url.Values{"name": {"Urgent ones"}, "priority": {"urgent"}, "shared": {"on"}}, want: 303,
			location: "/admin/helpdesk?view=",
			after: func(t *testing.T, p *kerneltest.Page) {
				viewURL = p.Location()
				viewID = regexp.MustCompile(`view=([0-9a-f-]{36})`).FindStringSubmatch(viewURL)[1]
			}},
	})
	f.runPages(t, []page{
		{name: "the view lists its tickets", as: agent, path: viewURL, want: 200,
			contains: []string{"The view is saved", `href="/admin/helpdesk?view=` + viewID + `" aria-current="page">Urgent ones</a>`,
				"Server down", `<option value="urgent" selected>`, "/admin/helpdesk/views/" + viewID + "/delete"},
			lacks: []string{"Printer on fire"}},
		{name: "the API sees it", as: agent, path: "/admin/helpdesk", want: 200,
			after: func(t *testing.T, _ *kerneltest.Page) {
				body := string(f.do(t, "GET", "/views/"+viewID, f.agentA, nil, 200, "").Body)
				if !strings.Contains(body, `"priority":"urgent"`) || !strings.Contains(body, `"shared":true`) {
					t.Fatalf("the view in the API: %s", body)
				}
			}},
		{name: "a shared view shows to the owner, who may delete it", as: owner, path: "/admin/helpdesk", want: 200,
			contains: []string{"Urgent ones", "/admin/helpdesk/views/" + viewID + "/delete"}},
		{name: "another tenant does not see it", as: ownerB, path: "/admin/helpdesk", want: 200, lacks: []string{"Urgent ones"}},
		{name: "nor open it", as: ownerB, path: viewURL, want: 404},
		{name: "nor delete it", as: ownerB, path: "/admin/helpdesk/views/" + viewID + "/delete", form: url.Values{}, want: 404,
			same: true},
		{name: "a bad filter is refused as the API refuses it", as: agent, path: "/admin/helpdesk/views",
			form: url.Values{"name": {"Mine"}, "assignee": {"me"}, "q": {strings.Repeat("x", 300)}}, want: 303},
		{name: "without the CSRF token nothing is saved", as: agent, path: "/admin/helpdesk/views",
			form: url.Values{"_csrf": {""}, "name": {"Forged"}}, want: 403, same: true},
		{name: "the view is deleted", as: agent, path: "/admin/helpdesk/views/" + viewID + "/delete", form: url.Values{},
			want: 303, location: "/admin/helpdesk?done=view_deleted"},
		{name: "and gone", as: agent, path: "/admin/helpdesk", want: 200, lacks: []string{"Urgent ones"}},
	})
	// The inbox sorts, and a view saved from it keeps the sort.
	order := func(first, second string) func(t *testing.T, p *kerneltest.Page) {
		return func(t *testing.T, p *kerneltest.Page) {
			body := string(p.Body)
			if i, j := strings.Index(body, first), strings.Index(body, second); i < 0 || j < 0 || i > j {
				t.Errorf("%q is not listed before %q", first, second)
			}
		}
	}
	var sortedID string
	f.runPages(t, []page{
		{name: "by priority, highest first", as: agent, path: "/admin/helpdesk?sort=priority", want: 200,
			contains: []string{`<option value="priority" selected>`}, after: order("Server down", "Printer on fire")},
		{name: "by priority, lowest first", as: agent, path: "/admin/helpdesk?sort=priority&order=asc", want: 200,
			contains: []string{`<option value="asc" selected>`}, after: order("Printer on fire", "Server down")},
		{name: "a sort the list does not know is dropped", as: agent, path: "/admin/helpdesk?sort=subject&order=up", want: 200,
			lacks: []string{`" selected>Priority`}},
		{name: "a view saved with a sort", as: agent, path: "/admin/helpdesk/views",
			form: url.Values{"name": {"Lowest first"}, "sort": {"priority"}, "order": {"asc"}}, want: 303,
			after: func(t *testing.T, p *kerneltest.Page) {
				sortedID = regexp.MustCompile(`view=([0-9a-f-]{36})`).FindStringSubmatch(p.Location())[1]
				body := string(f.do(t, "GET", "/views/"+sortedID, f.agentA, nil, 200, "").Body)
				if !strings.Contains(body, `"sort":"priority"`) || !strings.Contains(body, `"order":"asc"`) ||
					strings.Contains(body, `"filters":{"`) {
					t.Fatalf("the view in the API: %s", body)
				}
			}},
	})
	f.runPages(t, []page{
		{name: "opens sorted, with a form to update it", as: agent, path: "/admin/helpdesk?view=" + sortedID, want: 200,
			contains: []string{`<option value="priority" selected>`, `<option value="asc" selected>`,
				`action="/admin/helpdesk/views/` + sortedID + `"`, `value="Lowest first"`},
			after: order("Printer on fire", "Server down")},
		{name: "a view's new name is checked as the API checks it", as: agent, path: "/admin/helpdesk/views/" + sortedID,
			form: url.Values{"name": {strings.Repeat("n", 101)}, "sort": {"priority"}}, want: 422, same: true,
			contains: []string{"<code>name</code> must be 1 to 100 characters", `action="/admin/helpdesk/views/` + sortedID + `"`}},
		{name: "the view is renamed, shared and given the filters shown", as: agent, path: "/admin/helpdesk/views/" + sortedID,
			form: url.Values{"name": {"Urgent, newest first"}, "shared": {"on"}, "priority": {"urgent"}}, want: 303,
			location: "/admin/helpdesk?view=" + sortedID + "&done=view_updated",
			after: func(t *testing.T, _ *kerneltest.Page) {
				body := string(f.do(t, "GET", "/views/"+sortedID, f.agentA, nil, 200, "").Body)
				for _, want := range []string{`"name":"Urgent, newest first"`, `"shared":true`, `"priority":"urgent"`, `"sort":""`} {
					if !strings.Contains(body, want) {
						t.Errorf("the view in the API lacks %s: %s", want, body)
					}
				}
			}},
		{name: "the owner may update a shared view", as: owner, path: "/admin/helpdesk?view=" + sortedID, want: 200,
			contains: []string{`action="/admin/helpdesk/views/` + sortedID + `"`}},
		{name: "another tenant may not", as: ownerB, path: "/admin/helpdesk/views/" + sortedID,
			form: url.Values{"name": {"Evil"}}, want: 404, same: true},
	})

	// Another agent's private view is not found, for opening or deleting.
	var private struct{ ID string }
	f.do(t, "POST", "/views", f.ownerA, map[string]any{"name": "Owner's own", "filters": map[string]string{"status": "open"}},
		201, "").Decode(t, &private)
	f.runPages(t, []page{
		{name: "another agent's private view is not listed", as: agent, path: "/admin/helpdesk", want: 200,
			lacks: []string{"Owner's own"}},
		{name: "nor opened", as: agent, path: "/admin/helpdesk?view=" + private.ID, want: 404},
		{name: "nor deleted", as: agent, path: "/admin/helpdesk/views/" + private.ID + "/delete", form: url.Values{},
			want: 404, same: true},
		{name: "nor updated", as: agent, path: "/admin/helpdesk/views/" + private.ID, form: url.Values{"name": {"Mine now"}},
			want: 404, same: true},
	})
}

// The reply form uploads files through the API's attachment code: the
// same limits, nothing written when refused, and the files listed in the
// thread with their download links.
func TestAdminReplyWithFiles(t *testing.T) {
	f := newFixture(t)
	tk := f.open(t, f.custA, "Scanner jams", "")
	agent := f.browser(t, "agent@a.test")
	ownerB := f.browser(t, "owner@b.test")
	path := "/admin/helpdesk/tickets/" + tk.ID
	agent.Get(path).Must(t, 200, `enctype="multipart/form-data"`, `type="file" id="files" name="files" multiple`,
		"At most 10 files of 10 MB each.")
	ownerB.Get("/admin/helpdesk")
	scan := bytes.Repeat([]byte("scan line\n"), 200_000) // 2 MB: above http.body_limit
	tooMany := make([]kerneltest.File, 11)
	for i := range tooMany {
		tooMany[i] = kerneltest.File{Field: "files", Name: "f.txt", Data: []byte("x")}
	}
	cases := []struct {
		name     string
		as       *kerneltest.Browser
		form     url.Values
		files    []kerneltest.File
		want     int
		contains []string
	}{
		{"without the CSRF token", agent, url.Values{"_csrf": {""}, "body": {"Forged"}},
			[]kerneltest.File{{Field: "files", Name: "x.txt", Data: []byte("x")}}, 403, []string{"The form has expired"}},
		{"a file over attachment_max_bytes", agent, url.Values{"body": {"Too big"}},
			[]kerneltest.File{{Field: "files", Name: "huge.bin", Data: make([]byte, 10<<20+1)}}, 413,
			[]string{"huge.bin is larger than 10485760 bytes.", ">Too big</textarea>"}},
		{"more files than attachment_max_files", agent, url.Values{"body": {"Many"}}, tooMany, 422,
			[]string{"A message has more files than allowed.", "Files: at most 10 files", ">Many</textarea>"}},
		{"no text and no file", agent, url.Values{"body": {" "}},
			[]kerneltest.File{{Field: "files", Name: "", Data: nil}}, 422, []string{"Message must be 1 to 65536 characters, or empty with files"}},
		{"another tenant's ticket", ownerB, url.Values{"body": {"Mallory"}},
			[]kerneltest.File{{Field: "files", Name: "x.txt", Data: []byte("x")}}, 404, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.as.In(t)
			before := f.counts(t)
			c.as.PostFiles(path+"/messages", c.form, c.files...).Must(t, c.want, c.contains...)
			if after := f.counts(t); !equalCounts(before, after) {
				t.Fatalf("rows changed: %v -> %v", before, after)
			}
		})
	}
	t.Run("no file is left behind", func(t *testing.T) {
		left, _ := filepath.Glob(filepath.Join(f.cfg.DataDir, "helpdesk", "attachments", "tmp", "*"))
		if len(left) > 0 {
			t.Fatalf("temporary files left: %v", left)
		}
	})
	t.Run("a reply with files", func(t *testing.T) {
		agent.In(t)
		p := agent.PostFiles(path+"/messages", url.Values{"body": {"Here is the scan"}, "internal": {"true"}},
			kerneltest.File{Field: "files", Name: "scan.txt", Data: scan}, kerneltest.File{Field: "files", Name: "note.txt", Data: []byte("hello")})
		p.Must(t, 303)
		if !strings.Contains(p.Location(), "?done=noted#m-") {
			t.Fatalf("redirect to %q", p.Location())
		}
		page := agent.Get(p.Location())
		page.Must(t, 200, "Your internal note is added.", "Here is the scan", ">scan.txt</a>", ">note.txt</a>", "2000000 bytes")
		links := regexp.MustCompile(`href="(/admin/helpdesk/tickets/[^"]+/attachments/[0-9a-f-]{36})" download>scan.txt`).
			FindStringSubmatch(page.Body)
		if links == nil {
			t.Fatalf("no download link:\n%s", page.Body)
		}
		dl := agent.Get(links[1])
		if dl.Status != 200 || dl.Body != string(scan) || !strings.HasPrefix(dl.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("download: %d, %d bytes, %v", dl.Status, len(dl.Body), dl.Header)
		}
		ownerB.In(t)
		ownerB.Get(links[1]).Must(t, 404)
		if f.count(t, "helpdesk_attachments") != 2 {
			t.Fatalf("%d attachments, want 2", f.count(t, "helpdesk_attachments"))
		}
	})
}

// The settings pages of groups, macros and canned responses: owners change
// them through the API's service methods, agents only read them, another
// tenant's ids are not found, and a refused form writes nothing.
func TestAdminWorkflowSettings(t *testing.T) {
	f := newFixture(t)
	tk := f.open(t, f.agentA, "Printer on fire", "alice@example.net")
	agent := f.browser(t, "agent@a.test")
	owner := f.browser(t, "owner@a.test")
	ownerB := f.browser(t, "owner@b.test")
	var bGroup struct{ ID string }
	f.do(t, "POST", "/groups", f.ownerB, map[string]any{"name": "B team"}, 201, "").Decode(t, &bGroup)
	idOf := func(path, name string) string {
		t.Helper()
		var list struct{ Items []struct{ ID, Name string } }
		f.do(t, "GET", path, f.ownerA, nil, 200, "").Decode(t, &list)
		for _, x := range list.Items {
			if x.Name == name {
				return x.ID
			}
		}
		t.Fatalf("no %q in %s", name, path)
		return ""
	}
	base := "/admin/helpdesk/settings"
	group := url.Values{"name": {"Hardware"}, "round_robin": {"on"}, "members": {f.agentAID}}
	f.runPages(t, []page{
		{name: "agents read the settings but get no forms", as: agent, path: base, want: 200,
			contains: []string{"No group yet.", "No macro yet.", "No canned response yet.", `id="agents-table"`},
			lacks:    []string{"New group", "New macro", "New canned response"}},
		{name: "an agent cannot add a group", as: agent, path: base + "/groups", form: group, want: 403, same: true},
		{name: "nor open the new-group form", as: agent, path: base + "/groups/new", want: 403},
		{name: "the owner opens the form", as: owner, path: base + "/groups/new", want: 200,
			contains: []string{`id="group-form"`, `value="` + f.agentAID + `"`, "Create group"}},
		{name: "a group needs a name", as: owner, path: base + "/groups",
			form: url.Values{"name": {" "}, "members": {f.agentAID}}, want: 422,
			contains: []string{`id="form-problem"`, "<code>name</code> must be 1 to 100 characters"}, same: true},
		{name: "members are staff of the tenant", as: owner, path: base + "/groups",
			form: url.Values{"name": {"Odd"}, "members": {bGroup.ID}}, want: 422, contains: []string{"<code>members</code>"}, same: true},
		{name: "without the CSRF token nothing is written", as: owner, path: base + "/groups",
			form: url.Values{"_csrf": {""}, "name": {"Forged"}}, want: 403, same: true},
		{name: "a group is created", as: owner, path: base + "/groups", form: group, want: 303,
			location: base + "?done=group_saved"},
		{name: "and listed", as: owner, path: base + "?done=group_saved", want: 200,
			contains: []string{"The group is saved.", ">Hardware</a>", "round-robin", "agent@a.test"}},
	})
	hw := idOf("/groups", "Hardware")
	f.patch(t, &tk, map[string]any{"group_id": hw}, 200, "")
	macro := url.Values{"name": {"Escalate"}, "priority": {"urgent"}, "tags_add": {"vip, hot"}, "group": {hw},
		"reply": {"Escalated for {{customer.name}}."}, "internal": {"on"}}
	f.runPages(t, []page{
		{name: "a group is edited", as: owner, path: base + "/groups/" + hw,
			form: url.Values{"name": {"Hardware desk"}, "members": {f.agentAID}}, want: 303, location: base + "?done=group_saved",
			after: func(t *testing.T, _ *kerneltest.Page) {
				body := string(f.do(t, "GET", "/groups/"+hw, f.ownerA, nil, 200, "").Body)
				if !strings.Contains(body, `"name":"Hardware desk"`) || !strings.Contains(body, `"round_robin":false`) {
					t.Fatalf("the group in the API: %s", body)
				}
			}},
		{name: "a group with tickets is not deleted", as: owner, path: base + "/groups/" + hw + "/delete", form: url.Values{},
			want: 409, contains: []string{"Tickets are in this group; move them first.", `value="Hardware desk"`}, same: true},
		{name: "another tenant's group is not found", as: owner, path: base + "/groups/" + bGroup.ID, want: 404},
		{name: "nor changed", as: owner, path: base + "/groups/" + bGroup.ID, form: group, want: 404, same: true},
		{name: "nor deleted", as: owner, path: base + "/groups/" + bGroup.ID + "/delete", form: url.Values{}, want: 404, same: true},
		{name: "a macro must do something", as: owner, path: base + "/macros", form: url.Values{"name": {"Nothing"}}, want: 422,
			contains: []string{"<code>actions</code> must do something", `value="Nothing"`}, same: true},
		{name: "a macro's group is the tenant's", as: owner, path: base + "/macros",
			form: url.Values{"name": {"Elsewhere"}, "group": {bGroup.ID}}, want: 422,
			contains: []string{"<code>actions.group_id</code> must be a group of this tenant"}, same: true},
		{name: "a macro's placeholders are known", as: owner, path: base + "/macros",
			form: url.Values{"name": {"Odd"}, "reply": {"Hi {{nope}}"}}, want: 422,
			contains: []string{"<code>actions.reply.body</code>", "Hi {{nope}}"}, same: true},
		{name: "a macro is created", as: owner, path: base + "/macros", form: macro, want: 303, location: base + "?done=macro_saved"},
		{name: "and listed with what it does", as: owner, path: base, want: 200,
			contains: []string{">Escalate</a>", "priority → urgent", "group → Hardware desk", "add an internal note"}},
		{name: "an agent cannot add a macro here", as: agent, path: base + "/macros", form: macro, want: 403, same: true},
		{name: "a canned response is checked", as: owner, path: base + "/canned-responses",
			form: url.Values{"name": {"Thanks"}, "body": {"Thanks {{nope}}"}}, want: 422,
			contains: []string{"<code>body</code>", "Thanks {{nope}}"}, same: true},
		{name: "a canned response is created", as: owner, path: base + "/canned-responses",
			form: url.Values{"name": {"Thanks"}, "body": {"Thanks, {{customer.name}}!"}}, want: 303,
			location: base + "?done=canned_saved"},
	})
	mac, canned := idOf("/macros", "Escalate"), idOf("/canned-responses", "Thanks")
	ticketURL := "/admin/helpdesk/tickets/" + tk.ID
	f.runPages(t, []page{
		{name: "the macro is offered on the ticket", as: agent, path: ticketURL, want: 200,
			contains: []string{`<option value="` + mac + `">Escalate</option>`, `<option value="` + canned + `">Thanks</option>`}},
		{name: "and applied there", as: agent, path: ticketURL + "/macro",
			form: url.Values{"macro": {mac}, "version": {strconv.Itoa(tk.Version)}}, want: 303, location: ticketURL + "?done=macro",
			after: func(t *testing.T, _ *kerneltest.Page) {
				agent.Get(ticketURL).Must(t, 200, "Escalated for Req alice@example.net.", `<option value="urgent" selected>`)
			}},
		{name: "the macro is edited", as: owner, path: base + "/macros/" + mac,
			form: url.Values{"name": {"Escalate now"}, "priority": {"high"}}, want: 303, location: base + "?done=macro_saved",
			after: func(t *testing.T, _ *kerneltest.Page) {
				body := string(f.do(t, "GET", "/macros/"+mac, f.ownerA, nil, 200, "").Body)
				if !strings.Contains(body, `"name":"Escalate now"`) || !strings.Contains(body, `"actions":{"priority":"high"}`) {
					t.Fatalf("the macro in the API: %s", body)
				}
			}},
		{name: "the canned response is edited", as: owner, path: base + "/canned-responses/" + canned,
			form: url.Values{"name": {"Thank you"}, "body": {"Thank you!"}}, want: 303},
		{name: "another tenant's macro is not found", as: ownerB, path: base + "/macros/" + mac, want: 404},
		{name: "nor changed", as: ownerB, path: base + "/macros/" + mac, form: url.Values{"name": {"Mallory"}, "priority": {"low"}},
			want: 404, same: true},
		{name: "nor deleted", as: ownerB, path: base + "/macros/" + mac + "/delete", form: url.Values{}, want: 404, same: true},
		{name: "another tenant's canned response is not found", as: ownerB, path: base + "/canned-responses/" + canned, want: 404},
		{name: "nor deleted", as: ownerB, path: base + "/canned-responses/" + canned + "/delete", form: url.Values{}, want: 404,
			same: true},
		{name: "the macro is deleted", as: owner, path: base + "/macros/" + mac + "/delete", form: url.Values{}, want: 303,
			location: base + "?done=macro_deleted"},
		{name: "the canned response is deleted", as: owner, path: base + "/canned-responses/" + canned + "/delete",
			form: url.Values{}, want: 303, location: base + "?done=canned_deleted"},
		{name: "both are gone", as: owner, path: base, want: 200, contains: []string{"No macro yet.", "No canned response yet."}},
		{name: "an agent marks themself away", as: agent, path: base + "/away", form: url.Values{"away": {"true"}}, want: 303,
			location: base + "?done=away_saved"},
		{name: "and is shown away", as: agent, path: base + "?done=away_saved", want: 200, contains: []string{"Your status is saved.", "I am back"}},
	})
	f.do(t, "GET", "/tickets/"+tk.ID, f.agentA, nil, 200, "").Decode(t, &tk)
	f.patch(t, &tk, map[string]any{"group_id": nil}, 200, "")
	f.runPages(t, []page{
		{name: "an empty group is deleted", as: owner, path: base + "/groups/" + hw + "/delete", form: url.Values{}, want: 303,
			location: base + "?done=group_deleted"},
	})
	if f.count(t, "helpdesk_groups") != 1 {
		t.Fatalf("%d groups, want B's only", f.count(t, "helpdesk_groups"))
	}
}

// The settings page's inbound e-mail section makes the tenant's secret
// through the API's code and shows it once; a ticket's page shows its
// rating.
func TestAdminInboundAndCSAT(t *testing.T) {
	f := newFixture(t)
	agent := f.browser(t, "agent@a.test")
	owner := f.browser(t, "owner@a.test")
	configured := func(t *testing.T, token string) bool {
		t.Helper()
		var in struct{ Configured bool }
		f.do(t, "GET", "/inbound", token, nil, 200, "").Decode(t, &in)
		return in.Configured
	}
	secret := regexp.MustCompile(`id="inbound-secret">[^<]*<code class="anywhere">([^<]+)</code>`)
	f.runPages(t, []page{
		{name: "no secret yet", as: owner, path: "/admin/helpdesk/settings", want: 200,
			contains: []string{"No secret yet: inbound e-mail is off.", "/api/v1/helpdesk/inbound/email", "Make a secret"}},
		{name: "agents see the address, not the button", as: agent, path: "/admin/helpdesk/settings", want: 200,
			contains: []string{"/api/v1/helpdesk/inbound/email"}, lacks: []string{"Make a secret"}},
		{name: "an agent cannot make one", as: agent, path: "/admin/helpdesk/settings/inbound-secret", form: url.Values{},
			want: 403, after: func(t *testing.T, _ *kerneltest.Page) {
				if configured(t, f.agentA) {
					t.Fatal("an agent made a secret")
				}
			}},
		{name: "the owner makes one and sees it once", as: owner, path: "/admin/helpdesk/settings/inbound-secret",
			form: url.Values{}, want: 200, contains: []string{"The new secret, shown this once"},
			after: func(t *testing.T, p *kerneltest.Page) {
				m := secret.FindStringSubmatch(p.Body)
				if m == nil || !strings.HasPrefix(m[1], f.ta+".") {
					t.Fatalf("no secret of tenant A in the page:\n%s", p.Body)
				}
				if !configured(t, f.agentA) || configured(t, f.ownerB) {
					t.Fatal("the secret is not A's alone")
				}
			}},
		{name: "then the page says it is set", as: owner, path: "/admin/helpdesk/settings", want: 200,
			contains: []string{"A secret is set, since", "Replace the secret"}, lacks: []string{"shown this once"}},
	})

	tk := f.open(t, f.custA, "Thanks", "")
	f.runPages(t, []page{
		{name: "an unrated ticket shows no rating", as: agent, path: "/admin/helpdesk/tickets/" + tk.ID, want: 200,
			lacks: []string{`id="ticket-csat"`}},
	})
	if err := f.k.DB.Conn(t.Context()).Exec("UPDATE helpdesk_tickets SET csat_rating = ?, csat_comment = ?, csat_at = ? WHERE id = ?",
		"good", "Quick & kind", time.Now().UTC(), tk.ID).Error; err != nil {
		t.Fatal(err)
	}
	f.runPages(t, []page{
		{name: "a rated ticket shows its rating", as: agent, path: "/admin/helpdesk/tickets/" + tk.ID, want: 200,
			contains: []string{`id="ticket-csat"`, `<span class="badge ok">good</span>`, "Quick &amp; kind"}},
	})
}
