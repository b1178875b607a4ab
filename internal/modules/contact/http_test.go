package contact_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/modules/contact"
	"github.com/platform/platform/internal/modules/contracts"
)

// The API: who may do what, clear errors for bad input that change
// nothing, tenant isolation, and credentials that never come back.
func TestContactAPI(t *testing.T) {
	f := newFixture(t, "    log_fallback: \"true\"\n")
	c := f.c
	count := func(table string) int64 {
		var n int64
		f.k.DB.Conn(context.Background()).Table(table).Count(&n)
		return n
	}
	email := map[string]any{"channel": "email", "to": "ann@example.net", "subject": "Hi", "body": "Hello"}
	var sentID, providerID string

	steps := []apiStep{
		{name: "send needs a token", method: "POST", path: "/messages", body: email, want: 401},
		{name: "a customer may not send", method: "POST", path: "/messages", token: f.customerA, body: email, want: 403},
		{name: "unknown field", method: "POST", path: "/messages", token: f.agentA,
			body: map[string]any{"channel": "email", "to": "a@b.c", "body": "x", "tenant_id": "other"}, want: 400, code: "unknown_field"},
		{name: "not JSON", method: "POST", path: "/messages", token: f.agentA, body: "{", want: 400, code: "invalid_json"},
		{name: "missing fields", method: "POST", path: "/messages", token: f.agentA, body: map[string]any{}, want: 422,
			code: "validation_failed"},
		{name: "bad channel", method: "POST", path: "/messages", token: f.agentA,
			body: map[string]any{"channel": "fax", "to": "x", "body": "x"}, want: 422, code: "contact.invalid_message",
			check: wantField(t, "channel")},
		{name: "bad e-mail, no subject", method: "POST", path: "/messages", token: f.agentA,
			body: map[string]any{"channel": "email", "to": "not-an-address", "body": "x"}, want: 422, code: "contact.invalid_message",
			check: wantField(t, "to", "subject")},
		{name: "bad phone number and locale", method: "POST", path: "/messages", token: f.agentA,
			body: map[string]any{"channel": "sms", "to": "0155 1234", "body": "x", "locale": "english!"}, want: 422,
			code: "contact.invalid_message", check: wantField(t, "to", "locale")},
		{name: "html is for e-mail", method: "POST", path: "/messages", token: f.agentA,
			body: map[string]any{"channel": "sms", "to": "+14155550123", "body": "x", "html": "<p>x</p>"}, want: 422,
			code: "contact.invalid_message", check: wantField(t, "html")},
		{name: "bad category", method: "POST", path: "/messages", token: f.agentA,
			body: map[string]any{"channel": "sms", "to": "+14155550123", "body": "x", "category": "spam"}, want: 422,
			code: "contact.invalid_message", check: wantField(t, "category")},
		{name: "no body", method: "POST", path: "/messages", token: f.agentA,
			body: map[string]any{"channel": "sms", "to": "+14155550123"}, want: 422, code: "contact.invalid_message", check: wantField(t, "body")},
		{name: "a template the tenant does not have", method: "POST", path: "/messages", token: f.agentA,
			body: map[string]any{"channel": "email", "to": "a@b.c", "template": "welcome", "data": map[string]any{"n": 1}},
			want: 422, code: "contact.unknown_template", check: wantField(t, "template")},
		{name: "key in body and header differ", method: "POST", path: "/messages", token: f.agentA,
			body:    map[string]any{"channel": "sms", "to": "+14155550123", "body": "x", "idempotency_key": "a"},
			headers: []string{"Idempotency-Key", "b"}, want: 422, code: "contact.invalid_message"},
		{name: "nothing was stored", method: "GET", path: "/messages", token: f.ownerA, want: 200,
			check: func(r *kerneltest.Response) {
				if n := count("contact_messages"); n != 0 || r.JSON()["total"] != 0.0 {
					t.Errorf("bad input stored %d messages: %s", n, r.Body)
				}
			}},
		{name: "an agent sends", method: "POST", path: "/messages", token: f.agentA, body: email, want: 202,
			check: func(r *kerneltest.Response) {
				sentID, _ = r.JSON()["id"].(string)
				if sentID == "" || r.JSON()["status"] != "queued" {
					t.Errorf("send: %s", r.Body)
				}
			}},
		{name: "tenant B does not see A's message", method: "GET", path: "/messages/{sent}", token: f.ownerB, want: 404,
			code: "contact.message_not_found"},
		{name: "B's list is empty", method: "GET", path: "/messages", token: f.ownerB, want: 200,
			check: func(r *kerneltest.Response) {
				if r.JSON()["total"] != 0.0 {
					t.Errorf("B sees %s", r.Body)
				}
			}},
		{name: "A's list has it", method: "GET", path: "/messages?channel=email&per_page=5", token: f.ownerA, want: 200,
			check: func(r *kerneltest.Response) {
				var page struct {
					Items []struct{ ID, Status string }
					Total int
				}
				r.Decode(t, &page)
				if page.Total != 1 || len(page.Items) != 1 || page.Items[0].ID != sentID {
					t.Errorf("A's list: %s", r.Body)
				}
			}},
		{name: "filters narrow the list", method: "GET", path: "/messages?channel=sms", token: f.ownerA, want: 200,
			check: func(r *kerneltest.Response) {
				if r.JSON()["total"] != 0.0 {
					t.Errorf("sms list: %s", r.Body)
				}
			}},
		{name: "bad filter", method: "GET", path: "/messages?status=lost", token: f.ownerA, want: 422, code: "invalid_query"},
		{name: "providers are for owners", method: "GET", path: "/providers", token: f.agentA, want: 403},
		{name: "unknown kind", method: "POST", path: "/providers", token: f.ownerA,
			body: map[string]any{"name": "x", "channel": "email", "kind": "pigeon"}, want: 422, code: "contact.invalid_provider"},
		{name: "kind and channel must match", method: "POST", path: "/providers", token: f.ownerA,
			body: map[string]any{"name": "x", "channel": "voice", "kind": "vonage"}, want: 422, code: "contact.invalid_provider"},
		{name: "missing credentials", method: "POST", path: "/providers", token: f.ownerA,
			body: map[string]any{"name": "x", "channel": "email", "kind": "smtp",
				"settings": map[string]any{"host": "mail.example.com", "from": "a@example.com", "username": "u"}},
			want: 422, code: "contact.invalid_provider", check: wantField(t, "credentials.password")},
		{name: "bad settings", method: "POST", path: "/providers", token: f.ownerA,
			body: map[string]any{"name": "x", "channel": "email", "kind": "smtp", "credentials": map[string]string{"password": "p"},
				"settings": map[string]any{"host": "mail.example.com", "from": "a@example.com", "tls": "maybe"}},
			want: 422, code: "contact.invalid_provider"},
		{name: "unknown setting", method: "POST", path: "/providers", token: f.ownerA,
			body: map[string]any{"name": "x", "channel": "sms", "kind": "vonage", "credentials": map[string]string{"api_key": "k", "api_secret": "s"},
				"settings": map[string]any{"from": "Shop", "colour": "red"}},
			want: 422, code: "contact.invalid_provider"},
		{name: "no provider was stored", method: "GET", path: "/providers", token: f.ownerA, want: 200,
			check: func(r *kerneltest.Response) {
				if n := count("contact_providers"); n != 0 {
					t.Errorf("bad input stored %d providers", n)
				}
			}},
		{name: "an owner creates an smtp provider", method: "POST", path: "/providers", token: f.ownerA,
			body: map[string]any{"name": "mail", "channel": "email", "kind": "smtp", "priority": 5,
				"settings":    map[string]any{"host": "mail.example.com", "from": "Shop <a@example.com>", "username": "u"},
				"credentials": map[string]string{"password": "hunter2-secret"}},
			want: 201, check: func(r *kerneltest.Response) {
				providerID, _ = r.JSON()["id"].(string)
				if strings.Contains(string(r.Body), "hunter2") || !strings.Contains(string(r.Body), `"credentials_set":["password"]`) {
					t.Errorf("create provider: %s", r.Body)
				}
			}},
		{name: "credentials are sealed at rest", method: "GET", path: "/providers/{provider}", token: f.ownerA, want: 200,
			check: func(r *kerneltest.Response) {
				var sealed []string
				f.k.DB.Conn(context.Background()).Table("contact_providers").Where("id = ?", providerID).Pluck("credentials", &sealed)
				if len(sealed) != 1 || !strings.HasPrefix(sealed[0], "v1:") || strings.Contains(sealed[0], "hunter2") ||
					strings.Contains(string(r.Body), "hunter2") {
					t.Errorf("stored %q, shown %s", sealed, r.Body)
				}
			}},
		{name: "the same name again", method: "POST", path: "/providers", token: f.ownerA,
			body: map[string]any{"name": "mail", "channel": "email", "kind": "log"}, want: 409, code: "contact.provider_name_taken"},
		{name: "B does not see A's provider", method: "GET", path: "/providers/{provider}", token: f.ownerB, want: 404},
		{name: "B cannot change it", method: "PATCH", path: "/providers/{provider}", token: f.ownerB,
			body: map[string]any{"enabled": false}, want: 404},
		{name: "kind cannot change", method: "PATCH", path: "/providers/{provider}", token: f.ownerA,
			body: map[string]any{"kind": "log"}, want: 422, code: "contact.invalid_provider"},
		{name: "a patch keeps the password", method: "PATCH", path: "/providers/{provider}", token: f.ownerA,
			body: map[string]any{"name": "mail-2", "priority": 1}, want: 200, check: func(r *kerneltest.Response) {
				j := r.JSON()
				if j["name"] != "mail-2" || j["priority"] != 1.0 || !strings.Contains(string(r.Body), `"credentials_set":["password"]`) {
					t.Errorf("patch: %s", r.Body)
				}
			}},
		{name: "B cannot delete it", method: "DELETE", path: "/providers/{provider}", token: f.ownerB, want: 404},
		{name: "A deletes it", method: "DELETE", path: "/providers/{provider}", token: f.ownerA, want: 204},
		{name: "it is gone", method: "GET", path: "/providers/{provider}", token: f.ownerA, want: 404},
	}
	f.runSteps(t, steps, func(path string) string {
		return strings.NewReplacer("{sent}", sentID, "{provider}", providerID).Replace(path)
	})

	// Work platform-wide, with no tenant, cannot send.
	if _, err := f.m.Send(asTenant(""), contracts.ContactMessage{Channel: "sms", To: "+14155550123", Body: "x"}); !errors.Is(err, contact.ErrNoTenant) {
		t.Errorf("send without a tenant: %v", err)
	}

	// The log provider delivered the message; the outbox and the history show it.
	v := f.waitStatus(t, sentID, "sent")
	if v.History[len(v.History)-1].ProviderKind == nil || *v.History[len(v.History)-1].ProviderKind != "log" {
		t.Errorf("history %+v, want the log provider", v.History)
	}
	res := c.Do(http.MethodGet, "/api/v1/contact/outbox", f.ownerA, nil)
	if res.Status != http.StatusOK || res.JSON()["total"] != 1.0 || !strings.Contains(string(res.Body), sentID) {
		t.Errorf("outbox: %d %s", res.Status, res.Body)
	}
	if res := c.Do(http.MethodGet, "/api/v1/contact/outbox", f.ownerB, nil); res.JSON()["total"] != 0.0 {
		t.Errorf("B's outbox: %s", res.Body)
	}
}

