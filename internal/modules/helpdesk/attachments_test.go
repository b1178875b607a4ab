package helpdesk_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime/multipart"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/platform/platform/internal/modules/helpdesk"
)

// file is one file of a multipart upload.
type file struct {
	name    string
	content []byte
}

// form is a multipart/form-data body of fields (name, value pairs) and
// files under files[].
func form(t *testing.T, fields []string, files ...file) (body []byte, contentType string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		if err := w.WriteField(fields[i], fields[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		h := textproto.MIMEHeader{}
		// As a browser sends it: the name quoted, the type what the client guessed.
		h.Set("Content-Disposition", `form-data; name="files[]"; filename="`+strings.ReplaceAll(f.name, `"`, `\"`)+`"`)
		h.Set("Content-Type", "text/plain")
		p, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		p.Write(f.content)
	}
	w.Close()
	return b.Bytes(), w.FormDataContentType()
}

type attachment struct {
	ID          string `json:"id"`
	MessageID   string `json:"message_id"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	URL         string `json:"url"`
}

type message struct {
	ID          string       `json:"id"`
	Body        string       `json:"body"`
	Internal    bool         `json:"internal"`
	AuthorKind  string       `json:"author_kind"`
	Attachments []attachment `json:"attachments"`
}

// pngBytes is a 1x1 PNG.
var pngBytes, _ = hex.DecodeString("89504e470d0a1a0a0000000d4948445200000001000000010806000000" +
	"1f15c4890000000d49444154789c6360000002000185d8b2640000000049454e44ae426082")

const (
	htmlFile = "<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
	svgFile  = `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`
)

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// storedFiles lists the files under the attachments directory, temporary
// ones included.
func (f *fixture) storedFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	root := filepath.Join(f.k.Config.DataDir, "helpdesk", "attachments")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

// upload posts a message with files to a ticket.
func (f *fixture) upload(t *testing.T, token, ticketID string, fields []string, want int, code string, files ...file) message {
	t.Helper()
	body, ct := form(t, fields, files...)
	var msg message
	res := f.do(t, "POST", "/tickets/"+ticketID+"/messages", token, body, want, code, "Content-Type", ct)
	if want == 201 {
		res.Decode(t, &msg)
	}
	return msg
}

func TestAttachments(t *testing.T) {
	f := newFixture(t, helpdesk.WithConfig(helpdesk.Config{AttachmentMaxBytes: 4096, AttachmentMaxFiles: 3,
		InboundRateLimit: 20, AttachmentLinkTTL: helpdesk.DefaultConfig().AttachmentLinkTTL}))
	tk := f.open(t, f.custA, "Printer on fire", "")
	other := f.open(t, f.cust2A, "Someone else's", "")

	// An agent's reply with a picture, an HTML page and an SVG whose name
	// tries to climb out of its directory.
	reply := f.upload(t, f.agentA, tk.ID, []string{"body", "See the files", "internal", "false"}, 201, "",
		file{"photo.png", pngBytes}, file{"page.html", []byte(htmlFile)},
		file{`../../etc/"évil".svg`, []byte(svgFile)})
	if len(reply.Attachments) != 3 {
		t.Fatalf("reply attachments = %+v", reply.Attachments)
	}
	wantTypes := []string{"image/png", "text/html; charset=utf-8", "image/svg+xml"}
	wantNames := []string{"photo.png", "page.html", "évil.svg"}
	contents := [][]byte{pngBytes, []byte(htmlFile), []byte(svgFile)}
	for i, a := range reply.Attachments {
		if a.ContentType != wantTypes[i] || a.Filename != wantNames[i] || a.Size != int64(len(contents[i])) ||
			a.SHA256 != sum(contents[i]) || a.MessageID != reply.ID {
			t.Errorf("attachment %d = %+v, want %s %s", i, a, wantNames[i], wantTypes[i])
		}
	}
	// An internal note with a file, and a customer's reply on another ticket.
	note := f.upload(t, f.agentA, tk.ID, []string{"body", "Internal: invoice", "internal", "true"}, 201, "",
		file{"secret.txt", []byte("the customer owes us")})
	theirs := f.upload(t, f.cust2A, other.ID, []string{"body", "my file"}, 201, "", file{"mine.txt", []byte("mine")})

	t.Run("downloads are attachments, never sniffed or rendered", func(t *testing.T) {
		for i, a := range reply.Attachments {
			res := f.c.Do("GET", a.URL, f.custA, nil)
			if res.Status != 200 || !bytes.Equal(res.Body, contents[i]) {
				t.Fatalf("GET %s = %d %q", a.URL, res.Status, res.Body)
			}
			h := res.Header
			if h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") ||
				!strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Errorf("%s: headers %v", a.Filename, h)
			}
			cd := h.Get("Content-Disposition")
			if !strings.HasPrefix(cd, "attachment; ") || strings.Contains(cd, "/") || strings.Contains(cd, "\x07") {
				t.Errorf("%s: Content-Disposition %q", a.Filename, cd)
			}
			ct := h.Get("Content-Type")
			switch {
			case i == 0 && ct != "image/png":
				t.Errorf("png served as %q", ct)
			case i > 0 && ct != "application/octet-stream":
				t.Errorf("%s served as %q, want application/octet-stream", a.Filename, ct)
			}
		}
		cd := f.c.Do("GET", reply.Attachments[2].URL, f.agentA, nil).Header.Get("Content-Disposition")
		if want := `attachment; filename="_vil.svg"; filename*=UTF-8''%C3%A9vil.svg`; cd != want {
			t.Errorf("Content-Disposition = %q, want %q", cd, want)
		}
	})

	t.Run("the message list carries the attachments a principal may see", func(t *testing.T) {
		var staffList, custList struct{ Items []message }
		f.do(t, "GET", "/tickets/"+tk.ID+"/messages", f.agentA, nil, 200, "").Decode(t, &staffList)
		f.do(t, "GET", "/tickets/"+tk.ID+"/messages", f.custA, nil, 200, "").Decode(t, &custList)
		if n := len(staffList.Items); n != 3 || len(staffList.Items[1].Attachments) != 3 ||
			len(staffList.Items[2].Attachments) != 1 || len(staffList.Items[0].Attachments) != 0 {
			t.Fatalf("staff list = %+v", staffList.Items)
		}
		for _, m := range custList.Items {
			if m.Internal || m.ID == note.ID {
				t.Fatalf("customer sees the note: %+v", custList.Items)
			}
		}
		if len(custList.Items) != 2 || len(custList.Items[1].Attachments) != 3 {
			t.Fatalf("customer list = %+v", custList.Items)
		}
	})

	noteFile := note.Attachments[0]
	cases := []struct {
		name, token, path string
		want              int
	}{
		{"staff read a note's file", f.agentA, noteFile.URL, 200},
		{"the customer never reads a note's file", f.custA, noteFile.URL, 404},
		{"another customer cannot read the reply's file", f.cust2A, reply.Attachments[0].URL, 404},
		{"another ticket's file through one's own ticket", f.custA,
			"/api/v1/helpdesk/tickets/" + tk.ID + "/attachments/" + theirs.Attachments[0].ID, 404},
		{"another tenant", f.ownerB, reply.Attachments[0].URL, 404},
		{"another tenant, note", f.ownerB, noteFile.URL, 404},
		{"not an id", f.agentA, "/api/v1/helpdesk/tickets/" + tk.ID + "/attachments/nope", 404},
		{"no such file", f.agentA, "/api/v1/helpdesk/tickets/" + tk.ID + "/attachments/" + tk.ID, 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := f.c.Do("GET", c.path, c.token, nil)
			if res.Status != c.want {
				t.Fatalf("GET %s = %d %s, want %d", c.path, res.Status, res.Body, c.want)
			}
			if c.want == 404 && (bytes.Contains(res.Body, []byte("owes")) || res.Header.Get("Content-Disposition") != "") {
				t.Fatalf("a 404 that leaks: %s", res.Body)
			}
		})
	}

	t.Run("bad uploads write nothing", func(t *testing.T) {
		before, files := f.counts(t), f.storedFiles(t)
		big := bytes.Repeat([]byte("x"), 4097)
		bad := []struct {
			name, token, ticket string
			fields              []string
			files               []file
			want                int
			code                string
		}{
			{"a file over the limit", f.agentA, tk.ID, []string{"body", "big"}, []file{{"a.txt", []byte("ok")}, {"big.bin", big}}, 413, "helpdesk.attachment_too_large"},
			{"too many files", f.agentA, tk.ID, []string{"body", "many"}, []file{{"1", []byte("1")}, {"2", []byte("2")}, {"3", []byte("3")}, {"4", []byte("4")}}, 422, "helpdesk.too_many_files"},
			{"an unknown field", f.agentA, tk.ID, []string{"body", "x", "colour", "red"}, nil, 400, "bad_request"},
			{"internal not a bool", f.agentA, tk.ID, []string{"body", "x", "internal", "maybe"}, []file{{"a.txt", []byte("a")}}, 422, "validation_failed"},
			{"no body and no file", f.agentA, tk.ID, []string{"body", "  "}, nil, 422, "validation_failed"},
			{"a customer's note", f.custA, tk.ID, []string{"body", "x", "internal", "true"}, []file{{"a.txt", []byte("a")}}, 403, "helpdesk.internal_note_forbidden"},
			{"another customer's ticket", f.cust2A, tk.ID, []string{"body", "x"}, []file{{"a.txt", []byte("a")}}, 404, "helpdesk.ticket_not_found"},
			{"another tenant's ticket", f.ownerB, tk.ID, []string{"body", "x"}, []file{{"a.txt", []byte("a")}}, 404, "helpdesk.ticket_not_found"},
		}
		for _, b := range bad {
			t.Run(b.name, func(t *testing.T) {
				f.upload(t, b.token, b.ticket, b.fields, b.want, b.code, b.files...)
			})
		}
		t.Run("a broken multipart body", func(t *testing.T) {
			f.do(t, "POST", "/tickets/"+tk.ID+"/messages", f.agentA, "--x\r\nnot a part", 400, "bad_request",
				"Content-Type", "multipart/form-data; boundary=x")
		})
		if after := f.counts(t); !equalCounts(before, after) {
			t.Fatalf("rows changed: %v -> %v", before, after)
		}
		if after := f.storedFiles(t); len(after) != len(files) {
			t.Fatalf("files changed: %v -> %v", files, after)
		}
	})

	t.Run("a failed write removes the files it placed", func(t *testing.T) {
		before, files := f.counts(t), f.storedFiles(t)
		f.bus.setFail(errBusDown)
		f.upload(t, f.agentA, tk.ID, []string{"body", "lost"}, 500, "", file{"lost.txt", []byte("lost")})
		f.bus.setFail(nil)
		if after := f.counts(t); !equalCounts(before, after) {
			t.Fatalf("rows changed: %v -> %v", before, after)
		}
		if after := f.storedFiles(t); len(after) != len(files) {
			t.Fatalf("files left behind: %v -> %v", files, after)
		}
	})
}

// An attachment may be as large as attachment_max_bytes (10 MiB by default)
// even though http.body_limit (1 MiB by default) bounds every other body:
// a multipart reply's limit is raised to its files' total, and a JSON body
// of the same size is still refused.
func TestAttachmentsAboveTheServersBodyLimit(t *testing.T) {
	f := newFixture(t)
	tk := f.open(t, f.custA, "A large scan", "")
	scan := bytes.Repeat([]byte("scan line\n"), 300_000) // 3 MB
	msg := f.upload(t, f.agentA, tk.ID, []string{"body", "Here is the scan"}, 201, "", file{"scan.txt", scan})
	if len(msg.Attachments) != 1 || msg.Attachments[0].Size != int64(len(scan)) {
		t.Fatalf("attachments = %+v", msg.Attachments)
	}
	if res := f.c.Do("GET", msg.Attachments[0].URL, f.agentA, nil); res.Status != 200 || !bytes.Equal(res.Body, scan) {
		t.Fatalf("download = %d, %d bytes", res.Status, len(res.Body))
	}
	before := f.messageCount(t, tk.ID)
	f.do(t, "POST", "/tickets/"+tk.ID+"/messages", f.agentA, map[string]any{"body": string(scan)}, 413, "body_too_large")
	if after := f.messageCount(t, tk.ID); after != before {
		t.Errorf("a refused JSON body wrote a message: %d -> %d", before, after)
	}
}

func (f *fixture) messageCount(t *testing.T, ticketID string) int {
	t.Helper()
	var list struct{ Items []message }
	f.do(t, "GET", "/tickets/"+ticketID+"/messages", f.agentA, nil, 200, "").Decode(t, &list)
	return len(list.Items)
}
