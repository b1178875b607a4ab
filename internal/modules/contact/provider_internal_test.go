package contact

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/platform/platform/internal/modules/contracts"
)

// composedHeader is the header of m as p writes it to a@example.net.
func composedHeader(t *testing.T, p *smtpSender, m *outgoing) mail.Header {
	t.Helper()
	b, err := p.compose(m, &mail.Address{Address: "a@example.net"}, "<m1@example.com>")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return msg.Header
}

// A sender's unsubscribe URL cannot end the header and add another.
func TestUnsubscribeURLCannotInjectHeaders(t *testing.T) {
	p := &smtpSender{from: &mail.Address{Address: "shop@example.com"}, now: time.Now}
	for _, u := range []string{"https://example.com/u\r\nBcc: victim@example.net", "javascript:alert(1)",
		"https://example.com/a b", "https://example.com/<x>"} {
		m := &outgoing{ID: "m1", Category: contracts.CategoryMarketing, Subject: "s", Text: "t",
			Metadata: map[string]string{"unsubscribe_url": u}}
		h := composedHeader(t, p, m)
		if h.Get("Bcc") != "" || h.Get("List-Unsubscribe") != "<mailto:shop@example.com?subject=unsubscribe%20m1>" ||
			h.Get("List-Unsubscribe-Post") != "" {
			t.Errorf("unsubscribe_url %q gave headers %v", u, h)
		}
	}
}

// Of Twilio's errors only those about the recipient are permanent.
func TestTwilioErrorClasses(t *testing.T) {
	for _, c := range []struct {
		status    int
		body      string
		permanent bool
	}{
		{400, `{"code":21211,"message":"invalid To"}`, true},
		{400, `{"code":21610,"message":"unsubscribed recipient"}`, true},
		{400, `{"code":21212,"message":"invalid From"}`, false},
		{401, `{"code":20003,"message":"authenticate"}`, false},
		{429, `{"code":20429,"message":"too many requests"}`, false},
		{503, `oops`, false},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(c.status)
			_, _ = w.Write([]byte(c.body))
		}))
		p, err := buildTwilio(env{row: &providerRow{Channel: "sms"}, allowPrivate: true, timeout: 5 * time.Second},
			json.RawMessage(`{"base_url":"`+srv.URL+`","account_sid":"AC1","from":"+15005550006"}`), map[string]string{"auth_token": "x"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Send(context.Background(), &outgoing{ID: "m1", Channel: contracts.ChannelSMS, To: "+14155550123", Text: "x"})
		_, perm := permanentStatus(err)
		if err == nil || perm != c.permanent {
			t.Errorf("%d %s: %v, permanent %v, want %v", c.status, c.body, err, perm, c.permanent)
		}
		srv.Close()
	}
}

// In-Reply-To and References come from metadata only as msg-ids: a value
// that could end the header is dropped whole, tokens that are not msg-ids
// one by one.
func TestThreadHeadersAreMsgIDs(t *testing.T) {
	p := &smtpSender{from: &mail.Address{Address: "shop@example.com"}, now: time.Now}
	many := strings.Repeat("<x@example.net> ", maxThreadIDs+1)
	for _, c := range []struct {
		name, value, want string
	}{
		{"one id", "<a.1@mail.example.net>", "<a.1@mail.example.net>"},
		{"a list", "<a@x.test> <b@y.test>", "<a@x.test> <b@y.test>"},
		{"a domain literal", "<a@[192.0.2.1]>", "<a@[192.0.2.1]>"},
		{"non-ids dropped", "<a@x.test> b@y.test <c> <d@> <@e> <f@g h> <i@j.test>", "<a@x.test> <i@j.test>"},
		{"CRLF injection", "<a@b>\r\nBcc: x@y", ""},
		{"LF injection", "<a@b>\nBcc: x@y", ""},
		{"a tab", "<a@b>\t<c@d>", ""},
		{"NUL", "<a@b>\x00", ""},
		{"non-ASCII", "<ä@b.test>", ""},
		{"too long an id", "<" + strings.Repeat("a", maxThreadIDLen) + "@b.test>", ""},
		{"too many ids", many, ""},
		{"nothing", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &outgoing{ID: "m1", Subject: "s", Text: "t",
				Metadata: map[string]string{"in_reply_to": c.value, "references": c.value}}
			h := composedHeader(t, p, m)
			if h.Get("Bcc") != "" || h.Get("In-Reply-To") != c.want || strings.Join(strings.Fields(h.Get("References")), " ") != c.want {
				t.Errorf("headers for %q: In-Reply-To %q, References %q, Bcc %q; want %q", c.value, h.Get("In-Reply-To"),
					h.Get("References"), h.Get("Bcc"), c.want)
			}
			if _, ok := h["References"]; ok != (c.want != "") {
				t.Errorf("References present = %v, want %v", ok, c.want != "")
			}
		})
	}
}
