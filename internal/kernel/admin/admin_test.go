package admin_test

import (
	"context"
	"encoding/csv"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/security"
)

// fillPath turns a route pattern into a request path.
func fillPath(p string) string {
	p = regexp.MustCompile(`:[a-z_]+`).ReplaceAllString(p, "0195f7a0-0000-7000-8000-000000000000")
	return strings.ReplaceAll(p, "*", "admin.css")
}

// TestRouteInventory fails if any /admin route lacks a declared permission.
func TestRouteInventory(t *testing.T) {
	env := newEnv(t, &pagesModule{})
	e, err := env.k.HTTP()
	if err != nil {
		t.Fatal(err)
	}
	declared, undeclared := admin.Inventory(e)
	if len(undeclared) > 0 {
		t.Fatalf("admin routes without a declared permission: %v", undeclared)
	}
	for _, must := range []string{"GET /admin", "GET /admin/users", "POST /admin/api-keys", "GET /admin/audit", "GET /admin/pages/list"} {
		if _, ok := declared[must]; !ok {
			t.Errorf("%s is not in the inventory", must)
		}
	}
	for route, perm := range declared {
		if perm == admin.Public && !strings.HasPrefix(route, "GET /admin/static/") && !strings.HasPrefix(route, "HEAD /admin/static/") &&
			!strings.Contains(route, "/admin/login") && !strings.Contains(route, "/admin/password-reset") && route != "POST /admin/logout" {
			t.Errorf("%s is public; only sign-in, sign-out, password reset and static assets may be", route)
		}
	}
}

// TestRouteInventoryCatchesUndeclared proves the inventory test can fail: a
// module route added without admin.Handle is reported.
func TestRouteInventoryCatchesUndeclared(t *testing.T) {
	env := newEnv(t, &rawModule{})
	e, _ := env.k.HTTP()
	_, undeclared := admin.Inventory(e)
	if len(undeclared) != 1 || undeclared[0] != "GET /admin/raw/secret" {
		t.Fatalf("undeclared = %v, want [GET /admin/raw/secret]", undeclared)
	}
}

// TestEveryRouteGuarded walks the inventory: without a session every route
// but the public ones goes to the sign-in page, and a customer's session
// gets 403 on every one of them.
func TestEveryRouteGuarded(t *testing.T) {
	env := newEnv(t, &pagesModule{})
	env.user(env.rootID, "customer@example.com", "customer")
	e, _ := env.k.HTTP()
	declared, _ := admin.Inventory(e)
	anon := env.browser()
	cust := env.browser()
	cust.Login("customer@example.com", "user-password-123")
	cust.Get("/admin") // picks up the session's CSRF token from the sign-out form
	if cust.CSRF() == "" {
		t.Fatal("no CSRF token on the customer's page")
	}
	for route, perm := range declared {
		if perm == admin.Public {
			continue
		}
		method, path, _ := strings.Cut(route, " ")
		path = fillPath(path)
		t.Run(route, func(t *testing.T) {
			var form url.Values
			if method == http.MethodPost {
				form = url.Values{}
			}
			p := anon.Do(method, path, form)
			if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/admin/login") {
				t.Errorf("anonymous %s: %d %s, want a redirect to sign-in", route, p.Status, p.Header.Get("Location"))
			}
			if method == http.MethodPost {
				form.Set("_csrf", cust.CSRF())
			}
			p = cust.Do(method, path, form)
			if p.Status != http.StatusForbidden {
				t.Errorf("customer %s: %d, want 403", route, p.Status)
			}
		})
	}
}

