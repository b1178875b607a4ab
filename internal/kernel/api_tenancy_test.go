package kernel_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/google/uuid"
)

// TestAPICrossTenantIsNotFound uses another tenant's ids on every
// tenant-scoped route: the answer is 404, never 403, and nothing changes.
func TestAPICrossTenantIsNotFound(t *testing.T) {
	w := newWorld(t)
	// An API key records its first use; do that now so that the snapshots
	// below see only what the requests under test write.
	w.must(t, http.StatusOK, "GET", "/api/v1/users", "keyB", nil)
	asA := []string{"X-Tenant-ID", w.tenants["A"]}

	type tc struct {
		name, who, method, path string
		body                    any
		headers                 []string
	}
	var cases []tc
	// foreign lists the routes a caller at home in tenant home must not reach
	// with the ids of tenant other's user, key and tenant.
	foreign := func(label, who string, headers []string, user, key, tenant string) {
		cases = append(cases,
			tc{label + " GET user", who, "GET", "/api/v1/users/" + user, nil, headers},
			tc{label + " PATCH user name", who, "PATCH", "/api/v1/users/" + user, map[string]any{"name": "pwned"}, headers},
			tc{label + " PATCH user role", who, "PATCH", "/api/v1/users/" + user, map[string]any{"role": "customer"}, headers},
			tc{label + " PATCH user with If-Match", who, "PATCH", "/api/v1/users/" + user, map[string]any{"status": "suspended"}, append([]string{"If-Match", `"1"`}, headers...)},
			tc{label + " DELETE user", who, "DELETE", "/api/v1/users/" + user, nil, headers},
			tc{label + " DELETE api key", who, "DELETE", "/api/v1/api-keys/" + key, nil, headers},
			tc{label + " GET tenant", who, "GET", "/api/v1/tenants/" + tenant, nil, headers},
			tc{label + " GET tenant users", who, "GET", "/api/v1/tenants/" + tenant + "/users", nil, headers},
			tc{label + " POST tenant users", who, "POST", "/api/v1/tenants/" + tenant + "/users",
				map[string]any{"email": "intruder@example.com", "password": testPassword, "role": "agent"}, headers},
			tc{label + " GET users of tenant", who, "GET", "/api/v1/users?tenant_id=" + tenant, nil, headers},
			tc{label + " GET audit of tenant", who, "GET", "/api/v1/audit-events?tenant_id=" + tenant, nil, headers},
		)
	}
	foreign("owner A on B:", "ownerA", nil, w.users["agentB"], w.keys["keyB"].ID, w.tenants["B"])
	foreign("owner A on B's owner:", "ownerA", nil, w.users["ownerB"], w.keys["keyB"].ID, w.tenants["root"])
	foreign("owner B on A:", "ownerB", nil, w.users["agentA"], w.keys["keyA"].ID, w.tenants["A"])
	foreign("owner A on the platform:", "ownerA", nil, w.users["admin"], w.keys["keyB"].ID, w.tenants["root"])
	// A member tenant cannot see its franchise.
	foreign("owner A1 on parent A:", "ownerA1", nil, w.users["agentA"], w.keys["keyA"].ID, w.tenants["A"])
	// An API key is bound to its tenant.
	foreign("key B on A:", "keyB", nil, w.users["agentA"], w.keys["keyA"].ID, w.tenants["A"])
	// A platform admin acting as tenant A is held to tenant A.
	foreign("admin as A on B:", "admin", asA, w.users["agentB"], w.keys["keyB"].ID, w.tenants["B"])
	// Tenant writes are the platform admin's: acting as A, B's tenant is out of reach.
	cases = append(cases,
		tc{"admin as A: PATCH tenant B", "admin", "PATCH", "/api/v1/tenants/" + w.tenants["B"], map[string]any{"name": "pwned"}, asA},
		tc{"admin as A: DELETE tenant B", "admin", "DELETE", "/api/v1/tenants/" + w.tenants["B"], nil, asA},
		tc{"admin as A: new tenant under B", "admin", "POST", "/api/v1/tenants", map[string]any{"name": "x", "slug": "under-b", "parent_id": w.tenants["B"]}, asA},
		tc{"unknown user id", "ownerA", "GET", "/api/v1/users/" + uuid.NewString(), nil, nil},
		tc{"unknown tenant id", "ownerA", "GET", "/api/v1/tenants/" + uuid.NewString(), nil, nil},
		tc{"malformed user id", "ownerA", "PATCH", "/api/v1/users/not-an-id", map[string]any{"name": "x"}, nil},
		tc{"malformed key id", "ownerA", "DELETE", "/api/v1/api-keys/1%20OR%201=1", nil, nil},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := w.snapshot(t)
			res := w.do(t, c.method, c.path, c.who, c.body, c.headers...)
			if c.name == "admin as A: new tenant under B" {
				// A parent out of reach is an invalid field, not a found tenant.
				wantError(t, res, http.StatusUnprocessableEntity, "validation_failed")
			} else {
				wantError(t, res, http.StatusNotFound, "")
			}
			w.unchanged(t, before)
		})
	}

	// Lists hold only the caller's own rows.
	lists := []struct {
		name, who, path string
		headers         []string
		want            []string
	}{
		{"owner A's users", "ownerA", "/api/v1/users?per_page=100", nil,
			[]string{w.users["ownerA"], w.users["partnerA"], w.users["agentA"], w.users["customerA"]}},
		{"agent B's users", "agentB", "/api/v1/users?per_page=100", nil, []string{w.users["ownerB"], w.users["agentB"]}},
		{"key B's users", "keyB", "/api/v1/users?per_page=100", nil, []string{w.users["ownerB"], w.users["agentB"]}},
		{"owner A's keys", "ownerA", "/api/v1/api-keys", nil, []string{w.keys["keyA"].ID}},
		{"owner B's keys", "ownerB", "/api/v1/api-keys", nil, []string{w.keys["keyB"].ID}},
		{"owner A's tenants", "ownerA", "/api/v1/tenants", nil, []string{w.tenants["A"], w.tenants["A1"]}},
		{"owner A1's tenants", "ownerA1", "/api/v1/tenants", nil, []string{w.tenants["A1"]}},
		{"partner A's tenants", "partnerA", "/api/v1/tenants", nil, []string{w.tenants["A"], w.tenants["A1"]}},
		{"owner B's tenants", "ownerB", "/api/v1/tenants", nil, []string{w.tenants["B"]}},
		{"franchise owner lists a member's users", "ownerA", "/api/v1/tenants/" + w.tenants["A1"] + "/users", nil,
			[]string{w.users["ownerA1"], w.users["agentA1"]}},
	}
	for _, l := range lists {
		t.Run("list "+l.name, func(t *testing.T) {
			got := ids(t, w.must(t, http.StatusOK, "GET", l.path, l.who, nil, l.headers...))
			if !sameSet(got, l.want) {
				t.Fatalf("got %v, want %v", got, l.want)
			}
		})
	}
}

