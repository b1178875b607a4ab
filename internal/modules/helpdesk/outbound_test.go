package helpdesk_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/modules/contracts/contacttest"
	"github.com/platform/platform/internal/modules/helpdesk"
)

// sentWith waits for the sender to hold n messages whose idempotency key
// starts with prefix, and returns them.
func sentWith(t *testing.T, s *contacttest.Sender, prefix string, n int) []contacttest.Sent {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var out []contacttest.Sent
		for _, m := range s.Messages() {
			if strings.HasPrefix(m.Message.IdempotencyKey, prefix) {
				out = append(out, m)
			}
		}
		if len(out) >= n || time.Now().After(deadline) {
			if len(out) != n {
				t.Fatalf("%d messages with key %s*, want %d: %+v", len(out), prefix, n, out)
			}
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var csatLink = regexp.MustCompile(`/api/v1/helpdesk/csat/([A-Za-z0-9_.-]+)`)

func TestRepliesAndCSATByEmail(t *testing.T) {
	var s contacttest.Sender
	f := newFixture(t, helpdesk.WithSender(&s))
	kerneltest.StartQueue(t, f.k)
	tk := f.open(t, f.custA, "Broken screen", "")
	ref := strings.ReplaceAll(tk.ID, "-", "")
	ref = ref[len(ref)-10:]

	// A failed first attempt is retried, and the reply still goes once.
	s.FailNext(1, errors.New("provider down"))
	var reply message
	f.do(t, "POST", "/tickets/"+tk.ID+"/messages", f.agentA, map[string]any{"body": "We will send a new one."}, 201, "").Decode(t, &reply)
	f.do(t, "POST", "/tickets/"+tk.ID+"/messages", f.agentA, map[string]any{"body": "Note: " + tgNoteMarker, "internal": true}, 201, "")
	f.do(t, "POST", "/tickets/"+tk.ID+"/messages", f.custA, map[string]any{"body": "Thanks"}, 201, "")
	f.upload(t, f.agentA, tk.ID, []string{"body", "The label"}, 201, "", file{"label.pdf", []byte("%PDF-1.4\n%%EOF\n")})

	sent := sentWith(t, &s, "helpdesk-reply:", 2)
	if sent[0].Message.IdempotencyKey != "helpdesk-reply:"+reply.ID {
		sent[0], sent[1] = sent[1], sent[0] // the first one's retry went after the second
	}
	first := sent[0].Message
	if first.To != "cust@a.test" || first.Subject != "Re: [#"+ref+"] Broken screen" || first.Body != "We will send a new one." ||
		first.IdempotencyKey != "helpdesk-reply:"+reply.ID || sent[0].Tenant != f.ta || first.Channel != "email" {
		t.Fatalf("first reply = %+v", sent[0])
	}
	if !strings.Contains(sent[1].Message.Body, "The label") || !strings.Contains(sent[1].Message.Body, "label.pdf") {
		t.Fatalf("second reply = %+v", sent[1].Message)
	}
	for _, m := range s.Messages() {
		if strings.Contains(m.Message.Body, tgNoteMarker) || strings.Contains(m.Message.Body, "Thanks") {
			t.Fatalf("sent a note or the customer's own message: %+v", m)
		}
	}

	// The customer answers the e-mail: it threads by the contact message
	// id the reply went out with.
	secret := f.inboundSecret(t, f.ownerA)
	res := f.inbound(t, secret, mail("cust@a.test", "Re: your reply", "<answer-1@a-mail.test>",
		"<"+string(sent[0].ID)+"@desk-mail.test>", "When?"), 202)
	if res["ticket_id"] != tk.ID {
		t.Fatalf("answer = %v", res)
	}

	// Solving asks for a rating, with a link that records it once.
	f.patch(t, &tk, map[string]any{"status": "solved"}, 200, "")
	req := sentWith(t, &s, "helpdesk-csat:", 1)[0].Message
	m := csatLink.FindStringSubmatch(req.Body)
	if m == nil || req.To != "cust@a.test" {
		t.Fatalf("csat request = %+v", req)
	}
	path := "/csat/" + m[1]
	var got struct {
		TicketID string `json:"ticket_id"`
		CSAT     *struct{ Rating, Comment string }
	}
	f.do(t, "GET", path, "", nil, 200, "").Decode(t, &got)
	if got.TicketID != tk.ID || got.CSAT != nil {
		t.Fatalf("csat page = %+v", got)
	}
	page := f.c.Do("GET", "/api/v1/helpdesk"+path, "", nil, "Accept", "text/html")
	if page.Status != 200 || !strings.Contains(string(page.Body), "<form method=\"post\">") {
		t.Fatalf("csat page as HTML: %d %s", page.Status, page.Body)
	}
	before := f.counts(t)
	f.do(t, "POST", path, "", map[string]any{"rating": "great"}, 422, "validation_failed")
	f.do(t, "POST", path, "", `{"rating":`, 400, "")
	f.do(t, "POST", path, "", map[string]any{"rating": "good", "extra": 1}, 400, "")
	f.do(t, "POST", "/csat/"+m[1]+"x", "", map[string]any{"rating": "good"}, 404, "helpdesk.csat_link_invalid")
	if after := f.counts(t); !equalCounts(before, after) {
		t.Fatalf("rows changed: %v -> %v", before, after)
	}
	var rated ticket
	f.do(t, "GET", "/tickets/"+tk.ID, f.agentA, nil, 200, "").Decode(t, &rated)
	f.do(t, "POST", path, "", map[string]any{"rating": "good", "comment": "Fast and kind"}, 200, "")
	f.do(t, "POST", path, "", map[string]any{"rating": "bad"}, 409, "helpdesk.csat_already_rated")
	var view struct {
		CSAT *struct {
			Rating, Comment string
			At              string
		} `json:"csat"`
	}
	f.do(t, "GET", "/tickets/"+tk.ID, f.custA, nil, 200, "").Decode(t, &view)
	if view.CSAT == nil || view.CSAT.Rating != "good" || view.CSAT.Comment != "Fast and kind" || view.CSAT.At == "" {
		t.Fatalf("ticket csat = %+v", view.CSAT)
	}
	// Reopened and solved again: a rated ticket is not asked again.
	f.do(t, "GET", "/tickets/"+tk.ID, f.agentA, nil, 200, "").Decode(t, &rated)
	f.patch(t, &rated, map[string]any{"status": "open"}, 200, "")
	f.patch(t, &rated, map[string]any{"status": "solved"}, 200, "")
	f.do(t, "POST", "/tickets/"+tk.ID+"/messages", f.agentA, map[string]any{"body": "Done."}, 201, "")
	sentWith(t, &s, "helpdesk-reply:", 3)
	sentWith(t, &s, "helpdesk-csat:", 1)
}

// A reply on an e-mail ticket joins the customer's thread: In-Reply-To is
// the customer's latest e-mail, References the ticket's e-mails in order,
// ours named by the contact message id they went out with. A ticket that
// never had an e-mail gets neither.
func TestRepliesThreadInTheCustomersMail(t *testing.T) {
	var s contacttest.Sender
	f := newFixture(t, helpdesk.WithSender(&s))
	kerneltest.StartQueue(t, f.k)
	secret := f.inboundSecret(t, f.ownerA)

	res := f.inbound(t, secret, mail("cust@a.test", "Printer jam", "<q1@a-mail.test>", "", "It jams."), 201)
	ticketID, _ := res["ticket_id"].(string)
	f.do(t, "POST", "/tickets/"+ticketID+"/messages", f.agentA, map[string]any{"body": "Open the tray."}, 201, "")
	first := sentWith(t, &s, "helpdesk-reply:", 1)[0]
	if md := first.Message.Metadata; md["in_reply_to"] != "<q1@a-mail.test>" || md["references"] != "<q1@a-mail.test>" {
		t.Fatalf("first reply's metadata = %v", md)
	}

	// The customer answers our reply; a message without a Message-ID on
	// the same ticket is no id to name.
	f.inbound(t, secret, mail("cust@a.test", "Re: Printer jam", "<q2@a-mail.test>", "<"+string(first.ID)+"@desk.test>", "Still jams."), 202)
	// A re-run of the first reply's job, after the thread has grown: the
	// mail went out before and is not sent again, nor is the job failed.
	if err := f.hd.SendReplyAgain(t.Context(), f.ta, ticketID, first.Message.Metadata["helpdesk_message_id"]); err != nil {
		t.Fatalf("re-running the first reply's job: %v", err)
	}
	if n := len(s.Messages()); n != 1 {
		t.Fatalf("%d messages sent after the re-run, want 1", n)
	}
	f.inbound(t, secret, mail("cust@a.test", "Re: [#"+shortRef(ticketID)+"] Printer jam", "", "", "And now?"), 202)
	f.do(t, "POST", "/tickets/"+ticketID+"/messages", f.agentA, map[string]any{"body": "Try this."}, 201, "")
	second := sentWith(t, &s, "helpdesk-reply:", 2)[1].Message.Metadata
	if want := "<q1@a-mail.test> " + string(first.ID) + " <q2@a-mail.test>"; second["in_reply_to"] != "<q2@a-mail.test>" ||
		second["references"] != want {
		t.Fatalf("second reply's metadata = %v, want In-Reply-To <q2@a-mail.test> and References %q", second, want)
	}

	// References keeps the first id and the last ten.
	for i := 3; i <= 13; i++ {
		id := "<q" + strconv.Itoa(i) + "@a-mail.test>"
		f.inbound(t, secret, mail("cust@a.test", "Re: [#"+shortRef(ticketID)+"] Printer jam", id, "", "Hello "+id), 202)
	}
	f.do(t, "POST", "/tickets/"+ticketID+"/messages", f.agentA, map[string]any{"body": "Third."}, 201, "")
	third := sentWith(t, &s, "helpdesk-reply:", 3)[2].Message.Metadata
	refs := strings.Fields(third["references"])
	if len(refs) != 11 || refs[0] != "<q1@a-mail.test>" || refs[1] != "<q4@a-mail.test>" || refs[10] != "<q13@a-mail.test>" ||
		third["in_reply_to"] != "<q13@a-mail.test>" {
		t.Fatalf("third reply's metadata = %v", third)
	}

	// The rating request of the solved ticket is in the same thread.
	var solved ticket
	f.do(t, "GET", "/tickets/"+ticketID, f.agentA, nil, 200, "").Decode(t, &solved)
	f.patch(t, &solved, map[string]any{"status": "solved"}, 200, "")
	csat := sentWith(t, &s, "helpdesk-csat:", 1)[0].Message.Metadata
	if csatRefs := strings.Fields(csat["references"]); csat["in_reply_to"] != "<q13@a-mail.test>" || len(csatRefs) != 11 ||
		csatRefs[0] != "<q1@a-mail.test>" || csatRefs[10] != string(sentWith(t, &s, "helpdesk-reply:", 3)[2].ID) {
		t.Fatalf("the rating request's metadata = %v", csat)
	}

	// A ticket opened through the API has no e-mail to answer.
	tk := f.open(t, f.custA, "By the API", "")
	f.do(t, "POST", "/tickets/"+tk.ID+"/messages", f.agentA, map[string]any{"body": "Hello."}, 201, "")
	for _, m := range sentWith(t, &s, "helpdesk-reply:", 4) {
		if m.Message.Metadata["helpdesk_ticket_id"] != tk.ID {
			continue
		}
		if _, ok := m.Message.Metadata["in_reply_to"]; ok || m.Message.Metadata["references"] != "" {
			t.Fatalf("API ticket's reply metadata = %v", m.Message.Metadata)
		}
	}
}

func shortRef(id string) string {
	id = strings.ReplaceAll(id, "-", "")
	return id[len(id)-10:]
}

var fileLinkRe = regexp.MustCompile(`https://desk\.example\.com(/api/v1/helpdesk/files/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+))`)

// fileToken signs a file link's claim as the module does, to forge one.
func fileToken(f *fixture, claim map[string]any) string {
	b, _ := json.Marshal(claim)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(f.k.Security.Sign("helpdesk.file", []byte(payload))[:16])
}

// A public reply's files reach the customer as signed links that work
// without an account until they expire; a tampered, expired or forged
// link, a note's file and a file whose message is gone are 404.
func TestReplyFilesByLink(t *testing.T) {
	var s contacttest.Sender
	clock := &fakeClock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	f := newFixture(t, helpdesk.WithSender(&s), helpdesk.WithClock(clock.now))
	f.k.Config.HTTP.PublicURL = "https://desk.example.com/" // links are absolute, as the CSAT link
	kerneltest.StartQueue(t, f.k)
	tk := f.open(t, f.custA, "Invoice copy", "")
	other := f.open(t, f.cust2A, "Another ticket", "")

	pdf := []byte("%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n")
	text := []byte("Line one.\nLine two.\n")
	note := f.upload(t, f.agentA, tk.ID, []string{"body", "Private copy", "internal", "true"}, 201, "",
		file{"secret-ledger.txt", []byte("ledger")})
	reply := f.upload(t, f.agentA, tk.ID, []string{"body", "Here are your files."}, 201, "",
		file{"invoice.pdf", pdf}, file{"notes.txt", text})
	sent := sentWith(t, &s, "helpdesk-reply:", 1)[0].Message
	for _, m := range s.Messages() {
		if strings.Contains(m.Message.Body, "secret-ledger") || strings.Contains(m.Message.Body, "Private copy") {
			t.Fatalf("a note or its file was sent: %+v", m.Message)
		}
	}
	links := fileLinkRe.FindAllStringSubmatch(sent.Body, -1)
	if len(links) != 2 || !strings.HasPrefix(sent.Body, "Here are your files.\n\nAttachments (links valid until 31 December 2026 10:00 UTC):") ||
		!strings.Contains(sent.Body, "\n- invoice.pdf ("+strconv.Itoa(len(pdf))+" bytes)\n  "+links[0][0]) ||
		!strings.Contains(sent.Body, "\n- notes.txt ("+strconv.Itoa(len(text))+" bytes)\n  "+links[1][0]) {
		t.Fatalf("reply body = %q", sent.Body)
	}

	// Each link downloads its file, without an account.
	for i, want := range []struct {
		name, ctype string
		content     []byte
	}{{"invoice.pdf", reply.Attachments[0].ContentType, pdf}, {"notes.txt", reply.Attachments[1].ContentType, text}} {
		res := f.c.Do("GET", links[i][1], "", nil)
		h := res.Header
		if res.Status != 200 || !bytes.Equal(res.Body, want.content) || h.Get("Content-Type") != want.ctype ||
			h.Get("Content-Disposition") != `attachment; filename="`+want.name+`"` || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("link %d: %d %v %q", i, res.Status, h, res.Body)
		}
	}
	if reply.Attachments[0].ContentType != "application/pdf" || !strings.HasPrefix(reply.Attachments[1].ContentType, "text/plain") {
		t.Fatalf("stored types = %+v", reply.Attachments)
	}

	notFound := func(name, path string) {
		t.Helper()
		res := f.c.Do("GET", path, "", nil)
		if res.Status != 404 || res.ErrorCode() != "helpdesk.file_link_invalid" || bytes.Contains(res.Body, pdf[:8]) ||
			bytes.Contains(res.Body, []byte("ledger")) {
			t.Errorf("%s: %d %s, want 404 helpdesk.file_link_invalid", name, res.Status, res.Body)
		}
	}
	tok := strings.TrimPrefix(links[0][1], "/api/v1/helpdesk/files/")
	payload, sig, _ := strings.Cut(tok, ".")
	var claim map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	if err := json.Unmarshal(raw, &claim); err != nil {
		t.Fatal(err)
	}
	longer := map[string]any{}
	for k, v := range claim {
		longer[k] = v
	}
	longer["exp"] = claim["exp"].(float64) + 86400
	tampered, _ := json.Marshal(longer)
	otherClaim := map[string]any{"tn": claim["tn"], "tk": other.ID, "a": claim["a"], "exp": claim["exp"]}
	noteClaim := map[string]any{"tn": claim["tn"], "tk": tk.ID, "a": note.Attachments[0].ID, "exp": claim["exp"]}
	notFound("a changed signature", "/api/v1/helpdesk/files/"+payload+"."+strings.Repeat("A", len(sig)))
	notFound("a longer expiry, unsigned", "/api/v1/helpdesk/files/"+base64.RawURLEncoding.EncodeToString(tampered)+"."+sig)
	notFound("no signature", "/api/v1/helpdesk/files/"+payload)
	notFound("another ticket's id, signed", "/api/v1/helpdesk/files/"+fileToken(f, otherClaim))
	notFound("a note's file, signed", "/api/v1/helpdesk/files/"+fileToken(f, noteClaim))

	// A link works until the end of its 30 days, not after.
	clock.set(time.Date(2026, 12, 31, 10, 0, 0, 0, time.UTC))
	if res := f.c.Do("GET", links[0][1], "", nil); res.Status != 200 {
		t.Fatalf("link on its last second: %d %s", res.Status, res.Body)
	}
	clock.set(time.Date(2026, 12, 31, 10, 0, 1, 0, time.UTC))
	notFound("an expired link", links[0][1])

	// A file whose message is gone is not served.
	clock.set(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	if err := f.k.DB.Conn(t.Context()).Exec("DELETE FROM helpdesk_messages WHERE id = ?", reply.ID).Error; err != nil {
		t.Fatal(err)
	}
	notFound("a deleted message's file", links[1][1])
}