func TestPermissionsByRole(t *testing.T) {
	env := newEnv(t)
	other := env.tenant("Shop", "shop", "")
	env.user(other, "owner@example.com", "owner")
	env.user(other, "agent@example.com", "agent")
	env.user(other, "customer@example.com", "customer")
	browsers := map[string]*browser{"admin": env.adminBrowser()}
	for _, who := range []string{"owner", "agent", "customer"} {
		b := env.browser()
		b.Login(who+"@example.com", "user-password-123")
		browsers[who] = b
	}
	cases := []struct {
		who, path string
		status    int
	}{
		{"admin", "/admin", 200},
		{"admin", "/admin/system", 200},
		{"admin", "/admin/tenants", 200},
		{"owner", "/admin", 200},
		{"owner", "/admin/users", 200},
		{"owner", "/admin/api-keys", 200},
		{"owner", "/admin/settings", 200},
		{"owner", "/admin/system", 403},
		{"owner", "/admin/tenants/new", 403},
		{"agent", "/admin", 200},
		{"agent", "/admin/users", 200},
		{"agent", "/admin/users/new", 403},
		{"agent", "/admin/tenants", 403},
		{"agent", "/admin/api-keys", 403},
		{"agent", "/admin/audit", 403},
		{"customer", "/admin", 403},
		{"customer", "/admin/users", 403},
		{"customer", "/admin/account/password", 403},
	}
	for _, c := range cases {
		t.Run(c.who+" "+c.path, func(t *testing.T) {
			p := browsers[c.who].Get(c.path)
			if p.Status != c.status {
				t.Fatalf("status %d, want %d", p.Status, c.status)
			}
		})
	}
	// The navigation shows only what the user may open.
	p := browsers["agent"].Get("/admin")
	if !strings.Contains(p.Body, `href="/admin/users"`) || strings.Contains(p.Body, `href="/admin/tenants"`) {
		t.Errorf("agent's navigation is wrong:\n%s", p.Body)
	}
}

func TestLogin(t *testing.T) {
	cfg := kerneltest.Config(t)
	cfg.Security.LoginMaxFailures = 3
	env := newEnvWithConfig(t, cfg)
	t.Run("form and redirect", func(t *testing.T) {
		b := env.browser()
		p := b.Get("/admin/users?page=2")
		if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/admin/login?next=%2Fadmin%2Fusers%3Fpage%3D2" {
			t.Fatalf("got %d %q", p.Status, p.Header.Get("Location"))
		}
		b.Get("/admin/login?next=%2Fadmin%2Fusers%3Fpage%3D2").Must(t, 200, `name="next" value="/admin/users?page=2"`)
		p = b.Post("/admin/login", url.Values{"email": {kerneltest.AdminEmail}, "password": {kerneltest.AdminPassword},
			"next": {"/admin/users?page=2"}})
		if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/admin/users?page=2" {
			t.Fatalf("got %d %q", p.Status, p.Header.Get("Location"))
		}
		var session *http.Cookie
		for _, c := range (&http.Response{Header: p.Header}).Cookies() {
			if c.Name == security.SessionCookie {
				session = c
			}
		}
		if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure {
			t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, not Secure over plain HTTP", session)
		}
		b.Get("/admin/users?page=2").Must(t, 200, "Users")
	})
	t.Run("open redirect refused", func(t *testing.T) {
		for _, next := range []string{"//evil.example/admin", "https://evil.example/admin", "/admin\\..\\evil", "/elsewhere"} {
			b := env.browser()
			b.Get("/admin/login")
			p := b.Post("/admin/login", url.Values{"email": {kerneltest.AdminEmail}, "password": {kerneltest.AdminPassword}, "next": {next}})
			if p.Header.Get("Location") != "/admin" {
				t.Errorf("next=%q redirected to %q", next, p.Header.Get("Location"))
			}
		}
	})
	t.Run("without the form's CSRF cookie", func(t *testing.T) {
		b := env.browser()
		p := b.Do(http.MethodPost, "/admin/login", url.Values{"email": {kerneltest.AdminEmail}, "password": {kerneltest.AdminPassword},
			"_csrf": {"forged.token"}})
		p.Must(t, http.StatusForbidden, "did not come from this site")
	})
	t.Run("wrong password, then throttled", func(t *testing.T) {
		b := env.browser()
		env.user(env.rootID, "victim@example.com", "agent")
		for i := 0; i < 3; i++ {
			b.TryLogin("victim@example.com", "wrong-password-1").Must(t, http.StatusUnauthorized, "The e-mail or password is wrong.")
		}
		p := b.TryLogin("victim@example.com", "user-password-123")
		p.Must(t, http.StatusTooManyRequests, "Too many failed sign-ins")
		if p.Header.Get("Retry-After") == "" {
			t.Error("no Retry-After on 429")
		}
	})
	t.Run("another account over a session without access", func(t *testing.T) {
		env.user(env.rootID, "cust@example.com", "customer")
		b := env.browser()
		b.Login("cust@example.com", "user-password-123")
		b.Get("/admin").Must(t, http.StatusForbidden)
		b.Get("/admin/login").Must(t, http.StatusOK, "Sign in")
		p := b.Post("/admin/login", url.Values{"email": {kerneltest.AdminEmail}, "password": {kerneltest.AdminPassword}, "next": {"/admin"}})
		if p.Status != http.StatusSeeOther {
			t.Fatalf("signing in over a customer's session: %d %s", p.Status, p.Body)
		}
		b.Get("/admin").Must(t, http.StatusOK, "Dashboard")
	})
	t.Run("sign out", func(t *testing.T) {
		b := env.adminBrowser()
		p := b.Post("/admin/logout", nil)
		if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/admin/login" {
			t.Fatalf("logout: %d %q", p.Status, p.Header.Get("Location"))
		}
		if p := b.Get("/admin"); p.Status != http.StatusSeeOther {
			t.Fatalf("after logout: %d, want a redirect to sign-in", p.Status)
		}
	})
}

