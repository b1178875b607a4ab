package contact_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/modules/contact"
	"github.com/platform/platform/internal/modules/contracts"
)

// count is the number of rows in table, across tenants.
func (f *fixture) count(table string) int64 {
	var n int64
	f.k.DB.Conn(context.Background()).Table(table).Count(&n)
	return n
}

// The templates API: save-time errors that store nothing, create and
// replace, locale fallback, HTML escaping in a preview, permissions and
// tenant isolation.
func TestTemplateAPI(t *testing.T) {
	f := newFixture(t, "    log_fallback: \"true\"\n")
	welcome := func(locale, subject string) map[string]any {
		return map[string]any{"key": "welcome", "locale": locale, "channel": "email", "subject": subject,
			"text": "Hello {{.name}}", "html": "<p>Hello {{.name}}</p>"}
	}
	ids := map[string]string{}
	saved := func(name string) func(*kerneltest.Response) {
		return func(r *kerneltest.Response) {
			if ids[name] != "" && ids[name] != r.JSON()["id"] {
				t.Errorf("%s: a new id %v for a replaced template", name, r.JSON()["id"])
			}
			ids[name], _ = r.JSON()["id"].(string)
		}
	}
	usedLocale := func(subject, locale string) func(*kerneltest.Response) {
		return func(r *kerneltest.Response) {
			var out struct {
				Rendered contact.Rendered
				Template contact.Template
			}
			r.Decode(t, &out)
			if out.Rendered.Subject != subject || out.Template.Locale != locale {
				t.Errorf("rendered %+v from locale %q, want subject %q from %q", out.Rendered, out.Template.Locale, subject, locale)
			}
		}
	}
	preview := func(locale string, data map[string]any) map[string]any {
		return map[string]any{"key": "welcome", "locale": locale, "channel": "email", "data": data}
	}
	ann := map[string]any{"name": "Ann"}

	steps := []apiStep{
		{name: "an agent may not save", method: "POST", path: "/templates", token: f.agentA, body: welcome("", "Hi"), want: 403},
		{name: "a syntax error names the field and line", method: "POST", path: "/templates", token: f.ownerA,
			body: map[string]any{"key": "welcome", "channel": "email", "subject": "Hi", "text": "Hello\n{{.name"}, want: 422,
			code: "contact.invalid_template", check: wantDetail(t, "text", "syntax", "line 2")},
		{name: "an unknown function", method: "POST", path: "/templates", token: f.ownerA,
			body: map[string]any{"key": "welcome", "channel": "email", "subject": "{{shout .name}}", "text": "x"}, want: 422,
			code: "contact.invalid_template", check: wantDetail(t, "subject", "unknown_function", `"shout" not defined`)},
		{name: "an e-mail needs a subject and a part", method: "POST", path: "/templates", token: f.ownerA,
			body: map[string]any{"key": "welcome", "channel": "email"}, want: 422, code: "contact.invalid_template",
			check: wantField(t, "subject", "text")},
		{name: "an sms needs text and takes no html", method: "POST", path: "/templates", token: f.ownerA,
			body: map[string]any{"key": "welcome", "channel": "sms", "html": "<p>x</p>"}, want: 422, code: "contact.invalid_template",
			check: wantField(t, "text", "html")},
		{name: "bad key, locale and channel", method: "POST", path: "/templates", token: f.ownerA,
			body: map[string]any{"key": "Welcome!", "locale": "deutsch?", "channel": "fax", "text": "x"}, want: 422,
			code: "contact.invalid_template", check: wantField(t, "key", "locale", "channel")},
		{name: "html left inside a tag", method: "POST", path: "/templates", token: f.ownerA,
			body: map[string]any{"key": "welcome", "channel": "email", "subject": "Hi", "html": `<a href="{{.url}}`}, want: 422,
			code: "contact.invalid_template", check: wantField(t, "html")},
		{name: "sample data without a key the template uses", method: "POST", path: "/templates", token: f.ownerA,
			body: map[string]any{"key": "welcome", "channel": "email", "subject": "Hi {{.user.name}}", "text": "x",
				"sample_data": map[string]any{"user": map[string]any{}}}, want: 422, code: "contact.invalid_template",
			check: wantDetail(t, "data.user.name", "missing_key", `"name"`)},
		{name: "a webhook body that is not JSON", method: "POST", path: "/templates", token: f.ownerA,
			body: map[string]any{"key": "hook", "channel": "webhook", "text": `{"name": {{.name}}}`,
				"sample_data": map[string]any{"name": "Ann"}}, want: 422, code: "contact.invalid_template", check: wantField(t, "text")},
		{name: "range over a number", method: "POST", path: "/templates", token: f.ownerA,
			body: map[string]any{"key": "spin", "channel": "sms", "text": "{{range 1000000000}}{{end}}"}, want: 422,
			code: "contact.invalid_template", check: wantField(t, "text")},
		{name: "a subject past its limit with the sample data", method: "POST", path: "/templates", token: f.ownerA,
			body: map[string]any{"key": "long", "channel": "email", "subject": "{{.s}}{{.s}}", "text": "x",
				"sample_data": map[string]any{"s": strings.Repeat("x", 600)}}, want: 422, code: "contact.invalid_template",
			check: wantDetail(t, "subject", "max", "998")},
		{name: "loops too long for the sample data", method: "POST", path: "/templates", token: f.ownerA,
			body: map[string]any{"key": "loops", "channel": "sms", "text": "{{range .a}}{{range $.a}}{{range $.a}}{{end}}{{end}}{{end}}",
				"sample_data": map[string]any{"a": make([]int, 100)}}, want: 422, code: "contact.invalid_template",
			check: wantDetail(t, "text", "max", "loop steps")},
		{name: "unknown field", method: "POST", path: "/templates", token: f.ownerA,
			body: map[string]any{"key": "welcome", "channel": "sms", "text": "x", "tenant_id": f.tb}, want: 400, code: "unknown_field"},
		{name: "nothing was stored", method: "GET", path: "/templates", token: f.ownerA, want: 200,
			check: func(r *kerneltest.Response) {
				if n := f.count("contact_templates"); n != 0 || r.JSON()["total"] != 0.0 {
					t.Errorf("bad input stored %d templates: %s", n, r.Body)
				}
			}},
		{name: "the default", method: "POST", path: "/templates", token: f.ownerA, body: welcome("", "Welcome, {{.name}}"),
			want: 201, check: saved("default")},
		{name: "German", method: "POST", path: "/templates", token: f.ownerA, body: welcome("de", "Willkommen, {{.name}}"),
			want: 201, check: saved("de")},
		{name: "Austrian German, tag normalized", method: "POST", path: "/templates", token: f.ownerA,
			body: welcome("de_at", "Servus, {{.name}}"), want: 201, check: func(r *kerneltest.Response) {
				saved("de-AT")(r)
				if r.JSON()["locale"] != "de-AT" {
					t.Errorf("locale %v, want de-AT", r.JSON()["locale"])
				}
			}},
		{name: "saving the same key, locale and channel replaces it", method: "POST", path: "/templates", token: f.ownerA,
			body: welcome("DE", "Hallo, {{.name | upper}}"), want: 200, check: saved("de")},
		{name: "sample data that renders", method: "POST", path: "/templates", token: f.ownerA,
			body: map[string]any{"key": "hook", "channel": "webhook", "text": `{"name": {{json .name}}}`,
				"sample_data": map[string]any{"name": `A "quoted" name`}}, want: 201, check: saved("hook")},
		{name: "an agent lists them by key", method: "GET", path: "/templates?key=welcome&per_page=2", token: f.agentA, want: 200,
			check: func(r *kerneltest.Response) {
				var page struct {
					Items []contact.Template
					Total int
				}
				r.Decode(t, &page)
				if page.Total != 3 || len(page.Items) != 2 || page.Items[0].Locale != "" || page.Items[1].Locale != "de" {
					t.Errorf("list: %s", r.Body)
				}
			}},
		{name: "a bad key filter", method: "GET", path: "/templates?key=Not%20a%20key", token: f.agentA, want: 422, code: "invalid_query"},
		{name: "de-AT exactly", method: "POST", path: "/templates/preview", token: f.agentA, body: preview("de-AT", ann),
			want: 200, check: usedLocale("Servus, Ann", "de-AT")},
		{name: "de-CH falls back to de", method: "POST", path: "/templates/preview", token: f.agentA, body: preview("de-CH", ann),
			want: 200, check: usedLocale("Hallo, ANN", "de")},
		{name: "fr falls back to the default", method: "POST", path: "/templates/preview", token: f.agentA, body: preview("fr", ann),
			want: 200, check: usedLocale("Welcome, Ann", "")},
		{name: "html is escaped, text is not", method: "POST", path: "/templates/preview", token: f.agentA,
			body: preview("", map[string]any{"name": `<script>alert("x")</script>`}), want: 200,
			check: func(r *kerneltest.Response) {
				var out struct{ Rendered contact.Rendered }
				r.Decode(t, &out)
				if strings.Contains(out.Rendered.HTML, "<script>") || !strings.Contains(out.Rendered.HTML, "&lt;script&gt;") ||
					out.Rendered.Text != `Hello <script>alert("x")</script>` {
					t.Errorf("rendered %+v", out.Rendered)
				}
			}},
		{name: "a preview without the data", method: "POST", path: "/templates/preview", token: f.agentA, body: preview("de", nil),
			want: 422, code: "contact.template_render", check: wantDetail(t, "data.name", "missing_key", `"name"`)},
		{name: "a preview of an unknown channel's template", method: "POST", path: "/templates/preview", token: f.agentA,
			body: map[string]any{"key": "welcome", "channel": "sms"}, want: 422, code: "contact.unknown_template"},
		{name: "B cannot preview A's template", method: "POST", path: "/templates/preview", token: f.ownerB, body: preview("de", ann),
			want: 422, code: "contact.unknown_template"},
		{name: "B does not see A's template", method: "GET", path: "/templates/{de}", token: f.ownerB, want: 404,
			code: "contact.template_not_found"},
		{name: "B's list is empty", method: "GET", path: "/templates", token: f.ownerB, want: 200, check: wantTotal(t, 0)},
		{name: "B cannot change it", method: "PUT", path: "/templates/{de}", token: f.ownerB, body: welcome("de", "Hacked"), want: 404},
		{name: "B cannot delete it", method: "DELETE", path: "/templates/{de}", token: f.ownerB, want: 404},
		{name: "B's own template of the same key", method: "POST", path: "/templates", token: f.ownerB, body: welcome("", "B's"),
			want: 201},
		{name: "an agent reads one", method: "GET", path: "/templates/{de}", token: f.agentA, want: 200,
			check: func(r *kerneltest.Response) {
				if r.JSON()["subject"] != "Hallo, {{.name | upper}}" || r.JSON()["tenant_id"] != f.ta {
					t.Errorf("get: %s", r.Body)
				}
			}},
		{name: "a bad put changes nothing", method: "PUT", path: "/templates/{de}", token: f.ownerA,
			body: map[string]any{"key": "welcome", "locale": "de", "channel": "email", "subject": "{{if}}", "text": "x"}, want: 422,
			code: "contact.invalid_template", check: wantField(t, "subject")},
		{name: "a put onto another template's locale", method: "PUT", path: "/templates/{de}", token: f.ownerA,
			body: welcome("de-AT", "x"), want: 409, code: "contact.template_exists"},
		{name: "a put", method: "PUT", path: "/templates/{de}", token: f.ownerA, body: welcome("de", "Grüß dich, {{.name}}"), want: 200},
		{name: "the put is used", method: "POST", path: "/templates/preview", token: f.agentA, body: preview("de-DE", ann),
			want: 200, check: usedLocale("Grüß dich, Ann", "de")},
		{name: "an agent may not delete", method: "DELETE", path: "/templates/{de}", token: f.agentA, want: 403},
		{name: "A deletes de", method: "DELETE", path: "/templates/{de}", token: f.ownerA, want: 204},
		{name: "de-CH now falls back to the default", method: "POST", path: "/templates/preview", token: f.agentA,
			body: preview("de-CH", ann), want: 200, check: usedLocale("Welcome, Ann", "")},
		{name: "it is gone", method: "GET", path: "/templates/{de}", token: f.ownerA, want: 404},
	}
	f.runSteps(t, steps, func(path string) string { return strings.NewReplacer("{de}", ids["de"]).Replace(path) })
}

