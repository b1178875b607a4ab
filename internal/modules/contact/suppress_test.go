package contact_test

import (
	"context"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"testing"

	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/modules/contracts"
)

// The suppression list's API: who may do what, normalized addresses, bad
// input, and tenant isolation.
func TestSuppressionAPI(t *testing.T) {
	f := newFixture(t, "")
	var id string
	steps := []struct {
		name, method, path, token string
		body                      any
		want                      int
		code                      string
		check                     func(*kerneltest.Response)
	}{
		{name: "an agent may not add", method: "POST", path: "/suppressions", token: f.agentA,
			body: map[string]string{"channel": "email", "address": "ann@example.net"}, want: 403},
		{name: "bad channel and address", method: "POST", path: "/suppressions", token: f.ownerA,
			body: map[string]string{"channel": "fax", "address": "x"}, want: 422, code: "contact.invalid_suppression"},
		{name: "bad address", method: "POST", path: "/suppressions", token: f.ownerA,
			body: map[string]string{"channel": "sms", "address": "0155 1234"}, want: 422, code: "contact.invalid_suppression",
			check: wantField(t, "address")},
		{name: "an owner adds one", method: "POST", path: "/suppressions", token: f.ownerA,
			body: map[string]string{"channel": "email", "address": "Ann Example <Ann@Example.NET>"}, want: 201,
			check: func(r *kerneltest.Response) {
				j := r.JSON()
				id, _ = j["id"].(string)
				if j["address"] != "ann@example.net" || j["reason"] != "manual" || j["channel"] != "email" {
					t.Errorf("created %s", r.Body)
				}
			}},
		{name: "the same address again", method: "POST", path: "/suppressions", token: f.ownerA,
			body: map[string]string{"channel": "email", "address": "ANN@example.net"}, want: 409, code: "contact.suppression_exists"},
		{name: "an agent reads the list", method: "GET", path: "/suppressions?channel=email&per_page=5", token: f.agentA, want: 200,
			check: func(r *kerneltest.Response) {
				if r.JSON()["total"] != 1.0 || !strings.Contains(string(r.Body), id) {
					t.Errorf("list: %s", r.Body)
				}
			}},
		{name: "the channel filter", method: "GET", path: "/suppressions?channel=sms", token: f.ownerA, want: 200,
			check: func(r *kerneltest.Response) {
				if r.JSON()["total"] != 0.0 {
					t.Errorf("sms list: %s", r.Body)
				}
			}},
		{name: "a bad filter", method: "GET", path: "/suppressions?channel=fax", token: f.ownerA, want: 422},
		{name: "B sees none", method: "GET", path: "/suppressions", token: f.ownerB, want: 200,
			check: func(r *kerneltest.Response) {
				if r.JSON()["total"] != 0.0 {
					t.Errorf("B's list: %s", r.Body)
				}
			}},
		{name: "B cannot delete A's", method: "DELETE", path: "/suppressions/{id}", token: f.ownerB, want: 404,
			code: "contact.suppression_not_found"},
		{name: "an agent cannot delete", method: "DELETE", path: "/suppressions/{id}", token: f.agentA, want: 403},
		{name: "A deletes it", method: "DELETE", path: "/suppressions/{id}", token: f.ownerA, want: 204},
		{name: "it is gone", method: "DELETE", path: "/suppressions/{id}", token: f.ownerA, want: 404},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			res := f.c.Do(s.method, "/api/v1/contact"+strings.ReplaceAll(s.path, "{id}", id), s.token, s.body)
			if res.Status != s.want {
				t.Fatalf("%d %s, want %d", res.Status, res.Body, s.want)
			}
			if s.code != "" && res.ErrorCode() != s.code {
				t.Errorf("code %q, want %q", res.ErrorCode(), s.code)
			}
			if s.check != nil {
				s.check(res)
			}
		})
	}
}

// A hard bounce suppresses the address: the next message to it, in any
// spelling, is not sent.
func TestHardBounceSuppresses(t *testing.T) {
	f := newFixture(t, fastConfig)
	srv := newSMTPServer(t, "u", "p")
	srv.set(false, "nobody@example.net")
	f.smtpProvider(t, f.ta, "primary", 0, srv)
	ctx := asTenant(f.ta)
	first := send(t, ctx, f.m, contracts.ContactMessage{Channel: contracts.ChannelEmail, To: "nobody@example.net",
		Subject: "Hi", Body: "Hello"})
	f.waitStatus(t, first, "bounced")
	res := f.c.Do(http.MethodGet, "/api/v1/contact/suppressions", f.ownerA, nil)
	if !strings.Contains(string(res.Body), `"address":"nobody@example.net","reason":"hard_bounce","message_id":"`+first+`"`) {
		t.Fatalf("suppressions after a bounce: %s", res.Body)
	}
	next := send(t, ctx, f.m, contracts.ContactMessage{Channel: contracts.ChannelEmail, To: "No Body <NoBody@Example.net>",
		Subject: "Receipt", Body: "Thanks"})
	v := f.waitStatus(t, next, "suppressed")
	if !slices.Equal(v.history(), []string{"queued", "suppressed"}) {
		t.Errorf("history = %v", v.history())
	}
	if _, rcpts := srv.counts(); rcpts != 1 {
		t.Errorf("the server saw %d recipients, want only the bounce", rcpts)
	}
}

