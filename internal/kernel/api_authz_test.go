package kernel_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/security"
)

// TestAPIAuthorization covers 401 without credentials and 403 for a
// principal without the permission, on every protected route; a refused
// request writes nothing.
func TestAPIAuthorization(t *testing.T) {
	w := newWorld(t)
	w.must(t, http.StatusOK, "GET", "/api/v1/users", "keyA", nil) // record the key's first use now
	a, a1 := w.tenants["A"], w.tenants["A1"]
	newUser := map[string]any{"email": "new@example.com", "password": testPassword, "role": "customer"}
	newKey := map[string]any{"name": "k", "scopes": []string{"users:read"}}

	type route struct {
		method, path string
		body         any
	}
	protected := []route{
		{"GET", "/api/v1/auth/me", nil},
		{"GET", "/api/v1/tenants", nil},
		{"POST", "/api/v1/tenants", map[string]any{"name": "x", "slug": "x"}},
		{"GET", "/api/v1/tenants/" + a, nil},
		{"PATCH", "/api/v1/tenants/" + a, map[string]any{"name": "x"}},
		{"DELETE", "/api/v1/tenants/" + a1, nil},
		{"GET", "/api/v1/tenants/" + a + "/users", nil},
		{"POST", "/api/v1/tenants/" + a + "/users", newUser},
		{"GET", "/api/v1/users", nil},
		{"GET", "/api/v1/users/" + w.users["agentA"], nil},
		{"PATCH", "/api/v1/users/" + w.users["agentA"], map[string]any{"name": "x"}},
		{"DELETE", "/api/v1/users/" + w.users["agentA"], nil},
		{"GET", "/api/v1/api-keys", nil},
		{"POST", "/api/v1/api-keys", newKey},
		{"DELETE", "/api/v1/api-keys/" + w.keys["keyA"].ID, nil},
		{"GET", "/api/v1/audit-events", nil},
		{"GET", "/api/v1/system", nil},
	}
	for _, r := range protected {
		for _, auth := range []struct{ name, header string }{
			{"no credentials", ""}, {"basic auth", "Basic YWRtaW46YWRtaW4="}, {"empty bearer", "Bearer "},
			{"garbage bearer", "Bearer not-a-token"}, {"bearer without scheme", w.token("admin")},
		} {
			t.Run("401 "+auth.name+" "+r.method+" "+r.path, func(t *testing.T) {
				before := w.snapshot(t)
				var h []string
				if auth.header != "" {
					h = []string{"Authorization", auth.header}
				}
				res := w.do(t, r.method, r.path, "", r.body, h...)
				wantError(t, res, http.StatusUnauthorized, "")
				if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("WWW-Authenticate = %q", res.Header.Get("WWW-Authenticate"))
				}
				w.unchanged(t, before)
			})
		}
	}

	forbidden := []struct {
		who    string
		routes []route
	}{
		{"ownerA", []route{
			{"POST", "/api/v1/tenants", map[string]any{"name": "x", "slug": "x"}},
			{"PATCH", "/api/v1/tenants/" + a, map[string]any{"name": "x"}},
			{"DELETE", "/api/v1/tenants/" + a1, nil},
			{"GET", "/api/v1/system", nil},
		}},
		{"partnerA", []route{
			{"POST", "/api/v1/tenants", map[string]any{"name": "x", "slug": "x"}},
			{"PATCH", "/api/v1/tenants/" + a, map[string]any{"name": "x"}},
			{"POST", "/api/v1/tenants/" + a + "/users", newUser},
			{"PATCH", "/api/v1/users/" + w.users["customerA"], map[string]any{"name": "x"}},
			{"DELETE", "/api/v1/users/" + w.users["customerA"], nil},
			{"GET", "/api/v1/api-keys", nil},
			{"POST", "/api/v1/api-keys", newKey},
			{"DELETE", "/api/v1/api-keys/" + w.keys["keyA"].ID, nil},
			{"GET", "/api/v1/system", nil},
		}},
		{"agentA", []route{
			{"POST", "/api/v1/tenants", map[string]any{"name": "x", "slug": "x"}},
			{"GET", "/api/v1/tenants", nil},
			{"GET", "/api/v1/tenants/" + a, nil},
			{"POST", "/api/v1/tenants/" + a + "/users", newUser},
			{"PATCH", "/api/v1/users/" + w.users["customerA"], map[string]any{"role": "agent"}},
			{"DELETE", "/api/v1/users/" + w.users["customerA"], nil},
			{"POST", "/api/v1/api-keys", newKey},
			{"DELETE", "/api/v1/api-keys/" + w.keys["keyA"].ID, nil},
			{"GET", "/api/v1/audit-events", nil},
		}},
		{"customerA", []route{
			{"GET", "/api/v1/users", nil},
			{"GET", "/api/v1/users/" + w.users["customerA"], nil},
			{"PATCH", "/api/v1/users/" + w.users["customerA"], map[string]any{"role": "owner"}},
			{"GET", "/api/v1/tenants/" + a + "/users", nil},
			{"POST", "/api/v1/tenants/" + a + "/users", newUser},
			{"GET", "/api/v1/api-keys", nil},
			{"POST", "/api/v1/api-keys", newKey},
			{"GET", "/api/v1/audit-events", nil},
		}},
		// keyA holds users:read only.
		{"keyA", []route{
			{"PATCH", "/api/v1/users/" + w.users["agentA"], map[string]any{"name": "x"}},
			{"DELETE", "/api/v1/users/" + w.users["agentA"], nil},
			{"POST", "/api/v1/tenants/" + a + "/users", newUser},
			{"GET", "/api/v1/tenants", nil},
			{"GET", "/api/v1/api-keys", nil},
			{"POST", "/api/v1/api-keys", newKey},
			{"DELETE", "/api/v1/api-keys/" + w.keys["keyA"].ID, nil},
			{"GET", "/api/v1/audit-events", nil},
			{"GET", "/api/v1/system", nil},
		}},
	}
	for _, f := range forbidden {
		for _, r := range f.routes {
			t.Run("403 "+f.who+" "+r.method+" "+r.path, func(t *testing.T) {
				before := w.snapshot(t)
				wantError(t, w.do(t, r.method, r.path, f.who, r.body), http.StatusForbidden, "forbidden")
				w.unchanged(t, before)
			})
		}
	}

	// The same principals pass where they hold the permission: the 403s
	// above are about permissions, not a broken route.
	allowed := []struct {
		who, method, path string
	}{
		{"customerA", "GET", "/api/v1/auth/me"},
		{"agentA", "GET", "/api/v1/users/" + w.users["customerA"]},
		{"partnerA", "GET", "/api/v1/tenants/" + a},
		{"partnerA", "GET", "/api/v1/audit-events"},
		{"ownerA", "GET", "/api/v1/api-keys"},
		{"keyA", "GET", "/api/v1/users"},
		{"keyA", "GET", "/api/v1/auth/me"},
		{"admin", "GET", "/api/v1/system"},
	}
	for _, c := range allowed {
		t.Run("200 "+c.who+" "+c.method+" "+c.path, func(t *testing.T) {
			w.must(t, http.StatusOK, c.method, c.path, c.who, nil)
		})
	}
}

