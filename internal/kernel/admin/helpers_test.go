package admin_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/config"
	"github.com/platform/platform/internal/kernel/kerneltest"
)

// env is a running kernel with the shell mounted, and an API client signed
// in as the bootstrap admin.
type env struct {
	t      *testing.T
	k      *kernel.Kernel
	srv    *httptest.Server
	api    *kerneltest.Client
	token  string
	rootID string
	mail   *fakeMailer
}

type fakeMailer struct {
	mu    sync.Mutex
	links map[string]string
}

func (m *fakeMailer) SendPasswordReset(_ context.Context, email, link string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.links[email] = link
	return nil
}

func (m *fakeMailer) link(email string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.links[email]
}

func newEnv(t *testing.T, mods ...kernel.Module) *env {
	t.Helper()
	return newEnvWithConfig(t, kerneltest.Config(t), mods...)
}

func newEnvWithConfig(t *testing.T, cfg *config.Config, mods ...kernel.Module) *env {
	t.Helper()
	k := kerneltest.NewWithConfig(t, cfg, mods...)
	mail := &fakeMailer{links: map[string]string{}}
	k.UseShell(admin.New(k, admin.WithMailer(mail), admin.WithBaseURL("https://backoffice.example")))
	srv := kerneltest.Server(t, k)
	api := kerneltest.NewClient(t, srv.URL)
	e := &env{t: t, k: k, srv: srv, api: api, mail: mail}
	e.token = api.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
	var me struct {
		TenantID string `json:"tenant_id"`
	}
	api.Do(http.MethodGet, "/api/v1/auth/me", e.token, nil).Decode(t, &me)
	e.rootID = me.TenantID
	return e
}

// tenant creates a tenant through the API, under parent when not "".
func (e *env) tenant(name, slug, parent string) string {
	e.t.Helper()
	body := map[string]any{"name": name, "slug": slug}
	if parent != "" {
		body["parent_id"] = parent
	}
	res := e.api.Do(http.MethodPost, "/api/v1/tenants", e.token, body)
	if res.Status != http.StatusCreated {
		e.t.Fatalf("create tenant: %d %s", res.Status, res.Body)
	}
	var out struct {
		ID string `json:"id"`
	}
	res.Decode(e.t, &out)
	return out.ID
}

// user creates a user through the API.
func (e *env) user(tenantID, email, role string) {
	e.t.Helper()
	res := e.api.Do(http.MethodPost, "/api/v1/tenants/"+tenantID+"/users", e.token,
		map[string]any{"email": email, "password": "user-password-123", "role": role, "name": "Test " + role})
	if res.Status != http.StatusCreated {
		e.t.Fatalf("create user: %d %s", res.Status, res.Body)
	}
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

type page struct {
	Status int
	Header http.Header
	Body   string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, base: e.srv.URL, hc: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func (b *browser) do(method, path string, form url.Values, headers ...string) *page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	p := &page{Status: res.StatusCode, Header: res.Header, Body: string(raw)}
	if m := csrfField.FindStringSubmatch(p.Body); m != nil && strings.Contains(res.Header.Get("Content-Type"), "text/html") {
		b.csrf = m[1]
	}
	return p
}

func (b *browser) get(path string) *page { b.t.Helper(); return b.do(http.MethodGet, path, nil) }

// post sends a form with the last CSRF token seen, unless it has one.
func (b *browser) post(path string, form url.Values) *page {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["_csrf"]; !ok {
		form.Set("_csrf", b.csrf)
	}
	return b.do(http.MethodPost, path, form)
}

// login signs in through the form and fails the test unless it works.
func (b *browser) login(email, password string) {
	b.t.Helper()
	if p := b.tryLogin(email, password); p.Status != http.StatusSeeOther {
		b.t.Fatalf("login %s: %d %s", email, p.Status, p.Body)
	}
}

func (b *browser) tryLogin(email, password string) *page {
	b.t.Helper()
	b.get("/admin/login")
	return b.post("/admin/login", url.Values{"email": {email}, "password": {password}, "next": {"/admin"}})
}

func (e *env) adminBrowser() *browser {
	b := e.browser()
	b.login(kerneltest.AdminEmail, kerneltest.AdminPassword)
	b.get("/admin")
	return b
}

func (p *page) must(t *testing.T, status int, contains ...string) {
	t.Helper()
	if p.Status != status {
		t.Fatalf("status %d, want %d; body:\n%s", p.Status, status, p.Body)
	}
	for _, s := range contains {
		if !strings.Contains(p.Body, s) {
			t.Fatalf("body does not contain %q:\n%s", s, p.Body)
		}
	}
}