// apiStep is one request of an API table test and what it must answer.
type apiStep struct {
	name, method, path, token string
	body                      any
	headers                   []string // pairs of name and value
	want                      int
	code                      string
	check                     func(*kerneltest.Response)
}

// runSteps runs steps in order, each as a subtest, against
// /api/v1/contact; expand puts the ids that earlier steps made into a
// step's path.
func (f *fixture) runSteps(t *testing.T, steps []apiStep, expand func(string) string) {
	t.Helper()
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			path := expand(s.path)
			res := f.c.Do(s.method, "/api/v1/contact"+path, s.token, s.body, s.headers...)
			if res.Status != s.want {
				t.Fatalf("%s %s: %d %s, want %d", s.method, path, res.Status, res.Body, s.want)
			}
			if s.code != "" && res.ErrorCode() != s.code {
				t.Errorf("code %q, want %q: %s", res.ErrorCode(), s.code, res.Body)
			}
			if s.check != nil {
				s.check(res)
			}
		})
	}
}

// wantTotal checks that a page counts n items in all.
func wantTotal(t *testing.T, n float64) func(*kerneltest.Response) {
	return func(r *kerneltest.Response) {
		if r.JSON()["total"] != n {
			t.Errorf("total is not %v: %s", n, r.Body)
		}
	}
}