// TestAPIRoleGrants checks that a user gives and manages only roles at or
// below its own, never changes its own role, and that a stale version or
// If-Match changes nothing.
func TestAPIRoleGrants(t *testing.T) {
	w := newWorld(t)
	a := w.tenants["A"]
	refused := []struct {
		name, who, method, path string
		body                    any
		headers                 []string
		status                  int
		code                    string
	}{
		{"owner creates a platform admin", "ownerA", "POST", "/api/v1/tenants/" + a + "/users",
			map[string]any{"email": "boss@example.com", "password": testPassword, "role": "platform_admin"}, nil, 403, "users.role_not_grantable"},
		{"owner promotes an agent to platform admin", "ownerA", "PATCH", "/api/v1/users/" + w.users["agentA"],
			map[string]any{"role": "platform_admin"}, nil, 403, "users.role_not_grantable"},
		{"owner demotes itself", "ownerA", "PATCH", "/api/v1/users/" + w.users["ownerA"],
			map[string]any{"role": "agent"}, nil, 403, "users.role_not_grantable"},
		{"owner makes itself platform admin", "ownerA", "PATCH", "/api/v1/users/" + w.users["ownerA"],
			map[string]any{"role": "platform_admin"}, nil, 403, "users.role_not_grantable"},
		{"owner deletes itself", "ownerA", "DELETE", "/api/v1/users/" + w.users["ownerA"], nil, nil, 409, "users.self_delete"},
		{"api key creates a platform admin", "keyB", "POST", "/api/v1/tenants/" + w.tenants["B"] + "/users",
			map[string]any{"email": "boss@example.com", "password": testPassword, "role": "platform_admin"}, nil, 403, "users.role_not_grantable"},
		{"api key promotes to platform admin", "keyB", "PATCH", "/api/v1/users/" + w.users["agentB"],
			map[string]any{"role": "platform_admin"}, nil, 403, "users.role_not_grantable"},
		{"admin changes its own role", "admin", "PATCH", "/api/v1/users/" + w.users["admin"],
			map[string]any{"role": "owner"}, nil, 403, "users.role_not_grantable"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			before := w.snapshot(t)
			wantError(t, w.do(t, c.method, c.path, c.who, c.body, c.headers...), c.status, c.code)
			w.unchanged(t, before)
		})
	}

	t.Run("owner changes an agent's role, with the audit trail", func(t *testing.T) {
		u := w.must(t, http.StatusOK, "PATCH", "/api/v1/users/"+w.users["customerA"], "ownerA", map[string]any{"role": "agent"})
		if u["role"] != "agent" || u["version"] != float64(2) {
			t.Fatalf("after the change: %v", u)
		}
	})

	t.Run("optimistic concurrency on users", func(t *testing.T) {
		path := "/api/v1/users/" + w.users["agentA"]
		res := w.do(t, "GET", path, "ownerA", nil)
		if res.Status != 200 || res.Header.Get("ETag") != `"1"` {
			t.Fatalf("GET: %d ETag %q", res.Status, res.Header.Get("ETag"))
		}
		u := w.must(t, http.StatusOK, "PATCH", path, "ownerA", map[string]any{"name": "first", "version": 1})
		if u["version"] != float64(2) || u["name"] != "first" {
			t.Fatalf("first write: %v", u)
		}
		stale := []struct {
			name    string
			body    map[string]any
			headers []string
			status  int
			code    string
		}{
			{"stale body version", map[string]any{"name": "second", "version": 1}, nil, 409, "version_conflict"},
			{"stale role change", map[string]any{"role": "customer", "version": 1}, nil, 409, "version_conflict"},
			{"stale If-Match", map[string]any{"name": "second"}, []string{"If-Match", `"1"`}, 412, "precondition_failed"},
			{"stale weak If-Match", map[string]any{"name": "second"}, []string{"If-Match", `W/"1"`}, 412, "precondition_failed"},
			{"If-Match against body", map[string]any{"name": "second", "version": 1}, []string{"If-Match", `"2"`}, 412, "precondition_failed"},
			{"garbage If-Match", map[string]any{"name": "second"}, []string{"If-Match", `"abc"`}, 412, "precondition_failed"},
			{"future version", map[string]any{"name": "second", "version": 7}, nil, 409, "version_conflict"},
		}
		for _, s := range stale {
			t.Run(s.name, func(t *testing.T) {
				before := w.snapshot(t)
				wantError(t, w.do(t, "PATCH", path, "ownerA", s.body, s.headers...), s.status, s.code)
				w.unchanged(t, before)
			})
		}
		res = w.do(t, "PATCH", path, "ownerA", map[string]any{"name": "second"}, "If-Match", `"2"`)
		if res.Status != 200 || res.Header.Get("ETag") != `"3"` || res.JSON()["name"] != "second" {
			t.Fatalf("fresh If-Match: %d %s ETag %q", res.Status, res.Body, res.Header.Get("ETag"))
		}
	})

	t.Run("optimistic concurrency on tenants", func(t *testing.T) {
		path := "/api/v1/tenants/" + w.tenants["A1"]
		w.must(t, http.StatusOK, "PATCH", path, "admin", map[string]any{"name": "A1 renamed", "version": 1})
		for _, s := range []struct {
			name    string
			body    map[string]any
			headers []string
			status  int
		}{
			{"stale body version", map[string]any{"name": "again", "version": 1}, nil, 409},
			{"stale If-Match", map[string]any{"status": "suspended"}, []string{"If-Match", `"1"`}, 412},
		} {
			t.Run(s.name, func(t *testing.T) {
				before := w.snapshot(t)
				wantError(t, w.do(t, "PATCH", path, "admin", s.body, s.headers...), s.status, "")
				w.unchanged(t, before)
			})
		}
	})

	t.Run("the platform tenant keeps its identity", func(t *testing.T) {
		root := "/api/v1/tenants/" + w.tenants["root"]
		for _, body := range []map[string]any{{"slug": "not-platform"}, {"status": "suspended"}} {
			before := w.snapshot(t)
			wantError(t, w.do(t, "PATCH", root, "admin", body), http.StatusForbidden, "tenants.root")
			w.unchanged(t, before)
		}
		before := w.snapshot(t)
		wantError(t, w.do(t, "DELETE", root, "admin", nil), http.StatusForbidden, "tenants.root")
		w.unchanged(t, before)
	})
}

