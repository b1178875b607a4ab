package helpdesk_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/platform/platform/internal/modules/helpdesk"
)

// inboundSecret makes a tenant's inbound secret as its owner.
func (f *fixture) inboundSecret(t *testing.T, owner string) string {
	t.Helper()
	var out struct{ Secret, URL, Header string }
	f.do(t, "POST", "/inbound/secret", owner, nil, 201, "").Decode(t, &out)
	if out.Secret == "" || out.Header != helpdesk.InboundHeader || !strings.HasSuffix(out.URL, "/api/v1/helpdesk/inbound/email") {
		t.Fatalf("secret = %+v", out)
	}
	return out.Secret
}

// inbound posts a raw message with a secret and checks the status.
func (f *fixture) inbound(t *testing.T, secret, raw string, want int, code ...string) map[string]any {
	t.Helper()
	c := ""
	if len(code) > 0 {
		c = code[0]
	}
	res := f.do(t, "POST", "/inbound/email", "", []byte(raw), want, c, "Content-Type", "message/rfc822",
		helpdesk.InboundHeader, secret)
	return res.JSON()
}

// mail is a plain-text RFC 5322 message; extra headers are "Name: value" lines.
func mail(from, subject, msgID, inReplyTo, body string, extra ...string) string {
	h := "From: Ann Example <" + from + ">\r\nTo: support@desk.test\r\nSubject: " + subject +
		"\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
	if msgID != "" {
		h += "Message-ID: " + msgID + "\r\n"
	}
	if inReplyTo != "" {
		h += "In-Reply-To: " + inReplyTo + "\r\nReferences: <unrelated@elsewhere.test> " + inReplyTo + "\r\n"
	}
	for _, e := range extra {
		h += e + "\r\n"
	}
	return h + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
}

// multipartMail is a multipart/mixed message with an HTML-only
// alternative body, a PDF-like attachment and an inline PNG, as mail
// clients send them.
func multipartMail(from, subject, msgID, references string) string {
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	refs := ""
	if references != "" {
		refs = "References: " + references + "\r\n"
	}
	return "From: \"Bob Büttner\" <" + from + ">\r\n" +
		"To: support@desk.test\r\n" +
		"Subject: =?UTF-8?B?" + b64([]byte(subject)) + "?=\r\n" +
		"Message-ID: " + msgID + "\r\n" + refs +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
		"--outer\r\n" +
		"Content-Type: multipart/related; boundary=\"inner\"\r\n\r\n" +
		"--inner\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"<html><body><p>The printer says <b>PC LOAD LETTER</b>.</p><script>alert(1)</script><img src=3D\"cid:pic\"></body></html>\r\n" +
		"--inner\r\n" +
		"Content-Type: image/png\r\n" +
		"Content-ID: <pic>\r\n" +
		"Content-Disposition: inline; filename=\"screen.png\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" +
		b64(pngBytes) + "\r\n" +
		"--inner--\r\n" +
		"--outer\r\n" +
		"Content-Type: application/octet-stream; name=\"log.pdf\"\r\n" +
		"Content-Disposition: attachment; filename=\"log.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" +
		b64([]byte("%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n")) + "\r\n" +
		"--outer--\r\n"
}