// wantDetail checks that an error has a detail for field with code whose
// message contains text.
func wantDetail(t *testing.T, field, code, text string) func(*kerneltest.Response) {
	return func(r *kerneltest.Response) {
		var e struct {
			Error struct{ Details []errs.Detail }
		}
		r.Decode(t, &e)
		for _, d := range e.Error.Details {
			if d.Field == field && d.Code == code && strings.Contains(d.Message, text) {
				return
			}
		}
		t.Errorf("no detail %s/%s with %q: %s", field, code, text, r.Body)
	}
}

// A message with a template is rendered when it is sent, and delivered
// as rendered; data without a key the template uses is refused and
// stores nothing.
func TestTemplateSend(t *testing.T) {
	f := newFixture(t, "    log_fallback: \"true\"\n")
	ctx := asTenant(f.ta)
	for _, in := range []contact.TemplateInput{
		{Key: "order.shipped", Channel: "email", Subject: "Order {{.order}} shipped",
			Text: "Hi {{.name}}, it ships on {{date \"2 Jan 2006\" .at}}.", HTML: "<p>Hi {{.name}}</p>"},
		{Key: "order.shipped", Locale: "de", Channel: "email", Subject: "Bestellung {{.order}} verschickt",
			Text: "Hallo {{.name}}", HTML: "<p>Hallo {{.name}}</p>"},
		{Key: "order.shipped", Channel: "sms", Text: "Order {{.order}} ships today"},
		{Key: "order.shipped", Channel: "webhook", Text: `{"order": {{.order}}}`},
	} {
		if _, err := f.m.SaveTemplate(ctx, in); err != nil {
			t.Fatalf("save %+v: %v", in, err)
		}
	}
	data := map[string]any{"order": "42", "name": "<b>Ann</b>", "at": "2026-03-04T10:00:00Z"}
	body := map[string]any{"channel": "email", "to": "ann@example.net", "template": "order.shipped", "locale": "de-AT",
		"data": data, "idempotency_key": "shipped-42"}
	res := f.c.Do(http.MethodPost, "/api/v1/contact/messages", f.agentA, body)
	if res.Status != http.StatusAccepted || res.JSON()["subject"] != "Bestellung 42 verschickt" {
		t.Fatalf("send: %d %s", res.Status, res.Body)
	}
	id, _ := res.JSON()["id"].(string)

	// The same request again is a replay of the first, even once the
	// template needs data the request does not have.
	if _, err := f.m.SaveTemplate(ctx, contact.TemplateInput{Key: "order.shipped", Locale: "de", Channel: "email",
		Subject: "{{.coupon}}", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	again := f.c.Do(http.MethodPost, "/api/v1/contact/messages", f.agentA, body)
	if again.Status != http.StatusAccepted || again.JSON()["id"] != id || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: %d %s", again.Status, again.Body)
	}
	body["data"] = map[string]any{"order": "42"}
	if res := f.c.Do(http.MethodPost, "/api/v1/contact/messages", f.agentA, body); res.ErrorCode() != "contact.idempotency_mismatch" {
		t.Errorf("the same key with other data: %d %s", res.Status, res.Body)
	}

	// The Go API, in the default locale, on SMS.
	smsID, err := f.m.Send(ctx, contracts.ContactMessage{Channel: contracts.ChannelSMS, To: "+14155550123",
		Template: "order.shipped", Data: map[string]any{"order": 7}})
	if err != nil {
		t.Fatal(err)
	}

	// Data without a key, an unknown template, or one not made for the
	// channel: refused, and nothing stored.
	before := f.count("contact_messages")
	for name, c := range map[string]struct {
		msg         contracts.ContactMessage
		code, field string
	}{
		"missing data": {contracts.ContactMessage{Channel: "email", To: "ann@example.net", Template: "order.shipped",
			Data: map[string]any{"order": "43"}}, "contact.template_render", "data.name"},
		"unknown template": {contracts.ContactMessage{Channel: "email", To: "ann@example.net", Template: "order.lost"},
			"contact.unknown_template", "template"},
		"no voice template": {contracts.ContactMessage{Channel: "voice", To: "+14155550123", Template: "order.shipped",
			Data: data}, "contact.unknown_template", "template"},
		"a webhook body that is not JSON": {contracts.ContactMessage{Channel: "webhook", To: "https://example.com/hook",
			Template: "order.shipped", Data: map[string]any{"order": "A-1"}}, "contact.template_render", "text"},
		"a bad date": {contracts.ContactMessage{Channel: "email", To: "ann@example.net", Template: "order.shipped",
			Data: map[string]any{"order": "1", "name": "x", "at": "yesterday"}}, "contact.template_render", "text"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.m.Send(ctx, c.msg)
			e, ok := errs.As(err)
			if !ok || e.Code != c.code || len(e.Details) == 0 || e.Details[0].Field != c.field {
				t.Errorf("send: %v %+v, want %s on %s", err, e, c.code, c.field)
			}
		})
	}
	res = f.c.Do(http.MethodPost, "/api/v1/contact/messages", f.agentA, map[string]any{"channel": "email",
		"to": "ann@example.net", "template": "order.shipped", "data": map[string]any{"order": "1"}})
	if res.Status != http.StatusUnprocessableEntity || res.ErrorCode() != "contact.template_render" ||
		!strings.Contains(string(res.Body), `"field":"data.name"`) {
		t.Errorf("send with missing data: %d %s", res.Status, res.Body)
	}
	if n := f.count("contact_messages"); n != before {
		t.Errorf("refused sends stored %d messages", n-before)
	}

	// Both were delivered as rendered.
	f.waitStatus(t, id, "sent")
	f.waitStatus(t, string(smsID), "sent")
	var outbox struct {
		Items []struct {
			MessageID                    string `json:"message_id"`
			Channel, Subject, Body, HTML string
		}
	}
	f.c.Do(http.MethodGet, "/api/v1/contact/outbox", f.ownerA, nil).Decode(t, &outbox)
	got := map[string]string{}
	for _, o := range outbox.Items {
		got[o.MessageID] = o.Subject + "|" + o.Body + "|" + o.HTML
	}
	if want := "Bestellung 42 verschickt|Hallo <b>Ann</b>|<p>Hallo &lt;b&gt;Ann&lt;/b&gt;</p>"; got[id] != want {
		t.Errorf("e-mail delivered %q, want %q", got[id], want)
	}
	if want := "|Order 7 ships today|"; got[string(smsID)] != want {
		t.Errorf("sms delivered %q, want %q", got[string(smsID)], want)
	}
}