// svcModule is a module with one API route that tells who called it.
type svcModule string

func (m svcModule) Name() string { return string(m) }

func (m svcModule) Routes(r kernel.Routes) {
	r.API.GET("/whoami", func(c echo.Context) error {
		p, _ := security.PrincipalFrom(c.Request().Context())
		return c.JSON(http.StatusOK, map[string]string{"kind": string(p.Kind), "audience": p.Audience, "tenant": p.Tenant()})
	}, security.Require(security.PermUsersRead))
}

// TestAPIServiceCredentialAudience checks that a service credential counts
// only on the routes of the module it was made for: on the kernel's own
// routes it is no access token (401), on another module's it is refused.
func TestAPIServiceCredentialAudience(t *testing.T) {
	w := newWorld(t, svcModule("alpha"), svcModule("beta"))
	ctx := security.WithPrincipal(context.Background(), &security.Principal{Kind: security.KindUser,
		ID: w.users["ownerB"], TenantID: w.tenants["B"], Role: security.RoleOwner})
	cred, err := w.k.Security.IssueServiceCredential(ctx, "alpha", "beta", []string{"users:read", "users:write", "api_keys:write", "audit:read"})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("its own audience", func(t *testing.T) {
		m := w.must(t, http.StatusOK, "GET", "/api/v1/beta/whoami", cred, nil)
		if m["kind"] != "service" || m["audience"] != "beta" || m["tenant"] != w.tenants["B"] {
			t.Fatalf("whoami: %v", m)
		}
	})
	t.Run("another module", func(t *testing.T) {
		wantError(t, w.do(t, "GET", "/api/v1/alpha/whoami", cred, nil), http.StatusForbidden, "auth.wrong_audience")
	})
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/auth/me", nil},
		{"GET", "/api/v1/users", nil},
		{"GET", "/api/v1/users/" + w.users["agentB"], nil},
		{"PATCH", "/api/v1/users/" + w.users["agentB"], map[string]any{"name": "by a service"}},
		{"DELETE", "/api/v1/users/" + w.users["agentB"], nil},
		{"POST", "/api/v1/api-keys", map[string]any{"name": "k", "scopes": []string{"users:read"}}},
		{"GET", "/api/v1/audit-events", nil},
		{"GET", "/api/v1/system", nil},
	} {
		t.Run("kernel route "+r.method+" "+r.path, func(t *testing.T) {
			before := w.snapshot(t)
			wantError(t, w.do(t, r.method, r.path, cred, r.body), http.StatusUnauthorized, "")
			w.unchanged(t, before)
		})
	}
}

