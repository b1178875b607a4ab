package helpdesk_test

import (
	"bytes"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

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