// wantField checks that an error names each field in its details.
func wantField(t *testing.T, fields ...string) func(*kerneltest.Response) {
	return func(r *kerneltest.Response) {
		for _, f := range fields {
			if !strings.Contains(string(r.Body), `"field":"`+f+`"`) {
				t.Errorf("no detail for %s: %s", f, r.Body)
			}
		}
	}
}

// A bad modules.contact key, in the file or the environment, stops
// start-up with an error that names it.
func TestConfigErrorsNameTheKey(t *testing.T) {
	for key, c := range map[string]struct{ yaml, env, value string }{
		"modules.contact.secret_key":     {yaml: "    secret_key: too-short\n"},
		"modules.contact.log_fallback":   {yaml: "    log_fallback: sometimes\n"},
		"modules.contact.queue":          {yaml: "    queue: urgent\n"},
		"modules.contact.max_attempts":   {env: "PLATFORM_MODULES_CONTACT_MAX_ATTEMPTS", value: "many"},
		"modules.contact.send_timeout":   {yaml: "    send_timeout: 30s\n", env: "PLATFORM_MODULES_CONTACT_SEND_TIMEOUT", value: "-1s"},
		"modules.contact.breaker_window": {env: "PLATFORM_MODULES_CONTACT_BREAKER_WINDOW", value: "soon"},
	} {
		t.Run(key, func(t *testing.T) {
			cfg := testConfig(t, c.yaml)
			if c.env != "" {
				t.Setenv(c.env, c.value)
			}
			k := openKernelOnly(t, cfg)
			defer k.Close()
			_, err := contact.New(k)
			if err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("New: %v, want an error naming %s", err, key)
			}
		})
	}
}