func TestCSRFAndHeaders(t *testing.T) {
	env := newEnv(t)
	b := env.adminBrowser()
	cases := []struct {
		name   string
		form   url.Values
		status int
	}{
		{"no token", url.Values{"name": {"Acme"}, "slug": {"acme"}}, http.StatusForbidden},
		{"wrong token", url.Values{"name": {"Acme"}, "slug": {"acme"}, "_csrf": {"nope"}}, http.StatusForbidden},
		{"right token", url.Values{"name": {"Acme"}, "slug": {"acme"}, "_csrf": {b.CSRF()}}, http.StatusSeeOther},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := b.Do(http.MethodPost, "/admin/tenants", c.form)
			if p.Status != c.status {
				t.Fatalf("status %d, want %d: %s", p.Status, c.status, p.Body)
			}
			if p.Header.Get("Content-Security-Policy") != admin.CSP {
				t.Errorf("CSP header %q", p.Header.Get("Content-Security-Policy"))
			}
			if c.status == http.StatusForbidden && !strings.Contains(p.Body, "<html") {
				t.Errorf("CSRF failure is not a page: %s", p.Body)
			}
		})
	}
	for _, path := range []string{"/admin", "/admin/login", "/admin/nope", "/admin/static/admin.css", "/admin/users?format=csv"} {
		p := b.Get(path)
		if p.Header.Get("Content-Security-Policy") != admin.CSP {
			t.Errorf("%s: CSP header %q", path, p.Header.Get("Content-Security-Policy"))
		}
	}
	css := b.Get("/admin/static/admin.css")
	if css.Status != 200 || !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") || css.Header.Get("ETag") == "" {
		t.Fatalf("static: %d %v", css.Status, css.Header)
	}
	if p := b.Do(http.MethodGet, "/admin/static/admin.css", nil, "If-None-Match", css.Header.Get("ETag")); p.Status != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", p.Status)
	}
	if p := b.Get("/admin/static/vendor/htmx/LICENSE"); p.Status != 200 {
		t.Errorf("the vendored licence is not served: %d", p.Status)
	}
	if p := b.Get("/admin/nope"); p.Status != http.StatusNotFound || !strings.Contains(p.Body, "This page does not exist") {
		t.Errorf("404 page: %d %s", p.Status, p.Body)
	}
	// No inline scripts anywhere: the CSP would block them.
	p := b.Get("/admin")
	if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).MatchString(p.Body) || strings.Contains(p.Body, " onclick=") {
		t.Error("inline script in the page")
	}
}