// The Go API the backoffice uses: save, list, get, delete, preview, each
// within the caller's tenant.
func TestTemplateGoAPI(t *testing.T) {
	f := newFixture(t, "")
	a, b := asTenant(f.ta), asTenant(f.tb)
	tpl, err := f.m.SaveTemplate(a, contact.TemplateInput{Key: "reset", Locale: "pt_br", Channel: "sms",
		Text: "Code {{.code | default \"none\"}}"})
	if err != nil || tpl.Locale != "pt-BR" || tpl.TenantID != f.ta {
		t.Fatalf("save: %+v %v", tpl, err)
	}
	if _, err := f.m.SaveTemplate(asTenant(""), contact.TemplateInput{Key: "reset", Channel: "sms", Text: "x"}); !errors.Is(err, contact.ErrNoTenant) {
		t.Errorf("save without a tenant: %v", err)
	}
	if _, err := f.m.SaveTemplate(a, contact.TemplateInput{Key: "reset", Channel: "sms", Text: "{{end}}"}); !errors.Is(err, contact.ErrInvalidTemplate) {
		t.Errorf("save a bad template: %v", err)
	}
	out, used, err := f.m.PreviewTemplate(a, "reset", "pt-BR", "sms", map[string]any{"code": ""})
	if err != nil || out.Text != "Code none" || used.ID != tpl.ID {
		t.Errorf("preview: %+v %+v %v", out, used, err)
	}
	_, err = f.m.SaveTemplate(a, contact.TemplateInput{Key: "list", Channel: "email", Subject: "{{len .items}} items",
		HTML: `<ul>{{range $i, $x := .items}}<li title="{{$x}}">{{$i}}: {{$x}}</li>{{end}}</ul><script>var n = {{range .items}}{{.}}{{end}};</script>`})
	if err != nil {
		t.Fatal(err)
	}
	out, _, err = f.m.PreviewTemplate(a, "list", "", "email", map[string]any{"items": []any{"a<b", "c"}})
	if want := `<ul><li title="a&lt;b">0: a&lt;b</li><li title="c">1: c</li></ul><script>var n = "a\u003cb""c";</script>`; err != nil ||
		out.Subject != "2 items" || out.HTML != want {
		t.Errorf("loops: %+v %v, want html %s", out, err, want)
	}
	if _, _, err := f.m.PreviewTemplate(a, "reset", "pt", "sms", nil); !errors.Is(err, contact.ErrUnknownTemplate) {
		t.Errorf("pt does not fall forward to pt-BR: %v", err)
	}
	if _, err := f.m.GetTemplate(b, tpl.ID); !errors.Is(err, contact.ErrTemplateNotFound) {
		t.Errorf("B gets A's template: %v", err)
	}
	if err := f.m.DeleteTemplate(b, tpl.ID); !errors.Is(err, contact.ErrTemplateNotFound) {
		t.Errorf("B deletes A's template: %v", err)
	}
	if items, total, err := f.m.ListTemplates(b, "", 0, 10); err != nil || total != 0 || len(items) != 0 {
		t.Errorf("B's list: %v %d %v", items, total, err)
	}
	if items, total, err := f.m.ListTemplates(a, "reset", 0, 10); err != nil || total != 1 || items[0].ID != tpl.ID {
		t.Errorf("A's list: %v %d %v", items, total, err)
	}
	if err := f.m.DeleteTemplate(a, tpl.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.GetTemplate(a, tpl.ID); !errors.Is(err, contact.ErrTemplateNotFound) {
		t.Errorf("deleted template: %v", err)
	}
}

// Concurrent saves of one key, locale and channel all succeed and leave
// one template: the last one saved.
func TestTemplateConcurrentSaves(t *testing.T) {
	f := newFixture(t, "")
	ctx := asTenant(f.ta)
	const n = 8
	errc := make(chan error, n)
	for i := range n {
		go func() {
			_, err := f.m.SaveTemplate(ctx, contact.TemplateInput{Key: "race", Locale: "de", Channel: "sms",
				Text: strings.Repeat("x", i+1)})
			errc <- err
		}()
	}
	for range n {
		if err := <-errc; err != nil {
			t.Errorf("save: %v", err)
		}
	}
	if items, total, err := f.m.ListTemplates(ctx, "race", 0, 10); err != nil || total != 1 || len(items) != 1 {
		t.Errorf("templates after concurrent saves: %+v %d %v", items, total, err)
	}
}
