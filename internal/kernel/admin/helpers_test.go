package admin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
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

// browser and page are the kernel's test browser.
type (
	browser = kerneltest.Browser
	page    = kerneltest.Page
)

func (e *env) browser() *browser { return kerneltest.NewBrowser(e.t, e.srv.URL) }

func (e *env) adminBrowser() *browser {
	b := e.browser()
	b.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
	return b
}