// TestAPICredentialsOnlyWhereAPrincipalActs checks that the security layer
// reads Authorization on /api, /admin and /member only: /metrics checks its
// own bearer token, and the probes ignore the header.
func TestAPICredentialsOnlyWhereAPrincipalActs(t *testing.T) {
	cfg := kerneltest.Config(t)
	cfg.Metrics.Token = "metrics-scrape-token-0123456789"
	url := kerneltest.Server(t, kerneltest.NewWithConfig(t, cfg)).URL
	admin := kerneltest.NewClient(t, url).Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
	cases := []struct {
		name, path, token string
		status            int
	}{
		{"metrics with its token", "/metrics", cfg.Metrics.Token, 200},
		{"metrics without a token", "/metrics", "", 401},
		{"metrics with a user's token", "/metrics", admin, 401},
		{"healthz with a stray bearer", "/healthz", "not-a-token", 200},
		{"readyz with a stray bearer", "/readyz", "not-a-token", 200},
		{"the API still refuses a bad bearer", "/api/v1/auth/me", cfg.Metrics.Token, 401},
		{"even on an unknown API path", "/api/v1/nope", cfg.Metrics.Token, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if res := kerneltest.NewClient(t, url).Do("GET", tc.path, tc.token, nil); res.Status != tc.status {
				t.Fatalf("%s: %d %.200s, want %d", tc.path, res.Status, res.Body, tc.status)
			}
		})
	}
	// The login above wrote a session: on SQLite, in a group commit.
	body := string(kerneltest.NewClient(t, url).Do("GET", "/metrics", cfg.Metrics.Token, nil).Body)
	if cfg.Database.Driver == "sqlite" && !regexp.MustCompile(`(?m)^platform_db_sqlite_grouped_transactions_total [1-9]`).MatchString(body) {
		t.Errorf("/metrics has no grouped transactions on SQLite:\n%.2000s", body)
	}
}
