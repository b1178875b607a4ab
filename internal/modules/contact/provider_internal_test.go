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

// A sender's unsubscribe URL cannot end the header and add another.
func TestUnsubscribeURLCannotInjectHeaders(t *testing.T) {
	p := &smtpSender{from: &mail.Address{Address: "shop@example.com"}, now: time.Now}
	for _, u := range []string{"https://example.com/u\r\nBcc: victim@example.net", "javascript:alert(1)",
		"https://example.com/a b", "https://example.com/<x>"} {
		m := &outgoing{ID: "m1", Category: contracts.CategoryMarketing, Subject: "s", Text: "t",
			Metadata: map[string]string{"unsubscribe_url": u}}
		b, err := p.compose(m, &mail.Address{Address: "a@example.net"}, "<m1@example.com>")
		if err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		if msg.Header.Get("Bcc") != "" || msg.Header.Get("List-Unsubscribe") != "<mailto:shop@example.com?subject=unsubscribe%20m1>" ||
			msg.Header.Get("List-Unsubscribe-Post") != "" {
			t.Errorf("unsubscribe_url %q gave headers %v", u, msg.Header)
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
