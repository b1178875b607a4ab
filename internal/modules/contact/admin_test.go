package contact_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/security"
	"github.com/platform/platform/internal/modules/contact"
	"github.com/platform/platform/internal/modules/contracts"
)

// signIn is a backoffice browser signed in as email.
func signIn(t *testing.T, base, email, password string) *kerneltest.Browser {
	t.Helper()
	b := kerneltest.NewBrowser(t, base)
	b.Login(email, password)
	return b
}

// step is one request of the page test and what it must answer.
type step struct {
	name      string
	as        *kerneltest.Browser
	path      string
	form      url.Values // nil: GET; otherwise POST, with the CSRF token unless the form sets _csrf (kerneltest.WithoutCSRF)
	want      int
	location  string // a prefix of the redirect's target
	contains  []string
	lacks     []string
	afterward func(p *kerneltest.Page)
}

func runAdminSteps(t *testing.T, steps []step) {
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.as.In(t)
			var p *kerneltest.Page
			if s.form == nil {
				p = s.as.Get(s.path)
			} else {
				p = s.as.Post(s.path, s.form)
			}
			p.Must(t, s.want, s.contains...)
			if !strings.HasPrefix(p.Location(), s.location) {
				t.Errorf("redirect to %q, want %q…", p.Location(), s.location)
			}
			for _, x := range s.lacks {
				if strings.Contains(p.Body, x) {
					t.Errorf("the page shows %q", x)
				}
			}
			if s.afterward != nil {
				s.afterward(p)
			}
		})
	}
}

// newAdminFixture is newFixture with the backoffice: tenant A ("Alpha
// Ltd") with an owner and an agent, tenant B ("Beta Ltd") with an owner.
func newAdminFixture(t *testing.T) (*fixture, string) {
	t.Helper()
	k, m := newKernel(t, testConfig(t, ""))
	k.UseShell(admin.New(k))
	kerneltest.StartQueue(t, k)
	srv := kerneltest.Server(t, k)
	c := kerneltest.NewClient(t, srv.URL)
	f := &fixture{k: k, m: m, c: c, admin: c.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)}
	f.ta = c.CreateTenant(f.admin, "Alpha Ltd", "alpha")
	f.tb = c.CreateTenant(f.admin, "Beta Ltd", "beta")
	f.ownerA = c.CreateUser(f.admin, f.ta, "owner@a.test", "owner")
	c.CreateUser(f.admin, f.ta, "agent@a.test", "agent")
	c.CreateUser(f.admin, f.tb, "owner@b.test", "owner")
	return f, srv.URL
}