func TestTenantsUsersKeys(t *testing.T) {
	env := newEnv(t)
	b := env.adminBrowser()
	b.Get("/admin/tenants/new").Must(t, 200, "New tenant")
	p := b.Post("/admin/tenants", url.Values{"name": {"<script>alert(1)</script> Ltd"}, "slug": {"evil"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("create tenant: %d %s", p.Status, p.Body)
	}
	tenantPath := p.Header.Get("Location")
	list := b.Get("/admin/tenants")
	list.Must(t, 200, "&lt;script&gt;alert(1)&lt;/script&gt; Ltd", "Tenant &lt;script&gt;")
	if strings.Contains(list.Body, "<script>alert(1)") {
		t.Fatal("the tenant name is not escaped")
	}
	// A duplicate slug comes back on the form with the message.
	b.Get("/admin/tenants/new")
	b.Post("/admin/tenants", url.Values{"name": {"Again"}, "slug": {"evil"}}).Must(t, http.StatusConflict, "Another tenant has this slug.")
	// A member tenant appears under its parent.
	tenantID := strings.TrimPrefix(tenantPath, "/admin/tenants/")
	b.Get("/admin/tenants/new")
	b.Post("/admin/tenants", url.Values{"name": {"Branch"}, "slug": {"branch"}, "parent_id": {tenantID}})
	b.Get(tenantPath).Must(t, 200, "Branch")
	b.Get("/admin/tenants/tree").Must(t, 200, "Branch", "Platform")

	b.Get("/admin/users/new")
	p = b.Post("/admin/users", url.Values{"email": {"new.user@example.com"}, "name": {"New User"}, "role": {"agent"},
		"tenant_id": {tenantID}, "password": {"short"}})
	p.Must(t, http.StatusUnprocessableEntity, "Password must be at least")
	p = b.Post("/admin/users", url.Values{"email": {"new.user@example.com"}, "name": {"New User"}, "role": {"agent"},
		"tenant_id": {tenantID}, "password": {"long-enough-password"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("create user: %d %s", p.Status, p.Body)
	}
	userPath := p.Header.Get("Location")
	b.Get("/admin/users?q=new.user").Must(t, 200, "new.user@example.com", "Showing 1–1 of 1")
	b.Get(userPath)
	b.Post(userPath, url.Values{"email": {"new.user@example.com"}, "name": {"Renamed"}, "role": {"owner"}, "status": {"suspended"},
		"version": {"1"}}).Must(t, http.StatusSeeOther)
	b.Get("/admin/users?status=suspended").Must(t, 200, "Renamed", "Owner")
	// A stale form is refused.
	b.Post(userPath, url.Values{"email": {"new.user@example.com"}, "name": {"Stale"}, "role": {"owner"}, "status": {"active"},
		"version": {"1"}}).Must(t, http.StatusConflict, "was changed since you read it")

	// An API key is shown once, then never again.
	b.Get("/admin/api-keys/new").Must(t, 200, "tenants:read")
	p = b.Post("/admin/api-keys", url.Values{"name": {"Sync"}, "scopes": {"tenants:read", "users:read"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("create key: %d %s", p.Status, p.Body)
	}
	created := p.Header.Get("Location")
	shown := b.Get(created)
	m := regexp.MustCompile(`value="(pk_[A-Za-z0-9_-]+)"`).FindStringSubmatch(shown.Body)
	if m == nil {
		t.Fatalf("the key is not on the page:\n%s", shown.Body)
	}
	if res := env.api.Do(http.MethodGet, "/api/v1/tenants", m[1], nil); res.Status != http.StatusOK {
		t.Fatalf("the new key does not work: %d", res.Status)
	}
	again := b.Get(created)
	again.Must(t, 200, "shown once and cannot be shown again")
	if strings.Contains(again.Body, m[1]) {
		t.Fatal("the key is shown twice")
	}
	keys := b.Get("/admin/api-keys")
	keys.Must(t, 200, "Sync", m[1][:12])
	revoke := regexp.MustCompile(`action="(/admin/api-keys/[^"]+/revoke)"`).FindStringSubmatch(keys.Body)
	if revoke == nil {
		t.Fatal("no revoke button")
	}
	b.Post(revoke[1], nil).Must(t, http.StatusSeeOther)
	if res := env.api.Do(http.MethodGet, "/api/v1/tenants", m[1], nil); res.Status != http.StatusUnauthorized {
		t.Fatalf("a revoked key still works: %d", res.Status)
	}

	// Everything above is in the audit log, filterable.
	audit := b.Get("/admin/audit?action=api_key.")
	audit.Must(t, 200, "api_key.created", "api_key.revoked")
	if strings.Contains(audit.Body, "tenant.created") {
		t.Error("the action filter did not filter")
	}
	b.Get("/admin/audit?target_type=user").Must(t, 200, "user.role_changed")

	// Deleting: a tenant with members cannot go; the member can.
	b.Get(tenantPath)
	b.Post(tenantPath+"/delete", nil).Must(t, http.StatusConflict, "Delete or move the tenant")
}

func TestTableAndCSV(t *testing.T) {
	env := newEnv(t)
	for _, n := range []string{"=HYPERLINK(\"x\")", "+plus", "-minus", "@at", "plain"} {
		slug := strings.Trim(strings.ToLower(regexp.MustCompile(`[^a-zA-Z]+`).ReplaceAllString(n, "-")), "-")
		env.tenant(n, slug, "")
	}
	for i := 0; i < 25; i++ {
		env.user(env.rootID, "bulk"+string(rune('a'+i))+"@example.com", "agent")
	}
	b := env.adminBrowser()
	cases := []struct {
		name, path string
		want       []string
	}{
		{"first page", "/admin/users?per_page=10", []string{"Showing 1–10 of 26", `rel="next"`}},
		{"second page", "/admin/users?per_page=10&page=2", []string{"Showing 11–20 of 26", `rel="prev"`}},
		{"sorted descending", "/admin/users?sort=-email&per_page=1", []string{"bulky@example.com"}},
		{"filter", "/admin/users?role=platform_admin", []string{"Showing 1–1 of 1", kerneltest.AdminEmail}},
		{"search", "/admin/users?q=bulkc", []string{"bulkc@example.com", "Showing 1–1 of 1"}},
		{"bad parameters fall back", "/admin/users?sort=password_hash&page=x&per_page=-1", []string{"Showing 1–20 of 26"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { b.Get(c.path).Must(t, 200, c.want...) })
	}
	t.Run("csv", func(t *testing.T) {
		p := b.Get("/admin/tenants?format=csv&sort=name")
		if p.Status != 200 || !strings.HasPrefix(p.Header.Get("Content-Type"), "text/csv") ||
			!strings.Contains(p.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("csv: %d %v", p.Status, p.Header)
		}
		recs, err := csv.NewReader(strings.NewReader(p.Body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, r := range recs[1:] {
			names[r[0]] = true
		}
		for _, want := range []string{"'=HYPERLINK(\"x\")", "'+plus", "'-minus", "'@at", "plain", "Platform"} {
			if !names[want] {
				t.Errorf("csv lacks %q: %v", want, names)
			}
		}
		if recs[0][0] != "Name" || len(recs) != 7 {
			t.Errorf("csv rows: %v", recs)
		}
		// The export follows the filters.
		p = b.Get("/admin/users?format=csv&q=bulka")
		if n := strings.Count(strings.TrimSpace(p.Body), "\n"); n != 1 {
			t.Errorf("filtered export has %d rows:\n%s", n, p.Body)
		}
	})
}

func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{"": "", "=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)",
		"\tx": "'\tx", "plain": "plain", "a=b": "a=b"} {
		if got := admin.CSVSafe(in); got != want {
			t.Errorf("CSVSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSwitchTenant(t *testing.T) {
	env := newEnv(t)
	franchise := env.tenant("Franchise", "franchise", "")
	member := env.tenant("Member Shop", "member-shop", franchise)
	outside := env.tenant("Outside", "outside", "")
	env.user(franchise, "owner@example.com", "owner")
	env.user(member, "member.agent@example.com", "agent")
	env.user(outside, "outside.agent@example.com", "agent")

	b := env.browser()
	b.Login("owner@example.com", "user-password-123")
	home := b.Get("/admin/users")
	home.Must(t, 200, `id="tenant-switch"`, "Member Shop", "owner@example.com")
	if strings.Contains(home.Body, "Outside") || strings.Contains(home.Body, "outside.agent") {
		t.Fatal("a franchise owner sees a tenant outside its franchise")
	}
	if strings.Contains(home.Body, "member.agent@example.com") {
		t.Fatal("the member tenant's users are listed before switching to it")
	}
	p := b.Post("/admin/switch-tenant", url.Values{"tenant_id": {member}, "back": {"/admin/users"}})
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/admin/users" {
		t.Fatalf("switch: %d %q", p.Status, p.Header.Get("Location"))
	}
	in := b.Get("/admin/users")
	in.Must(t, 200, "You are now working in Member Shop.", "member.agent@example.com")
	if strings.Contains(in.Body, "owner@example.com</a>") {
		t.Error("after switching, the home tenant's users are listed")
	}
	b.Post("/admin/switch-tenant", url.Values{"tenant_id": {outside}}).Must(t, http.StatusSeeOther)
	b.Get("/admin").Must(t, 200, "That tenant does not exist or is not yours.")
	// Back home.
	b.Post("/admin/switch-tenant", url.Values{"tenant_id": {franchise}}).Must(t, http.StatusSeeOther)
	b.Get("/admin/users").Must(t, 200, "owner@example.com")

	// An agent has no switcher and cannot switch.
	a := env.browser()
	a.Login("member.agent@example.com", "user-password-123")
	if strings.Contains(a.Get("/admin").Body, `id="tenant-switch"`) {
		t.Error("an agent has a tenant switcher")
	}
	a.Post("/admin/switch-tenant", url.Values{"tenant_id": {franchise}}).Must(t, http.StatusSeeOther)
	a.Get("/admin").Must(t, 200, "That tenant does not exist or is not yours.")

	adm := env.adminBrowser()
	adm.Get("/admin/audit?action=auth.tenant_switched").Must(t, 200, "auth.tenant_switched")
}

func TestChangePassword(t *testing.T) {
	env := newEnv(t)
	env.user(env.rootID, "me@example.com", "agent")
	other := env.browser()
	other.Login("me@example.com", "user-password-123")
	b := env.browser()
	b.Login("me@example.com", "user-password-123")
	b.Get("/admin/account/password").Must(t, 200, "Current password")
	cases := []struct {
		name            string
		cur, next, conf string
		status          int
		want            string
	}{
		{"wrong current", "nope-nope-nope", "another-password-1", "another-password-1", 422, "Current password is wrong"},
		{"mismatch", "user-password-123", "another-password-1", "another-password-2", 422, "does not match"},
		{"too short", "user-password-123", "short", "short", 422, "at least"},
		{"ok", "user-password-123", "another-password-1", "another-password-1", 303, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := b.Post("/admin/account/password", url.Values{"current_password": {c.cur}, "new_password": {c.next}, "confirm_password": {c.conf}})
			p.Must(t, c.status, c.want)
		})
	}
	b.Get("/admin").Must(t, 200, "Your password is changed.")
	if p := other.Get("/admin"); p.Status != http.StatusSeeOther {
		t.Errorf("the other session survived the password change: %d", p.Status)
	}
	env.browser().TryLogin("me@example.com", "user-password-123").Must(t, http.StatusUnauthorized)
	env.browser().Login("me@example.com", "another-password-1")
	env.adminBrowser().Get("/admin/audit?action=user.password_changed").Must(t, 200, "user.password_changed")
}

// TestOwnPasswordNotOnUserForm: the user form ignores a new password for
// oneself, which must go through the account page and its current-password
// check.
func TestOwnPasswordNotOnUserForm(t *testing.T) {
	env := newEnv(t)
	var me struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
	}
	env.api.Do(http.MethodGet, "/api/v1/auth/me", env.token, nil).Decode(t, &me)
	b := env.adminBrowser()
	b.Get("/admin/users/"+me.ID).Must(t, 200, `href="/admin/account/password"`)
	b.Post("/admin/users/"+me.ID, url.Values{"email": {kerneltest.AdminEmail}, "name": {"Admin"}, "password": {"taken-over-password"},
		"version": {strconv.Itoa(me.Version)}}).Must(t, http.StatusSeeOther)
	env.browser().Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
	env.browser().TryLogin(kerneltest.AdminEmail, "taken-over-password").Must(t, http.StatusUnauthorized)
}

func TestPasswordReset(t *testing.T) {
	env := newEnv(t)
	env.user(env.rootID, "forgot@example.com", "agent")
	b := env.browser()
	b.Get("/admin/password-reset").Must(t, 200, "Send the link")
	b.Post("/admin/password-reset", url.Values{"email": {"nobody@example.com"}}).Must(t, 200, "If an account has this address")
	b.Get("/admin/password-reset")
	b.Post("/admin/password-reset", url.Values{"email": {"forgot@example.com"}}).Must(t, 200, "If an account has this address")
	link := env.mail.link("forgot@example.com")
	if !strings.HasPrefix(link, "https://backoffice.example/admin/password-reset/") || env.mail.link("nobody@example.com") != "" {
		t.Fatalf("mail: %v", env.mail.links)
	}
	path := strings.TrimPrefix(link, "https://backoffice.example")
	b.Get(path).Must(t, 200, "Choose a new password")
	b.Post(path, url.Values{"new_password": {"brand-new-password"}, "confirm_password": {"brand-new-password"}}).Must(t, http.StatusSeeOther)
	env.browser().Login("forgot@example.com", "brand-new-password")
	// The link works once.
	b.Get(path).Must(t, 200, "invalid, used or expired")
	b.Get("/admin/password-reset") // a fresh form token
	b.Post(path, url.Values{"new_password": {"third-password-123"}, "confirm_password": {"third-password-123"}}).
		Must(t, http.StatusUnprocessableEntity, "invalid, used or expired")
	b.Get("/admin/password-reset/garbage.token").Must(t, 200, "invalid, used or expired")
}

func TestSettings(t *testing.T) {
	env := newEnv(t)
	shop := env.tenant("Shop", "shop", "")
	env.user(shop, "owner@example.com", "owner")
	b := env.browser()
	b.Login("owner@example.com", "user-password-123")
	b.Get("/admin/settings").Must(t, 200, "Shop")
	cases := []struct {
		name   string
		form   url.Values
		status int
		want   string
	}{
		{"bad colour", url.Values{"primary_color": {"red"}, "secondary_color": {"#000000"}, "time_zone": {"UTC"}, "locale": {"en"}}, 422, "must be a colour"},
		{"http logo", url.Values{"logo_url": {"http://x.example/l.png"}, "primary_color": {"#000000"}, "secondary_color": {"#000000"}, "time_zone": {"UTC"}, "locale": {"en"}}, 422, "https://"},
		{"bad zone", url.Values{"primary_color": {"#000000"}, "secondary_color": {"#000000"}, "time_zone": {"Mars/Olympus"}, "locale": {"en"}}, 422, "time zone"},
		{"ok", url.Values{"brand_name": {"Shop & Co"}, "logo_url": {"https://cdn.example/logo.png"}, "primary_color": {"#112233"},
			"secondary_color": {"#445566"}, "time_zone": {"Europe/Berlin"}, "locale": {"de"}}, 303, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { b.Post("/admin/settings", c.form).Must(t, c.status, c.want) })
	}
	b.Get("/admin/settings").Must(t, 200, `value="Shop &amp; Co"`, `value="#112233"`, `value="Europe/Berlin"`, `value="de" selected`)
	res := env.api.Do(http.MethodGet, "/api/v1/tenants/"+shop, env.token, nil)
	var tv struct {
		Settings map[string]any `json:"settings"`
	}
	res.Decode(t, &tv)
	if tv.Settings["primary_color"] != "#112233" || tv.Settings["locale"] != "de" {
		t.Fatalf("settings not stored: %v", tv.Settings)
	}
}

func TestDashboardAndSystem(t *testing.T) {
	env := newEnv(t, &pagesModule{})
	b := env.adminBrowser()
	b.Get("/admin").Must(t, 200, "Tenants", "Audit events today", "Audit events per day", "<svg", "Open tickets", "42",
		`href="/admin/pages/list"`, "Job queues")
	b.Get("/admin/system").Must(t, 200, "Readiness checks", "database", "Migrations", "up to date", "pages")
}

// TestModulePages: a module's admin page gets the guard, its permission
// and the layout's navigation entry.
func TestModulePages(t *testing.T) {
	env := newEnv(t, &pagesModule{})
	env.user(env.rootID, "agent@example.com", "agent")
	env.user(env.rootID, "customer@example.com", "customer")
	anon := env.browser()
	if p := anon.Get("/admin/pages/list"); p.Status != http.StatusSeeOther {
		t.Fatalf("anonymous: %d", p.Status)
	}
	cust := env.browser()
	cust.Login("customer@example.com", "user-password-123")
	cust.Get("/admin/pages/list").Must(t, http.StatusForbidden, "no access to the backoffice")
	// The refusal page lets the customer sign out.
	if p := cust.Post("/admin/logout", nil); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/admin/login" {
		t.Fatalf("customer sign-out: %d %q", p.Status, p.Header.Get("Location"))
	}
	if p := cust.Get("/admin/pages/list"); p.Status != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d, want a redirect to sign-in", p.Status)
	}
	agent := env.browser()
	agent.Login("agent@example.com", "user-password-123")
	agent.Get("/admin/pages/list").Must(t, http.StatusForbidden)
	if strings.Contains(agent.Get("/admin").Body, `href="/admin/pages/list"`) {
		t.Error("the agent's navigation shows a page it cannot open")
	}
	adm := env.adminBrowser()
	adm.Get("/admin/pages/list").Must(t, 200, "<h1>module page</h1>", `aria-current="page">Pages</a>`, "Showing 1–10 of 10",
		"&lt;b&gt;kiwi&lt;/b&gt;", `class="sidebar"`, "<title>Fruit · Platform backoffice</title>")
	adm.Get("/admin/pages/list?q=an&per_page=1&page=2").Must(t, 200, "Showing 2–2 of 2", "mango")
	p := adm.Get("/admin/pages/list?format=csv")
	if !strings.HasPrefix(p.Header.Get("Content-Type"), "text/csv") || !strings.Contains(p.Body, "Fruit\napple\n") {
		t.Fatalf("module csv: %v %q", p.Header, p.Body)
	}
}

// pagesModule is a module with one admin page, a menu entry and a
// dashboard card.
type pagesModule struct{}

func (*pagesModule) Name() string { return "pages" }

// pagesTemplates is the module's one page: a heading and the shared table.
var pagesTemplates = template.Must(template.New("").Funcs(admin.Funcs).Parse(
	`{{define "content"}}<h1>module page</h1>{{template "table" .}}{{end}}`))

// pagesList is a list of ten fruit, through the shared table component.
var pagesList = &admin.List{
	ID:          "fruit",
	Columns:     []admin.Column{{Key: "name", Label: "Fruit", Sort: "name"}},
	Sorts:       map[string]string{"name": "name"},
	DefaultSort: "name",
	Search:      "Search fruit",
	CSVName:     "fruit",
	Fetch: func(_ context.Context, q admin.Query) ([]admin.Row, int64, error) {
		all := []string{"apple", "banana", "cherry", "date", "elder", "fig", "grape", "<b>kiwi</b>", "lemon", "mango"}
		var match []string
		for _, f := range all {
			if strings.Contains(f, q.Q) {
				match = append(match, f)
			}
		}
		if q.Desc {
			slices.Reverse(match)
		}
		var rows []admin.Row
		for i := q.Offset; i < len(match) && i < q.Offset+q.Limit; i++ {
			rows = append(rows, admin.Row{Cells: []admin.Cell{{Text: match[i]}}})
		}
		return rows, int64(len(match)), nil
	},
}

func (*pagesModule) Routes(r kernel.Routes) {
	admin.Handle(r.Admin, http.MethodGet, "/list", "pages:read", func(c echo.Context) error {
		t, done, err := pagesList.Run(c)
		if err != nil || done {
			return err
		}
		return admin.Render(c, http.StatusOK, pagesTemplates, "Fruit", []admin.Crumb{{Label: "Dashboard", Href: "/admin"}},
			map[string]any{"Table": t})
	})
}

func (*pagesModule) AdminMenu() []kernel.AdminLink {
	return []kernel.AdminLink{{Label: "Pages", Path: "/admin/pages/list", Permission: "pages:read"}}
}

func (*pagesModule) Permissions() map[security.Role][]security.Permission {
	return map[security.Role][]security.Permission{security.RoleOwner: {"pages:read"}}
}

func (*pagesModule) DashboardCards(context.Context) []admin.Card {
	return []admin.Card{{Label: "Open tickets", Value: "42"}}
}

// rawModule adds an admin route without declaring its permission.
type rawModule struct{}

func (*rawModule) Name() string { return "raw" }

func (*rawModule) Routes(r kernel.Routes) {
	r.Admin.GET("/secret", func(c echo.Context) error { return c.String(http.StatusOK, "secret") })
}