// A marketing e-mail's List-Unsubscribe URL is real: a GET only asks, the
// one-click POST suppresses the address for marketing, and transactional
// mail still goes.
func TestUnsubscribeLink(t *testing.T) {
	f := newFixture(t, callbackConfig)
	srv := newSMTPServer(t, "u", "p")
	f.provider(t, f.ta, map[string]any{"name": "mail", "channel": "email", "kind": "smtp",
		"settings": map[string]any{"host": "127.0.0.1", "port": srv.port(), "username": srv.user,
			"from": "Shop <shop@example.com>", "root_ca": srv.caPEM},
		"credentials": map[string]string{"password": srv.pass}})
	ctx := asTenant(f.ta)
	marketing := contracts.ContactMessage{Channel: contracts.ChannelEmail, To: "Ann <ann@example.net>", Subject: "Sale",
		Body: "50% off", Category: contracts.CategoryMarketing}
	f.waitStatus(t, send(t, ctx, f.m, marketing), "sent")
	msg, err := mail.ReadMessage(strings.NewReader(srv.received()[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	link := strings.TrimPrefix(strings.SplitN(msg.Header.Get("List-Unsubscribe"), ">", 2)[0], "<")
	path, ok := strings.CutPrefix(link, publicURL)
	if !ok || !strings.HasPrefix(path, "/api/v1/contact/unsubscribe/") {
		t.Fatalf("List-Unsubscribe = %q, want a link under %s", msg.Header.Get("List-Unsubscribe"), publicURL)
	}
	listed := func() bool {
		res := f.c.Do(http.MethodGet, "/api/v1/contact/suppressions?channel=email", f.ownerA, nil)
		return strings.Contains(string(res.Body), `"address":"ann@example.net","reason":"unsubscribe"`)
	}

	tampered := path[:len(path)-2] + "xx"
	for _, c := range []struct {
		name, method, path, body string
		want                     int
		text                     string
		listed                   bool
	}{
		{"GET asks first", http.MethodGet, path, "", 200, "Stop marketing messages to ann@example.net?", false},
		{"a tampered link", http.MethodPost, tampered, "List-Unsubscribe=One-Click", 404, "contact.unsubscribe_link_invalid", false},
		{"GET of a tampered link", http.MethodGet, tampered, "", 404, "not valid", false},
		{"one-click POST", http.MethodPost, path, "List-Unsubscribe=One-Click", 200, `"unsubscribed"`, true},
		{"again", http.MethodPost, path, "List-Unsubscribe=One-Click", 200, `"unsubscribed"`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var body any
			if c.body != "" {
				body = c.body
			}
			res := f.c.Do(c.method, c.path, "", body, "Content-Type", "application/x-www-form-urlencoded")
			if res.Status != c.want || !strings.Contains(string(res.Body), c.text) {
				t.Fatalf("%d %s, want %d with %q", res.Status, res.Body, c.want, c.text)
			}
			if listed() != c.listed {
				t.Errorf("listed = %v, want %v", !c.listed, c.listed)
			}
		})
	}

	v := f.waitStatus(t, send(t, ctx, f.m, marketing), "suppressed")
	if d := v.History[len(v.History)-1].Detail; d == nil || *d != "suppressed: unsubscribe" {
		t.Errorf("history = %v", v.history())
	}
	f.waitStatus(t, send(t, ctx, f.m, contracts.ContactMessage{Channel: contracts.ChannelEmail, To: "ann@example.net",
		Subject: "Receipt", Body: "Thanks"}), "sent")
	if n := len(srv.received()); n != 2 {
		t.Errorf("the server got %d mails, want the first marketing one and the receipt", n)
	}
}

// Migration 0003 goes down and up again on the dialect under test,
// whatever contact migrations come after it.
func TestSuppressionsMigration(t *testing.T) {
	k, _ := newKernel(t, testConfig(t, ""))
	ctx := context.Background()
	tables := []string{"contact_suppressions", "contact_callback_events"}
	has := func(table string) bool { return k.DB.Conn(ctx).Migrator().HasTable(table) }
	for _, tb := range tables {
		if !has(tb) {
			t.Fatalf("%s missing after up", tb)
		}
	}
	for down := 0; ; down++ {
		done, err := k.Migrator().Down(ctx, 1)
		if err != nil || len(done) != 1 || down > 5 {
			t.Fatalf("down: %v, %v", done, err)
		}
		if done[0].ID() == "contact/0003_suppressions" {
			break
		}
	}
	for _, tb := range tables {
		if has(tb) {
			t.Errorf("%s still there after down", tb)
		}
	}
	if _, err := k.Migrator().Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	for _, tb := range tables {
		if !has(tb) {
			t.Errorf("%s missing after up again", tb)
		}
	}
}