func TestAdminPages(t *testing.T) {
	f, base := newAdminFixture(t)
	k, m, c := f.k, f.m, f.c
	e, _ := k.HTTP()
	declared, undeclared := admin.Inventory(e)
	if len(undeclared) > 0 {
		t.Fatalf("admin routes without a declared permission: %v", undeclared)
	}
	for route, want := range map[string]security.Permission{"GET /admin/contact": contact.PermRead,
		"GET /admin/contact/messages/:id": contact.PermRead, "GET /admin/contact/outbox": contact.PermRead,
		"GET /admin/contact/providers": contact.PermManage, "POST /admin/contact/providers": contact.PermManage,
		"POST /admin/contact/providers/:id": contact.PermManage, "POST /admin/contact/providers/:id/test": contact.PermManage,
		"POST /admin/contact/providers/:id/delete": contact.PermManage} {
		if got := declared[route]; got != want {
			t.Errorf("%s declares %q, want %q", route, got, want)
		}
	}

	mail := newSMTPServer(t, "mailer", "mail-secret-42")
	mail.set(false, "reject@example.net")
	relay := f.smtpProvider(t, f.ta, "Relay", 5, mail)
	send := func(tenant string, msg contracts.ContactMessage) string {
		t.Helper()
		id, err := m.Send(asTenant(tenant), msg)
		if err != nil {
			t.Fatal(err)
		}
		return string(id)
	}
	annID := send(f.ta, contracts.ContactMessage{Channel: contracts.ChannelEmail, To: "ann@example.net", Subject: "Spring sale",
		Body: "Everything half price.", Category: contracts.CategoryMarketing})
	send(f.ta, contracts.ContactMessage{Channel: contracts.ChannelSMS, To: "+14155550123", Body: "Your code is 1234"})
	bobID := send(f.tb, contracts.ContactMessage{Channel: contracts.ChannelEmail, To: "bob@b.test", Subject: "Hello B", Body: "For B."})
	f.waitStatus(t, annID, contact.StatusSent)

	platform := signIn(t, base, kerneltest.AdminEmail, kerneltest.AdminPassword)
	owner := signIn(t, base, "owner@a.test", kerneltest.UserPassword)
	agent := signIn(t, base, "agent@a.test", kerneltest.UserPassword)
	ownerB := signIn(t, base, "owner@b.test", kerneltest.UserPassword)
	count := func(table string) int {
		_, rows := kerneltest.Rows(t, k, table, "")
		return len(rows)
	}
	unchanged := func(table string, want int) func(*kerneltest.Page) {
		return func(*kerneltest.Page) {
			if n := count(table); n != want {
				t.Errorf("%s has %d rows, want %d: nothing may be saved", table, n, want)
			}
		}
	}
	today := time.Now().UTC().Format("2006-01-02")
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format("2006-01-02")

	runAdminSteps(t, []step{
		{name: "the menu links the pages", as: agent, path: "/admin", want: 200, contains: []string{`<a href="/admin/contact">Contact</a>`}},
		{name: "the owner's message log", as: owner, path: "/admin/contact", want: 200,
			contains: []string{"ann@example.net", "&#43;14155550123", "Spring sale", "Showing 1–2 of 2", "/admin/contact/messages/" + annID,
				`href="/admin/contact/providers"`},
			lacks: []string{"bob@b.test", "Beta Ltd"}},
		{name: "by channel", as: owner, path: "/admin/contact?channel=sms", want: 200,
			contains: []string{"&#43;14155550123", "Showing 1–1 of 1"}, lacks: []string{"ann@example.net"}},
		{name: "by category", as: owner, path: "/admin/contact?category=marketing", want: 200,
			contains: []string{"ann@example.net", "Showing 1–1 of 1"}, lacks: []string{"&#43;14155550123"}},
		{name: "by recipient", as: owner, path: "/admin/contact?to=ann%40", want: 200,
			contains: []string{"ann@example.net", "Showing 1–1 of 1"}, lacks: []string{"&#43;14155550123"}},
		{name: "a recipient filter is no pattern", as: owner, path: "/admin/contact?to=%25", want: 200,
			contains: []string{"No messages match."}},
		{name: "by date", as: owner, path: "/admin/contact?from=" + today + "&until=" + today, want: 200,
			contains: []string{"Showing 1–2 of 2"}},
		{name: "by a later date", as: owner, path: "/admin/contact?from=" + tomorrow, want: 200,
			contains: []string{"No messages match."}},
		{name: "paged", as: owner, path: "/admin/contact?per_page=1", want: 200,
			contains: []string{"Showing 1–1 of 2", `rel="next"`}},
		{name: "as CSV", as: owner, path: "/admin/contact?format=csv&channel=email", want: 200,
			contains: []string{"Created,Channel,To,Subject,Category,Status,Attempts,Last error\n", "ann@example.net,Spring sale,marketing,sent,1"},
			lacks:    []string{"&#43;14155550123"}},
		{name: "every tenant's messages for a platform admin", as: platform, path: "/admin/contact", want: 200,
			contains: []string{"ann@example.net", "bob@b.test", "Alpha Ltd", "Beta Ltd", "Showing 1–3 of 3"}},
		{name: "the log for an agent", as: agent, path: "/admin/contact", want: 200,
			contains: []string{"ann@example.net"}, lacks: []string{`href="/admin/contact/providers"`}},

		{name: "a message with its history", as: owner, path: "/admin/contact/messages/" + annID, want: 200,
			contains: []string{"Spring sale", "Everything half price.", `id="message-history"`, "Relay (smtp)", "accepted",
				`<span class="badge ok" id="message-status">sent</span>`}},
		{name: "another tenant's message is not found", as: owner, path: "/admin/contact/messages/" + bobID, want: 404},
		{name: "a platform admin opens any", as: platform, path: "/admin/contact/messages/" + bobID, want: 200,
			contains: []string{"Hello B", "Beta Ltd"}},

		{name: "the providers", as: owner, path: "/admin/contact/providers", want: 200,
			contains: []string{"Relay", "Disable Relay</button>", `href="/admin/contact/providers/new?kind=log"`}},
		{name: "providers are refused to an agent", as: agent, path: "/admin/contact/providers", want: 403},
		{name: "another tenant's provider is not found", as: ownerB, path: "/admin/contact/providers/" + relay, want: 404},
		{name: "a provider's page shows no credential", as: platform, path: "/admin/contact/providers/" + relay, want: 200,
			contains: []string{`value="Relay"`, "Set. Leave empty to keep it", "mailer"}, lacks: []string{"mail-secret-42"}},
		{name: "a provider that reaches internal networks is locked for its tenant's owner", as: owner,
			path: "/admin/contact/providers/" + relay, form: url.Values{"name": {"Mine"}, "priority": {"1"}, "settings": {"{}"}},
			want: 403, contains: []string{"Only a platform admin may"}},
	})

	providers := count("contact_providers")
	runAdminSteps(t, []step{
		{name: "a provider without a name is refused", as: owner, path: "/admin/contact/providers",
			form: url.Values{"kind": {"log"}, "channel": {"email"}, "name": {""}, "priority": {"0"}, "settings": {"{}"}}, want: 422,
			contains: []string{"Name is required"}, afterward: unchanged("contact_providers", providers)},
		{name: "settings that are no JSON object are refused and kept", as: owner, path: "/admin/contact/providers",
			form: url.Values{"kind": {"smtp"}, "channel": {"email"}, "name": {"Mail"}, "settings": {"{host: nope"},
				"credentials.password": {"pw"}}, want: 422,
			contains: []string{"must be an object", "{host: nope", `value="Mail"`}, lacks: []string{`value="pw"`},
			afterward: unchanged("contact_providers", providers)},
		{name: "a missing credential is refused", as: owner, path: "/admin/contact/providers",
			form: url.Values{"kind": {"smtp"}, "channel": {"email"}, "name": {"Mail"},
				"settings": {`{"host":"smtp.example.com","from":"a@example.com"}`}}, want: 422,
			contains: []string{"is required"}, afterward: unchanged("contact_providers", providers)},
		{name: "a bad priority is refused", as: owner, path: "/admin/contact/providers",
			form: url.Values{"kind": {"log"}, "channel": {"sms"}, "name": {"Log"}, "priority": {"high"}}, want: 422,
			contains: []string{"Priority must be a whole number"}, afterward: unchanged("contact_providers", providers)},
		{name: "a channel the kind does not serve is refused", as: owner, path: "/admin/contact/providers",
			form: url.Values{"kind": {"smtp"}, "channel": {"sms"}, "name": {"Mail"}}, want: 422,
			contains: []string{"is not a channel this kind serves"}, afterward: unchanged("contact_providers", providers)},
		{name: "no provider without the CSRF token", as: owner, path: "/admin/contact/providers",
			form: url.Values{"_csrf": {""}, "kind": {"log"}, "channel": {"email"}, "name": {"Log"}}, want: 403,
			afterward: unchanged("contact_providers", providers)},
		{name: "no provider from an agent", as: agent, path: "/admin/contact/providers",
			form: url.Values{"kind": {"log"}, "channel": {"email"}, "name": {"Log"}}, want: 403,
			afterward: unchanged("contact_providers", providers)},
	})

	// A log provider for e-mail, before the relay, and a webhook provider
	// with a secret.
	create := func(form url.Values) string {
		t.Helper()
		owner.In(t)
		p := owner.Post("/admin/contact/providers", form)
		id, ok := strings.CutPrefix(p.Location(), "/admin/contact/providers/")
		if p.Status != http.StatusSeeOther || !ok || !strings.HasSuffix(id, "?done=created") {
			t.Fatalf("create provider: %d %q %s", p.Status, p.Location(), p.Body)
		}
		return strings.TrimSuffix(id, "?done=created")
	}
	logID := create(url.Values{"kind": {"log"}, "channel": {"email"}, "name": {"Outbox"}, "priority": {"1"}, "enabled": {"on"},
		"settings": {"{}"}})
	hookID := create(url.Values{"kind": {"webhook"}, "channel": {"webhook"}, "name": {"Hook"}, "priority": {"0"},
		"enabled": {"on"}, "credentials.signing_secret": {"whsec-very-secret"}})
	hook := func() map[string]any {
		res := c.Do(http.MethodGet, "/api/v1/contact/providers/"+hookID, f.ownerA, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("get provider: %d %s", res.Status, res.Body)
		}
		return res.JSON()
	}
	messages := count("contact_messages")
	var testID string
	runAdminSteps(t, []step{
		{name: "the created provider", as: owner, path: "/admin/contact/providers/" + logID + "?done=created", want: 200,
			contains: []string{"The provider is created.", `value="Outbox"`, "Send test</button>"}},
		{name: "the webhook's secret is never shown", as: owner, path: "/admin/contact/providers/" + hookID, want: 200,
			contains: []string{`name="credentials.signing_secret" value=""`, "Set. Leave empty to keep it"},
			lacks:    []string{"whsec-very-secret"}},
		{name: "saving with the secret left empty keeps it", as: owner, path: "/admin/contact/providers/" + hookID,
			form: url.Values{"name": {"Hook 2"}, "priority": {"7"}, "settings": {"{}"}}, want: 303,
			location: "/admin/contact/providers/" + hookID + "?done=saved",
			afterward: func(*kerneltest.Page) {
				h := hook()
				if h["name"] != "Hook 2" || h["priority"] != float64(7) || h["enabled"] != false ||
					len(h["credentials_set"].([]any)) != 1 {
					t.Errorf("provider after save = %v", h)
				}
			}},
		{name: "a bad save changes nothing", as: owner, path: "/admin/contact/providers/" + hookID,
			form: url.Values{"name": {"Hook 3"}, "priority": {"2000"}, "settings": {"{}"}}, want: 422,
			contains: []string{"from 0 to 1000", `value="Hook 3"`},
			afterward: func(*kerneltest.Page) {
				if h := hook(); h["name"] != "Hook 2" {
					t.Errorf("provider after a refused save = %v", h)
				}
			}},
		{name: "enable", as: owner, path: "/admin/contact/providers/" + hookID + "/enable", form: url.Values{}, want: 303,
			location: "/admin/contact/providers?done=enabled",
			afterward: func(*kerneltest.Page) {
				if h := hook(); h["enabled"] != true {
					t.Errorf("provider after enable = %v", h)
				}
			}},
		{name: "disable without the CSRF token", as: owner, path: "/admin/contact/providers/" + hookID + "/disable",
			form: url.Values{"_csrf": {""}}, want: 403,
			afterward: func(*kerneltest.Page) {
				if h := hook(); h["enabled"] != true {
					t.Errorf("disabled without a CSRF token: %v", h)
				}
			}},
		{name: "a test to a bad address is refused", as: owner, path: "/admin/contact/providers/" + logID + "/test",
			form: url.Values{"to": {"not an address"}}, want: 422,
			contains:  []string{"The recipient must be an e-mail address.", `value="not an address"`},
			afterward: unchanged("contact_messages", messages)},
		{name: "another tenant's provider cannot be tested", as: ownerB, path: "/admin/contact/providers/" + logID + "/test",
			form: url.Values{"to": {"x@example.net"}}, want: 404, afterward: unchanged("contact_messages", messages)},
		{name: "send a test through the log provider", as: owner, path: "/admin/contact/providers/" + logID + "/test",
			form: url.Values{"to": {"carol@example.net"}}, want: 303, location: "/admin/contact/messages/",
			afterward: func(p *kerneltest.Page) {
				id, ok := strings.CutSuffix(strings.TrimPrefix(p.Location(), "/admin/contact/messages/"), "?done=test_sent")
				if !ok {
					t.Fatalf("redirect to %q", p.Location())
				}
				testID = id
			}},
	})
	runAdminSteps(t, []step{
		{name: "the test's outcome and history", as: owner, path: "/admin/contact/messages/" + testID + "?done=test_sent", want: 200,
			contains: []string{"The test message was sent", `id="message-status">sent</span>`, "Outbox (log)", "accepted",
				"test from the backoffice", "Test message from the platform"}},
		{name: "the test in the log", as: owner, path: "/admin/contact?to=carol", want: 200,
			contains: []string{"carol@example.net", "Showing 1–1 of 1"}},
		{name: "the test in the outbox", as: owner, path: "/admin/contact/outbox", want: 200,
			contains: []string{"carol@example.net", "This is a test message", "/admin/contact/messages/" + testID}},
		{name: "the outbox of another tenant", as: ownerB, path: "/admin/contact/outbox", want: 200,
			lacks: []string{"carol@example.net"}},
		{name: "a failing test through the SMTP relay", as: platform, path: "/admin/contact/providers/" + relay + "/test",
			form: url.Values{"to": {"reject@example.net"}}, want: 303, location: "/admin/contact/messages/",
			afterward: func(p *kerneltest.Page) {
				if !strings.HasSuffix(p.Location(), "?done=test_failed") {
					t.Fatalf("redirect to %q", p.Location())
				}
				platform.In(t)
				platform.Get(p.Location()).Must(t, http.StatusOK, "The test message failed", `id="message-status">bounced</span>`,
					"Relay (smtp)", "permanent", "550")
			}},
		{name: "by status", as: owner, path: "/admin/contact?status=bounced", want: 200,
			contains: []string{"reject@example.net", "Showing 1–1 of 1"}},
		{name: "delete a provider", as: owner, path: "/admin/contact/providers/" + logID + "/delete", form: url.Values{}, want: 303,
			location: "/admin/contact/providers?done=deleted"},
		{name: "the deleted provider is gone", as: owner, path: "/admin/contact/providers/" + logID, want: 404},
		{name: "its test keeps its history", as: owner, path: "/admin/contact/messages/" + testID, want: 200,
			contains: []string{"accepted", "log"}},
	})
}