// An e-mailed reply to a ticket keeps what it quotes of the conversation
// apart from what the customer wrote; a message that opens a ticket keeps
// all it says.
func TestInboundReplyQuotedText(t *testing.T) {
	f := newFixture(t)
	secret := f.inboundSecret(t, f.ownerA)
	quote := "On Wed, Nov 25, 2026 at 10:05 AM Support <support@desk.test> wrote:\r\n> Try turning it off and on.\r\n>\r\n> Kind regards"
	type msg struct {
		Body       string `json:"body"`
		QuotedText string `json:"quoted_text"`
	}
	messages := func(id string) []msg {
		var out struct{ Items []msg }
		f.do(t, "GET", "/tickets/"+id+"/messages", f.agentA, nil, 200, "").Decode(t, &out)
		return out.Items
	}
	res := f.inbound(t, secret, mail("bob@customer.test", "Fwd: printer", "<q1@customer.test>", "", "See below.\r\n\r\n"+quote), 201)
	tid := res["ticket_id"].(string)
	if got := messages(tid); len(got) != 1 || !strings.Contains(got[0].Body, "> Kind regards") || got[0].QuotedText != "" {
		t.Fatalf("the new ticket's message = %+v", got)
	}
	var before, after struct {
		UpdatedAt time.Time `json:"updated_at"`
	}
	f.do(t, "GET", "/tickets/"+tid, f.agentA, nil, 200, "").Decode(t, &before)
	f.inbound(t, secret, mail("bob@customer.test", "Re: printer", "<q2@customer.test>", "<q1@customer.test>",
		"Did that, no luck.\r\n\r\n"+quote), 202)
	f.do(t, "GET", "/tickets/"+tid, f.agentA, nil, 200, "").Decode(t, &after)
	if !after.UpdatedAt.After(before.UpdatedAt) {
		t.Errorf("the e-mailed reply left the ticket's updated_at at %s", after.UpdatedAt)
	}
	got := messages(tid)
	if len(got) != 2 {
		t.Fatalf("%d messages, want 2", len(got))
	}
	if last := got[1]; last.Body != "Did that, no luck." || !strings.HasPrefix(last.QuotedText, "On Wed, Nov 25, 2026") ||
		!strings.Contains(last.QuotedText, "> Kind regards") {
		t.Fatalf("the reply = %q, its quoted text %q", last.Body, last.QuotedText)
	}
	// The backoffice shows the quote folded away.
	agent := f.browser(t, "agent@a.test")
	agent.In(t)
	page := agent.Get("/admin/helpdesk/tickets/" + tid)
	if page.Status != 200 || !strings.Contains(page.Body, `<details class="hd-quoted"><summary class="small">Quoted text</summary>`) ||
		!strings.Contains(page.Body, "&gt; Kind regards") {
		t.Errorf("the ticket page (%d) does not fold the quoted text away:\n%s", page.Status, page.Body)
	}
}

