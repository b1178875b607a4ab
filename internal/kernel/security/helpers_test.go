package security_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/kerneltest"
)

const testPassword = "correct-horse-battery"

// env is one kernel behind a test server.
type env struct {
	k     *kernel.Kernel
	url   string
	admin string // the bootstrap admin's access token
	root  string // the platform tenant
}

func newEnv(t *testing.T, k *kernel.Kernel) *env {
	t.Helper()
	e := newEnvNoLogin(t, k)
	e.admin = e.login(t, kerneltest.AdminEmail, kerneltest.AdminPassword).Access
	e.root = e.must(t, http.StatusOK, "GET", "/api/v1/auth/me", e.admin, nil)["tenant_id"].(string)
	return e
}

// newEnvNoLogin is an env whose admin has not signed in.
func newEnvNoLogin(t *testing.T, k *kernel.Kernel) *env {
	t.Helper()
	return &env{k: k, url: kerneltest.Server(t, k).URL}
}

func (e *env) do(t testing.TB, method, path, token string, body any, headers ...string) *kerneltest.Response {
	t.Helper()
	return kerneltest.NewClient(t, e.url).Do(method, path, token, body, headers...)
}

func (e *env) must(t testing.TB, status int, method, path, token string, body any, headers ...string) map[string]any {
	t.Helper()
	res := e.do(t, method, path, token, body, headers...)
	if res.Status != status {
		t.Fatalf("%s %s: got %d %s, want %d", method, path, res.Status, res.Body, status)
	}
	return res.JSON()
}

type tokens struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
}

func (e *env) login(t testing.TB, email, password string) tokens {
	t.Helper()
	res := e.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
	if res.Status != http.StatusOK {
		t.Fatalf("login %s: %d %s", email, res.Status, res.Body)
	}
	var out tokens
	res.Decode(t, &out)
	if out.Access == "" || out.Refresh == "" {
		t.Fatalf("login %s: no tokens in %s", email, res.Body)
	}
	return out
}

func (e *env) refresh(t testing.TB, rt string) *kerneltest.Response {
	t.Helper()
	return e.do(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": rt})
}

// tenant makes a tenant and returns its id.
func (e *env) tenant(t testing.TB, slug string) string {
	t.Helper()
	return e.must(t, http.StatusCreated, "POST", "/api/v1/tenants", e.admin, map[string]any{"name": slug, "slug": slug})["id"].(string)
}

// user makes a user and returns its id.
func (e *env) user(t testing.TB, tenant, email, role string) string {
	t.Helper()
	return e.must(t, http.StatusCreated, "POST", "/api/v1/tenants/"+tenant+"/users", e.admin,
		map[string]any{"email": email, "password": testPassword, "role": role})["id"].(string)
}

// wantError checks the status, the code (when not empty) and the envelope.
func wantError(t testing.TB, res *kerneltest.Response, status int, code string) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status = %d, want %d; body %s", res.Status, status, res.Body)
	}
	var env struct {
		Error *struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
			Details   []any  `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(res.Body, &env); err != nil || env.Error == nil || env.Error.Message == "" ||
		env.Error.Details == nil || env.Error.RequestID != res.Header.Get("X-Request-Id") {
		t.Fatalf("not the error envelope: %s", res.Body)
	}
	if code != "" && env.Error.Code != code {
		t.Fatalf("code = %q, want %q; body %s", env.Error.Code, code, res.Body)
	}
}

// count counts rows of a table that match where.
func count(t testing.TB, k *kernel.Kernel, table, where string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := k.DB.Conn(context.Background()).Table(table).Where(where, args...).Count(&n).Error; err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// auditCount counts audit events of an action about a target.
func auditCount(t testing.TB, k *kernel.Kernel, action, target string) int64 {
	t.Helper()
	if target == "" {
		return count(t, k, "kernel_audit_events", "action = ?", action)
	}
	return count(t, k, "kernel_audit_events", "action = ? AND target_id = ?", action, target)
}

// rowsText renders every value of every row of a table as text.
func rowsText(t testing.TB, k *kernel.Kernel, table string) string {
	t.Helper()
	_, rows := kerneltest.Rows(t, k, table, "")
	var b strings.Builder
	for _, vals := range rows {
		for _, v := range vals {
			if v != nil {
				fmt.Fprint(&b, v)
			}
			b.WriteByte('|')
		}
		b.WriteByte('\n')
	}
	return b.String()
}
