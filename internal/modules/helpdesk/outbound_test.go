package helpdesk_test

import (
	"errors"
	"regexp"
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