func TestInboundEmail(t *testing.T) {
	f := newFixture(t, helpdesk.WithConfig(helpdesk.Config{AttachmentMaxBytes: 1 << 20, AttachmentMaxFiles: 5,
		InboundRateLimit: 8, OwnDomains: []string{"desk.test"}, AttachmentLinkTTL: helpdesk.DefaultConfig().AttachmentLinkTTL}))
	secret := f.inboundSecret(t, f.ownerA)
	ticketOf := func(res map[string]any) string { return res["ticket_id"].(string) }
	messages := func(id string) []message {
		var out struct{ Items []message }
		f.do(t, "GET", "/tickets/"+id+"/messages", f.agentA, nil, 200, "").Decode(t, &out)
		return out.Items
	}

	// A multipart message opens a ticket for a new customer, with its files.
	first := f.inbound(t, secret, multipartMail("bob@customer.test", "Printer broken – again", "<first-1@customer.test>", ""), 201)
	tid := ticketOf(first)
	var tk ticket
	f.do(t, "GET", "/tickets/"+tid, f.agentA, nil, 200, "").Decode(t, &tk)
	if tk.Subject != "Printer broken – again" || tk.Channel != "email" || tk.Status != "new" {
		t.Fatalf("ticket = %+v", tk)
	}
	var cust struct{ Name, Email string }
	f.do(t, "GET", "/customers/"+tk.RequesterID, f.agentA, nil, 200, "").Decode(t, &cust)
	if cust.Email != "bob@customer.test" || cust.Name != "Bob Büttner" {
		t.Fatalf("customer = %+v", cust)
	}
	msgs := messages(tid)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Body, "PC LOAD LETTER") || strings.Contains(msgs[0].Body, "<b>") ||
		strings.Contains(msgs[0].Body, "alert") || msgs[0].AuthorKind != "customer" {
		t.Fatalf("messages = %+v", msgs)
	}
	types := map[string]string{}
	for _, a := range msgs[0].Attachments {
		types[a.Filename] = a.ContentType
	}
	if len(types) != 2 || types["log.pdf"] != "application/pdf" || types["screen.png"] != "image/png" {
		t.Fatalf("attachments = %+v", msgs[0].Attachments)
	}

	// The agent answers by e-mail; the answers thread in every way a mail
	// client refers to the conversation.
	f.do(t, "POST", "/tickets/"+tid+"/messages", f.agentA, map[string]any{"body": "Try turning it off and on."}, 201, "")
	ref := strings.ReplaceAll(tid, "-", "")
	ref = ref[len(ref)-10:]
	threads := []struct{ name, raw string }{
		{"In-Reply-To the customer's first message", mail("bob@customer.test", "Re: Printer", "<r1@customer.test>", "<first-1@customer.test>", "Still broken")},
		{"References with attachments", multipartMail("Bob@Customer.test", "AW: Printer", "<r2@customer.test>", "<x@y.test> <first-1@customer.test>")},
		{"the [#ref] of the subject", mail("bob@customer.test", "Re: [#"+ref+"] Printer broken", "<r3@customer.test>", "", "Any news?")},
	}
	for i, th := range threads {
		t.Run(th.name, func(t *testing.T) {
			res := f.inbound(t, secret, th.raw, 202)
			if ticketOf(res) != tid {
				t.Fatalf("threaded into %v, want %s", res, tid)
			}
			if n := len(messages(tid)); n != 3+i {
				t.Fatalf("%d messages, want %d", n, 3+i)
			}
		})
	}
	if got := messages(tid)[3].Attachments; len(got) != 2 {
		t.Fatalf("the threaded multipart reply has %d attachments", len(got))
	}

	t.Run("an e-mail reply reopens a solved ticket", func(t *testing.T) {
		var cur ticket
		f.do(t, "GET", "/tickets/"+tid, f.agentA, nil, 200, "").Decode(t, &cur)
		f.patch(t, &cur, map[string]any{"status": "solved"}, 200, "")
		f.inbound(t, secret, mail("bob@customer.test", "Re: Printer", "<r4@customer.test>", "<first-1@customer.test>", "It broke again"), 202)
		f.do(t, "GET", "/tickets/"+tid, f.agentA, nil, 200, "").Decode(t, &cur)
		if cur.Status != "open" || cur.SolvedAt != nil {
			t.Fatalf("after the customer's e-mail: %+v, want open", cur)
		}
	})

	t.Run("a second delivery of one Message-ID writes nothing", func(t *testing.T) {
		before := f.counts(t)
		res := f.inbound(t, secret, mail("bob@customer.test", "Re: Printer", "<r1@customer.test>", "<first-1@customer.test>", "Still broken"), 200)
		if ticketOf(res) != tid || res["duplicate"] != true || res["message_id"] == "" {
			t.Fatalf("duplicate = %v", res)
		}
		if after := f.counts(t); !equalCounts(before, after) {
			t.Fatalf("rows changed: %v -> %v", before, after)
		}
	})

	t.Run("anything else opens a ticket", func(t *testing.T) {
		cases := []struct{ name, raw string }{
			{"no reference", mail("bob@customer.test", "Another question", "<n1@customer.test>", "", "New topic")},
			{"a reference nobody knows", mail("bob@customer.test", "Re: something", "<n2@customer.test>", "<nobody@nowhere.test>", "Hm")},
			{"someone else with the ticket's [#ref]", mail("eve@evil.test", "Re: [#"+ref+"] Printer", "<n3@evil.test>", "", "Let me in")},
			{"no Message-ID", mail("carol@customer.test", "", "", "", "No id, no subject")},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				res := f.inbound(t, secret, c.raw, 201)
				if ticketOf(res) == tid || res["created"] != true {
					t.Fatalf("%v", res)
				}
			})
		}
	})

	t.Run("automatic mail and loops are dropped", func(t *testing.T) {
		cases := []struct{ name, raw, why string }{
			{"Auto-Submitted", mail("bob@customer.test", "Out of office", "<a1@customer.test>", "", "Away", "Auto-Submitted: auto-replied"), "auto_reply"},
			{"Precedence bulk", mail("bob@customer.test", "News", "<a2@customer.test>", "", "x", "Precedence: bulk"), "auto_reply"},
			{"Precedence list", mail("bob@customer.test", "List", "<a3@customer.test>", "", "x", "Precedence: list"), "auto_reply"},
			{"X-Autoreply", mail("bob@customer.test", "Auto", "<a4@customer.test>", "", "x", "X-Autoreply: yes"), "auto_reply"},
			{"X-Auto-Response-Suppress", mail("bob@customer.test", "OOF", "<a5@customer.test>", "", "x", "X-Auto-Response-Suppress: All"), "auto_reply"},
			{"a bounce", mail("MAILER-DAEMON@mx.customer.test", "Undeliverable", "<a6@mx.customer.test>", "", "x"), "bounce"},
			{"empty Return-Path", mail("bob@customer.test", "DSN", "<a7@customer.test>", "", "x", "Return-Path: <>"), "bounce"},
			{"from our own domain", mail("support@desk.test", "Re: x", "<a8@desk.test>", "", "x"), "loop"},
			{"our own Message-ID", mail("bob@customer.test", "Fwd", "<a9@desk.test>", "", "x"), "loop"},
		}
		before := f.counts(t)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if res := f.inbound(t, secret, c.raw, 200); res["dropped"] != c.why {
					t.Fatalf("%v, want dropped %s", res, c.why)
				}
			})
		}
		if after := f.counts(t); !equalCounts(before, after) {
			t.Fatalf("dropped mail wrote rows: %v -> %v", before, after)
		}
	})

	t.Run("one sender's flood is capped", func(t *testing.T) {
		// The limit is 8 in ten minutes.
		got := map[string]int{}
		for i := range 10 {
			raw := mail("flood@customer.test", fmt.Sprint("Flood ", i), fmt.Sprintf("<flood-%d@customer.test>", i), "", "x")
			res := f.c.Do("POST", "/api/v1/helpdesk/inbound/email", "", []byte(raw), helpdesk.InboundHeader, secret)
			switch {
			case res.Status == 201:
				got["created"]++
			case res.Status == 200 && res.JSON()["dropped"] == "rate_limited":
				got["dropped"]++
			default:
				t.Fatalf("flood %d: %d %s", i, res.Status, res.Body)
			}
		}
		if got["created"] != 8 || got["dropped"] != 2 {
			t.Fatalf("flood = %v, want 8 created and 2 dropped", got)
		}
	})

	t.Run("bad requests write nothing", func(t *testing.T) {
		before := f.counts(t)
		cases := []struct {
			name, secret, raw string
			want              int
			code              string
		}{
			{"no secret", "", mail("bob@customer.test", "x", "<b1@c.test>", "", "x"), 401, "helpdesk.inbound_unauthenticated"},
			{"a wrong secret", secret + "x", mail("bob@customer.test", "x", "<b2@c.test>", "", "x"), 401, "helpdesk.inbound_unauthenticated"},
			{"an empty body", secret, "  \r\n", 400, "helpdesk.inbound_malformed"},
			{"no From", secret, "Subject: x\r\nMessage-ID: <b3@c.test>\r\n\r\nbody\r\n", 422, "helpdesk.inbound_invalid"},
			{"a From that is no address", secret, "From: nobody\r\nSubject: x\r\n\r\nbody\r\n", 422, "helpdesk.inbound_invalid"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { f.inbound(t, c.secret, c.raw, c.want, c.code) })
		}
		if after := f.counts(t); !equalCounts(before, after) {
			t.Fatalf("rows changed: %v -> %v", before, after)
		}
	})

	t.Run("only an owner makes the secret, and a new one replaces the old", func(t *testing.T) {
		f.do(t, "POST", "/inbound/secret", f.agentA, nil, 403, "helpdesk.owner_only")
		f.do(t, "POST", "/inbound/secret", f.custA, nil, 403, "")
		newer := f.inboundSecret(t, f.ownerA)
		f.inbound(t, secret, mail("bob@customer.test", "x", "<old@c.test>", "", "x"), 401, "helpdesk.inbound_unauthenticated")
		f.inbound(t, newer, mail("bob@customer.test", "x", "<new@c.test>", "", "x"), 201)
		var st struct{ Configured bool }
		f.do(t, "GET", "/inbound", f.ownerA, nil, 200, "").Decode(t, &st)
		if !st.Configured {
			t.Fatal("not configured")
		}
		f.do(t, "GET", "/inbound", f.ownerB, nil, 200, "").Decode(t, &st)
		if st.Configured {
			t.Fatal("B is configured by A's secret")
		}
	})
}