// TestAPITenantSwitch covers X-Tenant-ID: a platform admin may act as any
// tenant, a franchise owner as its member tenants, and nobody else as any.
func TestAPITenantSwitch(t *testing.T) {
	w := newWorld(t)
	gone := w.createTenant(t, "admin", "Gone", "gone", "")
	w.must(t, http.StatusNoContent, "DELETE", "/api/v1/tenants/"+gone, "admin", nil)

	allowed := []struct {
		name, who, tenant string
		users             []string
	}{
		{"admin to B", "admin", "B", []string{"ownerB", "agentB"}},
		{"admin to A1", "admin", "A1", []string{"ownerA1", "agentA1"}},
		{"franchise owner to its member", "ownerA", "A1", []string{"ownerA1", "agentA1"}},
		{"franchise partner to its member", "partnerA", "A1", []string{"ownerA1", "agentA1"}},
		{"owner to its own tenant", "ownerA", "A", []string{"ownerA", "partnerA", "agentA", "customerA"}},
	}
	for _, c := range allowed {
		t.Run(c.name, func(t *testing.T) {
			h := []string{"X-Tenant-ID", w.tenants[c.tenant]}
			me := w.must(t, http.StatusOK, "GET", "/api/v1/auth/me", c.who, nil, h...)
			if c.who != "ownerA" || c.tenant != "A" {
				if me["acting_tenant_id"] != w.tenants[c.tenant] {
					t.Fatalf("acting_tenant_id = %v, want %s", me["acting_tenant_id"], w.tenants[c.tenant])
				}
			}
			got := ids(t, w.must(t, http.StatusOK, "GET", "/api/v1/users?per_page=100", c.who, nil, h...))
			var want []string
			for _, u := range c.users {
				want = append(want, w.users[u])
			}
			if !sameSet(got, want) {
				t.Fatalf("users while acting as %s: got %v, want %v", c.tenant, got, want)
			}
		})
	}

	t.Run("a key made while switched belongs to the member tenant", func(t *testing.T) {
		h := []string{"X-Tenant-ID", w.tenants["A1"]}
		m := w.must(t, http.StatusCreated, "POST", "/api/v1/api-keys", "ownerA", map[string]any{"name": "for A1", "scopes": []string{"users:read"}}, h...)
		if m["tenant_id"] != w.tenants["A1"] {
			t.Fatalf("key tenant = %v, want A1 %s", m["tenant_id"], w.tenants["A1"])
		}
		if !slices.Contains(ids(t, w.must(t, http.StatusOK, "GET", "/api/v1/api-keys", "ownerA1", nil)), m["id"].(string)) {
			t.Fatal("owner A1 does not see the key made for A1")
		}
		if slices.Contains(ids(t, w.must(t, http.StatusOK, "GET", "/api/v1/api-keys", "ownerA", nil)), m["id"].(string)) {
			t.Fatal("owner A sees A1's key without switching")
		}
	})

	refused := []struct{ name, who, tenant string }{
		{"owner to an unrelated tenant", "ownerA", w.tenants["B"]},
		{"owner to the platform tenant", "ownerA", w.tenants["root"]},
		{"member owner to its franchise", "ownerA1", w.tenants["A"]},
		{"member owner to a sibling", "ownerA1", w.tenants["B"]},
		{"agent to a member tenant", "agentA", w.tenants["A1"]},
		{"customer to a member tenant", "customerA", w.tenants["A1"]},
		{"api key to a member tenant", "keyA", w.tenants["A1"]},
		{"admin to a deleted tenant", "admin", gone},
		{"admin to an unknown tenant", "admin", uuid.NewString()},
		{"admin to garbage", "admin", "' OR 1=1 --"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			before := w.snapshot(t)
			for _, r := range []struct{ method, path string }{{"GET", "/api/v1/auth/me"}, {"GET", "/api/v1/users"}, {"DELETE", "/api/v1/users/" + w.users["agentA"]}} {
				wantError(t, w.do(t, r.method, r.path, c.who, nil, "X-Tenant-ID", c.tenant), http.StatusNotFound, "tenants.not_found")
			}
			w.unchanged(t, before)
		})
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