func TestAdminTemplatePages(t *testing.T) {
	f, base := newAdminFixture(t)
	owner := signIn(t, base, "owner@a.test", kerneltest.UserPassword)
	agent := signIn(t, base, "agent@a.test", kerneltest.UserPassword)
	ownerB := signIn(t, base, "owner@b.test", kerneltest.UserPassword)
	count := func() int {
		_, rows := kerneltest.Rows(t, f.k, "contact_templates", "")
		return len(rows)
	}
	none := func(*kerneltest.Page) {
		if n := count(); n != 0 {
			t.Errorf("%d templates stored, want none", n)
		}
	}
	shipped := func() url.Values {
		return url.Values{"key": {"order.shipped"}, "locale": {""}, "channel": {"email"}, "subject": {"Order {{.order}} shipped"},
			"text": {"Hi {{.name}}, order {{.order}} is on its way."}, "html": {"<p>Hi {{.name}}</p>"}}
	}
	var id string
	runAdminSteps(t, []step{
		{name: "no templates yet", as: owner, path: "/admin/contact/templates", want: 200,
			contains: []string{"No templates match.", `href="/admin/contact/templates/new"`}},
		{name: "a part that does not parse is refused", as: owner, path: "/admin/contact/templates",
			form: url.Values{"key": {"order.bad"}, "channel": {"email"}, "subject": {"Hi"}, "text": {"Hi {{.name"}}, want: 422,
			contains: []string{`value="order.bad"`, "Hi {{.name</textarea>"}, afterward: none},
		{name: "no template from an agent", as: agent, path: "/admin/contact/templates", form: shipped(), want: 403, afterward: none},
		{name: "no template without the CSRF token", as: owner, path: "/admin/contact/templates",
			form: url.Values{"_csrf": {""}, "key": {"order.shipped"}, "channel": {"email"}, "subject": {"S"}, "text": {"T"}},
			want: 403, afterward: none},
		{name: "create a template", as: owner, path: "/admin/contact/templates", form: shipped(), want: 303,
			location: "/admin/contact/templates/",
			afterward: func(p *kerneltest.Page) {
				var ok bool
				id, ok = strings.CutSuffix(strings.TrimPrefix(p.Location(), "/admin/contact/templates/"), "?done=template_saved")
				if !ok || count() != 1 {
					t.Fatalf("redirect to %q, %d templates", p.Location(), count())
				}
			}},
	})
	runAdminSteps(t, []step{
		{name: "the list for an agent", as: agent, path: "/admin/contact/templates", want: 200,
			contains: []string{"order.shipped", "default", "Open</a>"}, lacks: []string{"New template"}},
		{name: "by key", as: owner, path: "/admin/contact/templates?key=order.other", want: 200, contains: []string{"No templates match."}},
		{name: "the template", as: owner, path: "/admin/contact/templates/" + id + "?done=template_saved", want: 200,
			contains: []string{"The template is saved.", `value="order.shipped"`, "Save template</button>", "Preview</button>"}},
		{name: "another tenant's template is not found", as: ownerB, path: "/admin/contact/templates/" + id, want: 404},
		{name: "a preview", as: agent, path: "/admin/contact/templates/" + id + "/preview",
			form: url.Values{"preview_locale": {"de-AT"}, "data": {`{"name": "Ann", "order": 42}`}}, want: 200,
			contains: []string{`id="preview-subject">Order 42 shipped`, "Hi Ann, order 42 is on its way.", "the default locale",
				`&lt;p&gt;Hi Ann&lt;/p&gt;`, `name="preview_locale" value="de-AT"`}},
		{name: "a preview with data that is no object", as: owner, path: "/admin/contact/templates/" + id + "/preview",
			form: url.Values{"data": {"[1, 2]"}}, want: 422, contains: []string{"Data must be a JSON object"}},
		{name: "edit", as: owner, path: "/admin/contact/templates/" + id,
			form: url.Values{"key": {"order.shipped"}, "channel": {"email"}, "subject": {"Shipped!"}, "text": {"On its way."}},
			want: 303, location: "/admin/contact/templates/" + id + "?done=template_saved"},
		{name: "the edit shows", as: owner, path: "/admin/contact/templates/" + id, want: 200, contains: []string{`value="Shipped!"`}},
		{name: "delete another tenant's template", as: ownerB, path: "/admin/contact/templates/" + id + "/delete", form: url.Values{},
			want: 404},
		{name: "delete", as: owner, path: "/admin/contact/templates/" + id + "/delete", form: url.Values{}, want: 303,
			location: "/admin/contact/templates?done=template_deleted", afterward: none},
	})
}
