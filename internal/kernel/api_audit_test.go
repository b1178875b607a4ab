package kernel_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"
)

// TestAPIAudit makes every kind of security change and finds each in
// GET /api/v1/audit-events, with the filters working and each tenant seeing
// only its own events.
func TestAPIAudit(t *testing.T) {
	w := newWorld(t)
	a := w.tenants["A"]

	// Sign-ins, good and bad.
	w.client(t).Login(emailOf("agentA"), testPassword)
	wantError(t, w.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": emailOf("agentA"), "password": "wrong-password"}),
		http.StatusUnauthorized, "auth.invalid_credentials")
	wantError(t, w.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": "ghost@example.com", "password": "wrong-password"}),
		http.StatusUnauthorized, "auth.invalid_credentials")
	// A key, made and revoked.
	res := w.do(t, "POST", "/api/v1/api-keys", "ownerA", map[string]any{"name": "audited", "scopes": []string{"users:read"}})
	if res.Status != http.StatusCreated {
		t.Fatalf("create key: %d %s", res.Status, res.Body)
	}
	keyID, keyRequest := res.JSON()["id"].(string), res.Header.Get("X-Request-Id")
	w.must(t, http.StatusNoContent, "DELETE", "/api/v1/api-keys/"+keyID, "ownerA", nil)
	// A user, made, renamed, given another role and deleted.
	userID := w.createUser(t, "ownerA", a, "temp", "customer")
	w.must(t, http.StatusOK, "PATCH", "/api/v1/users/"+userID, "ownerA", map[string]any{"name": "Temp"})
	w.must(t, http.StatusOK, "PATCH", "/api/v1/users/"+userID, "ownerA", map[string]any{"role": "agent"})
	w.must(t, http.StatusNoContent, "DELETE", "/api/v1/users/"+userID, "ownerA", nil)
	// A tenant, made, changed and deleted.
	tenantID := w.createTenant(t, "admin", "Short lived", "short-lived", "")
	w.must(t, http.StatusOK, "PATCH", "/api/v1/tenants/"+tenantID, "admin", map[string]any{"name": "Shorter lived"})
	w.must(t, http.StatusNoContent, "DELETE", "/api/v1/tenants/"+tenantID, "admin", nil)

	list := func(t *testing.T, who string, q url.Values, headers ...string) []map[string]any {
		t.Helper()
		q.Set("per_page", "100")
		m := w.must(t, http.StatusOK, "GET", "/api/v1/audit-events?"+q.Encode(), who, nil, headers...)
		if total := m["total"].(float64); int(total) != len(items(t, m)) {
			t.Fatalf("total %v but %d items: raise per_page in the test", total, len(items(t, m)))
		}
		return items(t, m)
	}
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	type want struct {
		n                       int // exact count, or -1 for at least one
		action, actor, tenantID string
		data                    map[string]any
	}
	cases := []struct {
		name  string
		query url.Values
		want  want
	}{
		{"login", q("action", "auth.login", "actor_id", w.users["agentA"]), want{-1, "auth.login", w.users["agentA"], a, nil}},
		{"failed login of a user", q("action", "auth.login_failed", "target_id", w.users["agentA"]), want{1, "auth.login_failed", "", a, nil}},
		{"failed login of nobody", q("action", "auth.login_failed", "target_type", "user"), want{2, "auth.login_failed", "", "", nil}},
		{"key created", q("action", "api_key.created", "target_id", keyID), want{1, "api_key.created", w.users["ownerA"], a, map[string]any{"name": "audited"}}},
		{"key revoked", q("action", "api_key.revoked", "target_id", keyID), want{1, "api_key.revoked", w.users["ownerA"], a, nil}},
		{"user created", q("action", "user.created", "target_id", userID), want{1, "user.created", w.users["ownerA"], a, map[string]any{"role": "customer"}}},
		{"user updated", q("action", "user.updated", "target_id", userID), want{1, "user.updated", w.users["ownerA"], a, map[string]any{"name": "Temp"}}},
		{"user role changed", q("action", "user.role_changed", "target_id", userID), want{1, "user.role_changed", w.users["ownerA"], a,
			map[string]any{"role": "agent", "old_role": "customer"}}},
		{"user deleted", q("action", "user.deleted", "target_id", userID), want{1, "user.deleted", w.users["ownerA"], a, nil}},
		{"every user event by prefix", q("action", "user.", "target_id", userID), want{4, "", w.users["ownerA"], a, nil}},
		{"tenant created", q("action", "tenant.created", "target_id", tenantID), want{1, "tenant.created", w.users["admin"], tenantID, nil}},
		{"tenant updated", q("action", "tenant.updated", "target_id", tenantID), want{1, "tenant.updated", w.users["admin"], tenantID, map[string]any{"name": "Shorter lived"}}},
		{"tenant deleted", q("action", "tenant.deleted", "target_id", tenantID), want{1, "tenant.deleted", w.users["admin"], tenantID, nil}},
		{"a deleted tenant's trail, by tenant and type", q("tenant_id", tenantID, "target_type", "tenant"), want{3, "", w.users["admin"], tenantID, nil}},
		{"by actor", q("actor_id", w.users["ownerA"], "action", "api_key."), want{3, "", w.users["ownerA"], a, nil}}, // keyA, audited ×2
		{"nothing", q("action", "no.such.action"), want{0, "", "", "", nil}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs := list(t, "admin", c.query)
			if c.want.n >= 0 && len(evs) != c.want.n || c.want.n < 0 && len(evs) == 0 {
				t.Fatalf("%d events, want %d: %v", len(evs), c.want.n, evs)
			}
			for _, ev := range evs {
				if c.want.action != "" && ev["action"] != c.want.action {
					t.Fatalf("action = %v, want %s", ev["action"], c.want.action)
				}
				if c.want.actor != "" && ev["actor_id"] != c.want.actor {
					t.Fatalf("actor = %v, want %s", ev["actor_id"], c.want.actor)
				}
				for k, v := range c.query {
					if k != "action" && k != "per_page" && ev[k] != v[0] {
						t.Fatalf("filter %s=%s, but the event has %v", k, v[0], ev[k])
					}
				}
				if c.want.tenantID != "" && ev["tenant_id"] != c.want.tenantID {
					t.Fatalf("tenant = %v, want %s", ev["tenant_id"], c.want.tenantID)
				}
				if ev["ip"] == "" || ev["request_id"] == "" || ev["created_at"] == "" {
					t.Fatalf("event without its request: %v", ev)
				}
				for k, v := range c.want.data {
					if got := ev["data"].(map[string]any)[k]; got != v {
						t.Fatalf("data[%s] = %v, want %v", k, got, v)
					}
				}
			}
		})
	}

	t.Run("an unknown e-mail's failure belongs to no tenant", func(t *testing.T) {
		var found bool
		for _, ev := range list(t, "admin", q("action", "auth.login_failed")) {
			if ev["data"].(map[string]any)["email"] == "ghost@example.com" {
				found = ev["tenant_id"] == nil && ev["actor_type"] == "anonymous"
			}
		}
		if !found {
			t.Fatal("no anonymous, tenant-less event for the unknown e-mail")
		}
	})

	t.Run("the event carries the request id of the change", func(t *testing.T) {
		evs := list(t, "admin", q("target_id", keyID, "action", "api_key.created"))
		if evs[0]["request_id"] != keyRequest {
			t.Fatalf("request_id = %v, want %s", evs[0]["request_id"], keyRequest)
		}
	})

	t.Run("from and to", func(t *testing.T) {
		all := list(t, "admin", q("sort", "created_at"))
		for i := 1; i < len(all); i++ {
			if !inOrder(all[i-1], all[i]) {
				t.Fatalf("not sorted ascending at %d", i)
			}
		}
		desc := list(t, "admin", q())
		if desc[0]["id"] != all[len(all)-1]["id"] {
			t.Fatal("the default order is not newest first")
		}
		mid := all[len(all)/2]
		from := list(t, "admin", q("from", mid["created_at"].(string)))
		to := list(t, "admin", q("to", mid["created_at"].(string)))
		if len(from)+len(to) != len(all) {
			t.Fatalf("from (%d) and to (%d) do not split the %d events", len(from), len(to), len(all))
		}
		if !slices.ContainsFunc(from, func(e map[string]any) bool { return e["id"] == mid["id"] }) {
			t.Fatal("from is not inclusive")
		}
		if slices.ContainsFunc(to, func(e map[string]any) bool { return e["id"] == mid["id"] }) {
			t.Fatal("to is not exclusive")
		}
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		if n := len(list(t, "admin", q("from", future))); n != 0 {
			t.Fatalf("%d events from the future", n)
		}
	})

	t.Run("bad filters", func(t *testing.T) {
		for _, bad := range []string{"from=yesterday", "to=2026-13-01T00:00:00Z", "sort=action", "sort=-ip", "page=0", "per_page=-1"} {
			wantError(t, w.do(t, "GET", "/api/v1/audit-events?"+bad, "admin", nil), http.StatusUnprocessableEntity, "invalid_query")
		}
	})

	t.Run("each tenant sees only its own events", func(t *testing.T) {
		for _, c := range []struct {
			who, tenant string
			headers     []string
			mustSee     string // a target id the caller must see
		}{
			{"ownerA", a, nil, keyID},
			{"partnerA", a, nil, userID},
			{"ownerB", w.tenants["B"], nil, w.keys["keyB"].ID},
			{"ownerA1", w.tenants["A1"], nil, w.users["agentA1"]},
			{"ownerA", w.tenants["A1"], []string{"X-Tenant-ID", w.tenants["A1"]}, w.users["agentA1"]},
			{"admin", w.tenants["B"], []string{"X-Tenant-ID", w.tenants["B"]}, w.users["agentB"]},
		} {
			t.Run(c.who+" in "+c.tenant, func(t *testing.T) {
				evs := list(t, c.who, q(), c.headers...)
				seen := false
				for _, ev := range evs {
					if ev["tenant_id"] != c.tenant {
						t.Fatalf("%s sees an event of tenant %v: %v", c.who, ev["tenant_id"], ev)
					}
					seen = seen || ev["target_id"] == c.mustSee
				}
				if !seen {
					t.Fatalf("%s does not see its own event about %s", c.who, c.mustSee)
				}
				if n := len(list(t, c.who, q("target_id", tenantID), c.headers...)); n != 0 {
					t.Fatalf("%s sees %d events of another tenant", c.who, n)
				}
			})
		}
	})
}

// inOrder reports whether event a was not created after event b.
func inOrder(a, b map[string]any) bool {
	ta, _ := time.Parse(time.RFC3339Nano, a["created_at"].(string))
	tb, _ := time.Parse(time.RFC3339Nano, b["created_at"].(string))
	return !tb.Before(ta)
}
